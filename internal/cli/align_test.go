package cli

import (
	"bytes"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/switchyard-net/switchyard/internal/printers"
)

func TestAlignerKeepsWatchRowsInColumns(t *testing.T) {
	cols := []metav1.TableColumnDefinition{{Name: "Name"}, {Name: "Ports"}, {Name: "Selector", Priority: 1}, {Name: "Age"}}
	row := func(ns, name string, port float64) metav1.TableRow {
		return metav1.TableRow{
			Cells:  []any{name, port, "app=x", "1s"},
			Object: runtime.RawExtension{Raw: []byte(`{"metadata":{"namespace":"` + ns + `"}}`)},
		}
	}
	first := &metav1.Table{ColumnDefinitions: cols, Rows: []metav1.TableRow{row("default", "a-long-name", 8080)}}
	later := &metav1.Table{ColumnDefinitions: cols, Rows: []metav1.TableRow{row("x", "b", 1)}}
	for _, wide := range []bool{false, true} {
		var out bytes.Buffer
		var a aligner
		a.observe(first, true)
		if err := printers.Print(&out, first, wide, true, false); err != nil {
			t.Fatal(err)
		}
		l := later.DeepCopy()
		a.pad(l, wide, true)
		if err := printers.Print(&out, l, wide, true, true); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if len(lines) != 3 {
			t.Fatalf("output:\n%s", out.String())
		}
		for at := 1; at < len(lines[0]); at++ {
			if lines[0][at-1] != ' ' || lines[0][at] == ' ' {
				continue // not where a header starts
			}
			if at >= len(lines[2]) || lines[2][at-1] != ' ' || lines[2][at] == ' ' {
				t.Errorf("wide=%v: column at %d not aligned:\n%s", wide, at, out.String())
			}
		}
		if strings.HasSuffix(lines[2], " ") {
			t.Errorf("wide=%v: trailing space: %q", wide, lines[2])
		}
	}
}
