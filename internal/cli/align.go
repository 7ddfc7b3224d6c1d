package cli

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// aligner keeps the rows that `get -w` prints for later events in the
// columns of the first table: each Print call aligns only its own rows, so
// the cells of later rows are padded to the widths seen so far. Not safe
// for concurrent use.
type aligner struct {
	widths  []int // by column definition
	nsWidth int   // of the NAMESPACE column
}

// observe widens the columns to fit t's header and rows.
func (a *aligner) observe(t *metav1.Table, withNamespace bool) {
	for i, c := range t.ColumnDefinitions {
		a.widen(i, strings.ToUpper(c.Name))
	}
	if withNamespace {
		a.nsWidth = max(a.nsWidth, len("NAMESPACE"))
	}
	for _, row := range t.Rows {
		for i, cell := range row.Cells {
			a.widen(i, cellText(cell))
		}
		if withNamespace {
			a.nsWidth = max(a.nsWidth, utf8.RuneCountInString(rowNamespace(row.Object)))
		}
	}
}

func (a *aligner) widen(i int, s string) {
	for len(a.widths) <= i {
		a.widths = append(a.widths, 0)
	}
	a.widths[i] = max(a.widths[i], utf8.RuneCountInString(s))
}

// pad pads t's cells (and namespaces) to the widths observed so far, then
// observes t. The last column shown is left alone: it needs no padding.
func (a *aligner) pad(t *metav1.Table, wide, withNamespace bool) {
	last := -1
	for i, c := range t.ColumnDefinitions {
		if wide || c.Priority == 0 {
			last = i
		}
	}
	for r := range t.Rows {
		row := &t.Rows[r]
		for i, cell := range row.Cells {
			if i < len(a.widths) && i != last {
				row.Cells[i] = padRight(cellText(cell), a.widths[i])
			}
		}
		if withNamespace {
			ns := padRight(rowNamespace(row.Object), a.nsWidth)
			row.Object = runtime.RawExtension{Object: &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: ns}}}
		}
	}
	a.observe(t, withNamespace)
}

func padRight(s string, width int) string {
	if n := utf8.RuneCountInString(s); n < width {
		return s + strings.Repeat(" ", width-n)
	}
	return s
}

// cellText is a cell as printers.Print shows it (up to escaping).
func cellText(cell any) string {
	switch v := cell.(type) {
	case nil:
		return ""
	case string:
		if i := strings.IndexAny(v, "\f\n\r"); i >= 0 {
			return v[:i] + "..."
		}
		return v
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return fmt.Sprintf("%d", int64(v))
		}
	}
	return fmt.Sprint(cell)
}

// rowNamespace reads the namespace of a row's object, "" if it has none.
func rowNamespace(obj runtime.RawExtension) string {
	if m, ok := obj.Object.(metav1.Object); ok {
		return m.GetNamespace()
	}
	var m metav1.PartialObjectMetadata
	if len(obj.Raw) == 0 || json.Unmarshal(obj.Raw, &m) != nil {
		return ""
	}
	return m.Namespace
}
