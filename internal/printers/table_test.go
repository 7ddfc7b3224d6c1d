package printers

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

var now = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func om(name string, d time.Duration) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(d)}
}

func ptr[T any](v T) *T { return &v }

const day = 24 * time.Hour

type rowCase struct {
	name string
	obj  runtime.Object
	want []any
}

// checkRows prints each object alone and compares its single row's cells.
func checkRows(t *testing.T, wantColumns []string, cases []rowCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tbl, err := Table(tc.obj, "None", now)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantColumns, columnNames(tbl)); diff != "" {
				t.Errorf("columns (-want +got):\n%s", diff)
			}
			if len(tbl.Rows) != 1 {
				t.Fatalf("got %d rows, want 1", len(tbl.Rows))
			}
			if diff := cmp.Diff(tc.want, tbl.Rows[0].Cells); diff != "" {
				t.Errorf("cells (-want +got):\n%s", diff)
			}
		})
	}
}

// columnNames lists the column names, wide ones marked with a "+".
func columnNames(t *metav1.Table) []string {
	var out []string
	for _, c := range t.ColumnDefinitions {
		if c.Priority > 0 {
			out = append(out, "+"+c.Name)
		} else {
			out = append(out, c.Name)
		}
	}
	return out
}

func TestNamespaceSecretConfigMapLease(t *testing.T) {
	checkRows(t, []string{"Name", "Status", "Age"}, []rowCase{
		{"namespace", &corev1.Namespace{ObjectMeta: om("kube-system", 5*day), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}, []any{"kube-system", "Active", "5d"}},
		{"terminating namespace", &corev1.Namespace{ObjectMeta: om("old", 90*time.Second), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}, []any{"old", "Terminating", "90s"}},
	})
	checkRows(t, []string{"Name", "Type", "Data", "Age"}, []rowCase{
		{"secret", &corev1.Secret{ObjectMeta: om("tls", 3*time.Hour), Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": nil, "tls.key": nil}}, []any{"tls", "kubernetes.io/tls", int64(2), "3h"}},
	})
	checkRows(t, []string{"Name", "Data", "Age"}, []rowCase{
		{"configmap", &corev1.ConfigMap{ObjectMeta: om("cfg", 7*time.Minute+30*time.Second), Data: map[string]string{"a": "1"}, BinaryData: map[string][]byte{"b": nil}}, []any{"cfg", int64(2), "7m30s"}},
	})
	checkRows(t, []string{"Name", "Holder", "Age"}, []rowCase{
		{"held", &coordinationv1.Lease{ObjectMeta: om("node-1", time.Hour), Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("node-1")}}, []any{"node-1", "node-1", "60m"}},
		{"free", &coordinationv1.Lease{ObjectMeta: om("free", 0)}, []any{"free", "", "0s"}},
	})
}

func TestNode(t *testing.T) {
	ready := func(s corev1.ConditionStatus) []corev1.NodeCondition {
		return []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeReady, Status: s}}
	}
	cp := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "cp", CreationTimestamp: ago(10 * day), Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""}},
		Status: corev1.NodeStatus{
			Conditions: ready(corev1.ConditionTrue),
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "cp"}, {Type: corev1.NodeInternalIP, Address: "192.168.1.10"}},
			NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: "v1.33.0-switchyard", OSImage: "Ubuntu 24.04 LTS", KernelVersion: "6.8.0-45-generic"},
		},
	}
	worker := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "w1", CreationTimestamp: ago(2 * time.Hour), Labels: map[string]string{
			"kubernetes.io/role": "worker", "node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/ingress": "", "node-role.kubernetes.io/": "",
		}},
		Spec: corev1.NodeSpec{Unschedulable: true},
		Status: corev1.NodeStatus{
			Conditions: ready(corev1.ConditionUnknown),
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeExternalIP, Address: "203.0.113.4"}, {Type: corev1.NodeInternalIP, Address: "10.0.0.4"}},
			NodeInfo:   corev1.NodeSystemInfo{OSImage: "Debian", KernelVersion: "6.1", ContainerRuntimeVersion: "switchyard://0.1"},
		},
	}
	bare := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "bare"}}
	checkRows(t, []string{"Name", "Status", "Roles", "Age", "Version", "+Internal-IP", "+External-IP", "+OS-Image", "+Kernel-Version", "+Container-Runtime"}, []rowCase{
		{"ready control plane", cp, []any{"cp", "Ready", "control-plane", "10d", "v1.33.0-switchyard", "192.168.1.10", "<none>", "Ubuntu 24.04 LTS", "6.8.0-45-generic", "<unknown>"}},
		{"not ready cordoned", worker, []any{"w1", "NotReady,SchedulingDisabled", "ingress,worker", "120m", "", "10.0.0.4", "203.0.113.4", "Debian", "6.1", "switchyard://0.1"}},
		{"no conditions", bare, []any{"bare", "Unknown", "<none>", "<unknown>", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
	})
}

func TestService(t *testing.T) {
	svc := func(name string, spec corev1.ServiceSpec, lb ...corev1.LoadBalancerIngress) *corev1.Service {
		s := &corev1.Service{ObjectMeta: om(name, 5*day), Spec: spec}
		s.Status.LoadBalancer.Ingress = lb
		return s
	}
	tcp := func(port, nodePort int32) corev1.ServicePort {
		return corev1.ServicePort{Port: port, NodePort: nodePort, Protocol: corev1.ProtocolTCP}
	}
	checkRows(t, []string{"Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "+Selector"}, []rowCase{
		{"cluster ip", svc("kubernetes", corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.1", ClusterIPs: []string{"10.96.0.1"}, Ports: []corev1.ServicePort{tcp(443, 0)}}),
			[]any{"kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP", "5d", "<none>"}},
		{"udp and tcp", svc("kube-dns", corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIPs: []string{"10.96.0.10", "fd00::a"}, Selector: map[string]string{"k8s-app": "kube-dns"},
			Ports: []corev1.ServicePort{{Port: 53, Protocol: corev1.ProtocolUDP}, tcp(53, 0), tcp(9153, 0)}}),
			[]any{"kube-dns", "ClusterIP", "10.96.0.10", "<none>", "53/UDP,53/TCP,9153/TCP", "5d", "k8s-app=kube-dns"}},
		{"node ports", svc("web", corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.4.2", ExternalIPs: []string{"192.0.2.10", "192.0.2.11"},
			Selector: map[string]string{"app": "web", "tier": "front"}, Ports: []corev1.ServicePort{tcp(80, 30080), tcp(443, 0)}}),
			[]any{"web", "NodePort", "10.96.4.2", "192.0.2.10,192.0.2.11", "80:30080/TCP,443/TCP", "5d", "app=web,tier=front"}},
		{"load balancer pending", svc("lb", corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.4.3", Ports: []corev1.ServicePort{tcp(80, 31000)}}),
			[]any{"lb", "LoadBalancer", "10.96.4.3", "<pending>", "80:31000/TCP", "5d", "<none>"}},
		{"load balancer ingress", svc("lb2", corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.4.4", ExternalIPs: []string{"192.0.2.1"}, Ports: []corev1.ServicePort{tcp(80, 31001)}},
			corev1.LoadBalancerIngress{Hostname: "lb.example.com"}, corev1.LoadBalancerIngress{IP: "203.0.113.7"}, corev1.LoadBalancerIngress{IP: "203.0.113.7"}),
			[]any{"lb2", "LoadBalancer", "10.96.4.4", "203.0.113.7,lb.example.com,192.0.2.1", "80:31001/TCP", "5d", "<none>"}},
		{"external name", svc("db", corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}),
			[]any{"db", "ExternalName", "<none>", "db.example.com", "<none>", "5d", "<none>"}},
		{"headless, defaults unset", svc("headless", corev1.ServiceSpec{ClusterIP: "None", Ports: []corev1.ServicePort{{Port: 8080}}}),
			[]any{"headless", "ClusterIP", "None", "<none>", "8080/TCP", "5d", "<none>"}},
	})
}

