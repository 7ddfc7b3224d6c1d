package printers

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func servicesForPrint() *corev1.ServiceList {
	return &corev1.ServiceList{Items: []corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default", CreationTimestamp: ago(5 * day)},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIPs: []string{"10.96.0.1"}, Ports: []corev1.ServicePort{{Port: 443, Protocol: corev1.ProtocolTCP}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system", CreationTimestamp: ago(5 * day)},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIPs: []string{"10.96.0.10"}, Selector: map[string]string{"k8s-app": "kube-dns"},
				Ports: []corev1.ServicePort{{Port: 53, Protocol: corev1.ProtocolUDP}, {Port: 53, Protocol: corev1.ProtocolTCP}, {Port: 9153, Protocol: corev1.ProtocolTCP}}}},
	}}
}

// overTheWire round-trips a table through JSON, as a client receives it:
// row objects arrive as Raw bytes and numbers as float64.
func overTheWire(t *testing.T, tbl *metav1.Table) *metav1.Table {
	t.Helper()
	data, err := json.Marshal(tbl)
	if err != nil {
		t.Fatal(err)
	}
	var out metav1.Table
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func TestPrint(t *testing.T) {
	tbl, err := Table(servicesForPrint(), "Metadata", now)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name                          string
		wide, withNamespace, noHeader bool
		want                          string
	}{
		{name: "default", want: `
NAME         TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)                  AGE
kubernetes   ClusterIP   10.96.0.1    <none>        443/TCP                  5d
kube-dns     ClusterIP   10.96.0.10   <none>        53/UDP,53/TCP,9153/TCP   5d
`},
		{name: "all namespaces", withNamespace: true, want: `
NAMESPACE     NAME         TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)                  AGE
default       kubernetes   ClusterIP   10.96.0.1    <none>        443/TCP                  5d
kube-system   kube-dns     ClusterIP   10.96.0.10   <none>        53/UDP,53/TCP,9153/TCP   5d
`},
		{name: "wide", wide: true, want: `
NAME         TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)                  AGE   SELECTOR
kubernetes   ClusterIP   10.96.0.1    <none>        443/TCP                  5d    <none>
kube-dns     ClusterIP   10.96.0.10   <none>        53/UDP,53/TCP,9153/TCP   5d    k8s-app=kube-dns
`},
		{name: "no headers", noHeader: true, want: `
kubernetes   ClusterIP   10.96.0.1    <none>   443/TCP                  5d
kube-dns     ClusterIP   10.96.0.10   <none>   53/UDP,53/TCP,9153/TCP   5d
`},
	} {
		for _, wire := range []bool{false, true} {
			in := tbl
			if wire {
				in = overTheWire(t, tbl)
			}
			var b strings.Builder
			if err := Print(&b, in, tc.wide, tc.withNamespace, tc.noHeader); err != nil {
				t.Fatalf("%s (wire %v): %v", tc.name, wire, err)
			}
			if diff := cmp.Diff(strings.TrimPrefix(tc.want, "\n"), b.String()); diff != "" {
				t.Errorf("%s (wire %v): output (-want +got):\n%s", tc.name, wire, diff)
			}
		}
	}
}

func TestPrintCells(t *testing.T) {
	tbl := &metav1.Table{
		ColumnDefinitions: []metav1.TableColumnDefinition{{Name: "Name"}, {Name: "Data"}, {Name: "Note"}},
		Rows: []metav1.TableRow{
			{Cells: []any{"a", int64(2), "two\nlines"}},
			{Cells: []any{"b\x1b[31m", float64(12), nil, "extra cell beyond the columns"}},
			{Cells: []any{"c"}},
		},
	}
	want := "NAME      DATA   NOTE\n" +
		"a         2      two...\n" +
		"b^[[31m   12     \n" +
		"c" + strings.Repeat(" ", 9+7) + "\n"
	var b strings.Builder
	if err := Print(&b, tbl, false, false, false); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

func TestPrintEmptyAndErrors(t *testing.T) {
	empty, err := Table(&corev1.PodList{}, "Metadata", now)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := Print(&b, empty, false, true, false); err != nil || b.Len() != 0 {
		t.Errorf("empty table: output %q, err %v; want nothing", b.String(), err)
	}

	none, err := Table(servicesForPrint(), "None", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := Print(&b, none, false, true, false); err == nil {
		t.Error("namespace column without row objects: want an error")
	}
	none.Rows[0].Object.Raw = []byte("{not json")
	none.Rows[0].Object.Object = nil
	if err := Print(&b, none, false, true, false); err == nil {
		t.Error("namespace column with bad raw JSON: want an error")
	}
}

func TestPrintFullObjectRows(t *testing.T) {
	tbl, err := Table(servicesForPrint(), "Object", now)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []*metav1.Table{tbl, overTheWire(t, tbl)} {
		var b strings.Builder
		if err := Print(&b, in, false, true, true); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(b.String(), "default       kubernetes") || !strings.Contains(b.String(), "\nkube-system   kube-dns") {
			t.Errorf("output:\n%s", b.String())
		}
	}
}
