package printers

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Print writes the table like kubectl: upper-case headers, columns padded
// with 3 spaces, wide (Priority > 0) columns only when wide, and a NAMESPACE
// first column when withNamespace. The namespace is read from each row's
// object metadata, which must then be present: a PartialObjectMetadata or a
// full object, decoded or as Raw JSON (how a client decodes rows); a row
// without one is an error. Like kubectl, a table without rows prints
// nothing unless noHeaders (then nothing either); the caller says "No
// resources found". A cell stops at its first line break, marked "...".
func Print(w io.Writer, t *metav1.Table, wide, withNamespace, noHeaders bool) error {
	if len(t.Rows) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 6, 4, 3, ' ', 0) // kubectl's tabwriter settings
	var shown []int
	for i, c := range t.ColumnDefinitions {
		if wide || c.Priority == 0 {
			shown = append(shown, i)
		}
	}
	if !noHeaders {
		var header []string
		if withNamespace {
			header = append(header, "NAMESPACE")
		}
		for _, i := range shown {
			header = append(header, strings.ToUpper(t.ColumnDefinitions[i].Name))
		}
		fmt.Fprintln(tw, strings.Join(header, "\t"))
	}
	for n, row := range t.Rows {
		var cells []string
		if withNamespace {
			ns, err := rowNamespace(row.Object)
			if err != nil {
				return fmt.Errorf("printers: row %d: %w", n, err)
			}
			cells = append(cells, ns)
		}
		for _, i := range shown {
			if i < len(row.Cells) {
				cells = append(cells, formatCell(row.Cells[i]))
			} else {
				cells = append(cells, "")
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// rowNamespace reads metadata.namespace from a row's object.
func rowNamespace(obj runtime.RawExtension) (string, error) {
	if obj.Object != nil {
		m, err := meta.Accessor(obj.Object)
		if err != nil {
			return "", fmt.Errorf("object metadata: %w", err)
		}
		return m.GetNamespace(), nil
	}
	if len(obj.Raw) == 0 {
		return "", fmt.Errorf("no object to read the namespace from (request the table with includeObject=Metadata)")
	}
	var m metav1.PartialObjectMetadata
	if err := json.Unmarshal(obj.Raw, &m); err != nil {
		return "", fmt.Errorf("decode object metadata: %w", err)
	}
	return m.Namespace, nil
}

// cellEscaper keeps cells from moving the terminal or the columns.
var cellEscaper = strings.NewReplacer("\x1b", "^[", "\t", " ")

// formatCell renders one cell as kubectl does. Numbers decoded from JSON
// as float64 print as integers when they are whole.
func formatCell(cell any) string {
	var s string
	switch v := cell.(type) {
	case nil:
		return ""
	case string:
		s = v
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			s = fmt.Sprintf("%d", int64(v))
		} else {
			s = fmt.Sprint(v)
		}
	default:
		s = fmt.Sprint(v)
	}
	if i := strings.IndexAny(s, "\f\n\r"); i >= 0 {
		s = s[:i] + "..."
	}
	return cellEscaper.Replace(s)
}