func TestEndpointSlice(t *testing.T) {
	var eps []discoveryv1.Endpoint
	for _, a := range []string{"10.244.0.1", "10.244.0.2", "10.244.1.3", "10.244.1.4", "10.244.2.5"} {
		eps = append(eps, discoveryv1.Endpoint{Addresses: []string{a}})
	}
	checkRows(t, []string{"Name", "AddressType", "Ports", "Endpoints", "Age"}, []rowCase{
		{"many", &discoveryv1.EndpointSlice{ObjectMeta: om("web-abc12", time.Hour), AddressType: discoveryv1.AddressTypeIPv4, Endpoints: eps,
			Ports: []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}, {Name: ptr("metrics")}, {}}},
			[]any{"web-abc12", "IPv4", "8080,metrics,*", "10.244.0.1,10.244.0.2,10.244.1.3 + 2 more...", "60m"}},
		{"four ports", &discoveryv1.EndpointSlice{ObjectMeta: om("p", time.Hour), AddressType: discoveryv1.AddressTypeIPv6, Endpoints: eps[:1],
			Ports: []discoveryv1.EndpointPort{{Port: ptr(int32(1))}, {Port: ptr(int32(2))}, {Port: ptr(int32(3))}, {Port: ptr(int32(4))}}},
			[]any{"p", "IPv6", "1,2,3 + 1 more...", "10.244.0.1", "60m"}},
		{"empty", &discoveryv1.EndpointSlice{ObjectMeta: om("empty", time.Hour), AddressType: discoveryv1.AddressTypeIPv4},
			[]any{"empty", "IPv4", "<unset>", "<unset>", "60m"}},
	})
}

func TestIngressAndClass(t *testing.T) {
	rules := func(hosts ...string) []networkingv1.IngressRule {
		var r []networkingv1.IngressRule
		for _, h := range hosts {
			r = append(r, networkingv1.IngressRule{Host: h})
		}
		return r
	}
	tlsIng := &networkingv1.Ingress{ObjectMeta: om("web", day), Spec: networkingv1.IngressSpec{
		IngressClassName: ptr("switchyard"), Rules: rules("a.example.com", "", "b.example.com"), TLS: []networkingv1.IngressTLS{{SecretName: "tls"}},
	}}
	tlsIng.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "192.168.1.10"}, {Hostname: "ingress.local"}}
	checkRows(t, []string{"Name", "Class", "Hosts", "Address", "Ports", "Age"}, []rowCase{
		{"tls", tlsIng, []any{"web", "switchyard", "a.example.com,b.example.com", "192.168.1.10,ingress.local", "80, 443", "24h"}},
		{"many hosts", &networkingv1.Ingress{ObjectMeta: om("many", day), Spec: networkingv1.IngressSpec{Rules: rules("h1", "h2", "h3", "h4", "h5")}},
			[]any{"many", "<none>", "h1,h2,h3 + 2 more...", "", "80", "24h"}},
		{"default backend only", &networkingv1.Ingress{ObjectMeta: om("catchall", day)}, []any{"catchall", "<none>", "*", "", "80", "24h"}},
	})
	checkRows(t, []string{"Name", "Controller", "Parameters", "Age"}, []rowCase{
		{"with parameters", &networkingv1.IngressClass{ObjectMeta: om("switchyard", 3*day), Spec: networkingv1.IngressClassSpec{
			Controller: "switchyard.dev/ingress", Parameters: &networkingv1.IngressClassParametersReference{APIGroup: ptr("k8s.example.com"), Kind: "IngressParameters", Name: "external"}}},
			[]any{"switchyard", "switchyard.dev/ingress", "IngressParameters.k8s.example.com/external", "3d"}},
		{"core parameters", &networkingv1.IngressClass{ObjectMeta: om("cm", 3*day), Spec: networkingv1.IngressClassSpec{
			Controller: "x/y", Parameters: &networkingv1.IngressClassParametersReference{Kind: "ConfigMap", Name: "cfg"}}},
			[]any{"cm", "x/y", "ConfigMap/cfg", "3d"}},
		{"no parameters", &networkingv1.IngressClass{ObjectMeta: om("plain", 3*day), Spec: networkingv1.IngressClassSpec{Controller: "x/y"}},
			[]any{"plain", "x/y", "<none>", "3d"}},
	})
}

func TestGeneric(t *testing.T) {
	checkRows(t, []string{"Name", "Age"}, []rowCase{
		{"limit range", &corev1.LimitRange{ObjectMeta: om("default", 4*day)}, []any{"default", "4d"}},
		{"unknown unstructured", &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "w", "creationTimestamp": now.Add(-time.Hour).Format(time.RFC3339)},
		}}, []any{"w", "60m"}},
	})
}

func TestUnstructuredKnownKind(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "web", "creationTimestamp": now.Add(-time.Hour).Format(time.RFC3339)},
		"spec":     map[string]any{"type": "NodePort", "clusterIP": "10.96.0.7", "ports": []any{map[string]any{"port": int64(80), "nodePort": int64(30080), "protocol": "TCP"}}},
	}}
	list := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "v1", "kind": "ServiceList", "metadata": map[string]any{"resourceVersion": "42"}}}
	list.Items = []unstructured.Unstructured{*u}
	want := []any{"web", "NodePort", "10.96.0.7", "<none>", "80:30080/TCP", "60m", "<none>"}
	for _, obj := range []runtime.Object{u, list} {
		tbl, err := Table(obj, "", now)
		if err != nil {
			t.Fatal(err)
		}
		if len(tbl.Rows) != 1 {
			t.Fatalf("%T: got %d rows", obj, len(tbl.Rows))
		}
		if diff := cmp.Diff(want, tbl.Rows[0].Cells); diff != "" {
			t.Errorf("%T: cells (-want +got):\n%s", obj, diff)
		}
	}
}

func TestListMetadataAndEmptyList(t *testing.T) {
	list := &corev1.ServiceList{ListMeta: metav1.ListMeta{ResourceVersion: "1234", Continue: "next", RemainingItemCount: ptr(int64(7))}}
	tbl, err := Table(list, "Metadata", now)
	if err != nil {
		t.Fatal(err)
	}
	if tbl.ResourceVersion != "1234" || tbl.Continue != "next" || tbl.RemainingItemCount == nil || *tbl.RemainingItemCount != 7 {
		t.Errorf("list meta = %+v", tbl.ListMeta)
	}
	if tbl.Kind != "Table" || tbl.APIVersion != "meta.k8s.io/v1" {
		t.Errorf("type meta = %+v", tbl.TypeMeta)
	}
	if got := columnNames(tbl); len(got) != 7 || got[1] != "Type" {
		t.Errorf("an empty service list has columns %v, want the service columns", got)
	}
	if tbl.Rows == nil || len(tbl.Rows) != 0 {
		t.Errorf("rows = %#v, want empty non-nil (serializes as [])", tbl.Rows)
	}
	single, err := Table(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", ResourceVersion: "9"}}, "Metadata", now)
	if err != nil {
		t.Fatal(err)
	}
	if single.ResourceVersion != "9" {
		t.Errorf("single object table resourceVersion = %q, want 9", single.ResourceVersion)
	}
}

func TestIncludeObject(t *testing.T) {
	list := &corev1.ConfigMapList{Items: []corev1.ConfigMap{{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns1", Labels: map[string]string{"x": "y"}}, Data: map[string]string{"k": "v"}}}}

	tbl, err := Table(list, "Metadata", now)
	if err != nil {
		t.Fatal(err)
	}
	partial, ok := tbl.Rows[0].Object.Object.(*metav1.PartialObjectMetadata)
	if !ok {
		t.Fatalf("Metadata row object is %T", tbl.Rows[0].Object.Object)
	}
	wantPartial := &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"},
		ObjectMeta: list.Items[0].ObjectMeta,
	}
	if diff := cmp.Diff(wantPartial, partial); diff != "" {
		t.Errorf("partial (-want +got):\n%s", diff)
	}

	tbl, err = Table(list, "Object", now)
	if err != nil {
		t.Fatal(err)
	}
	full, ok := tbl.Rows[0].Object.Object.(*corev1.ConfigMap)
	if !ok {
		t.Fatalf("Object row object is %T", tbl.Rows[0].Object.Object)
	}
	if full.APIVersion != "v1" || full.Kind != "ConfigMap" || full.Data["k"] != "v" {
		t.Errorf("full object = %+v", full)
	}
	if list.Items[0].Kind != "" {
		t.Error("Table modified the caller's object")
	}

	tbl, err = Table(list, "None", now)
	if err != nil {
		t.Fatal(err)
	}
	if tbl.Rows[0].Object.Object != nil || tbl.Rows[0].Object.Raw != nil {
		t.Errorf("None row object = %+v", tbl.Rows[0].Object)
	}

	if _, err := Table(list, "Everything", now); !apierrors.IsBadRequest(err) {
		t.Errorf("bad includeObject: err = %v, want BadRequest", err)
	}
}
