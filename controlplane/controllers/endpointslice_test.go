package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

type podOpt func(*corev1.Pod)

func notReady(p *corev1.Pod)    { p.Status.Conditions[0].Status = corev1.ConditionFalse }
func terminating(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: time.Unix(1, 0)} }
func phase(ph corev1.PodPhase) podOpt {
	return func(p *corev1.Pod) { p.Status.Phase = ph }
}
func inNamespace(ns string) podOpt { return func(p *corev1.Pod) { p.Namespace = ns } }
func containerPort(name string, port int32) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports,
			corev1.ContainerPort{Name: name, ContainerPort: port, Protocol: corev1.ProtocolTCP})
	}
}

// testPod is a running, ready pod in "default" on node-a.
func testPod(name string, lbls map[string]string, ips []string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Labels: lbls},
		Spec:       corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "c"}}},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		},
	}
	for _, ip := range ips {
		p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
	}
	if len(ips) > 0 {
		p.Status.PodIP = ips[0]
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

type svcOpt func(*corev1.Service)

// testService is a ClusterIP service in "default" with port http 80→8080.
func testService(name string, selector map[string]string, opts ...svcOpt) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name),
			Labels: map[string]string{"team": "blue", discovery.LabelManagedBy: "someone"}},
		Spec: corev1.ServiceSpec{
			Selector:   selector,
			ClusterIP:  "10.96.0.10",
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP,
				TargetPort: intstr.FromInt32(8080)}},
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

var web = map[string]string{"app": "web"}

// startEndpointSlices runs the controller with one worker and counts its
// completed syncs.
func startEndpointSlices(t *testing.T, client *fake.Clientset) *atomic.Int64 {
	var syncs atomic.Int64
	startController(t, client, func(f informers.SharedInformerFactory) (*endpointSliceController, error) {
		c, err := newEndpointSliceController(client, f, 1, testLogger())
		if err != nil {
			return nil, err
		}
		sync := c.queue.sync
		c.queue.sync = func(ctx context.Context, key string) error {
			defer syncs.Add(1)
			return sync(ctx, key)
		}
		return c, nil
	})
	return &syncs
}

func listSlices(t *testing.T, c *fake.Clientset, svc string) []discovery.EndpointSlice {
	t.Helper()
	l, err := c.DiscoveryV1().EndpointSlices("default").List(context.Background(), metav1.ListOptions{
		LabelSelector: labels.Set{discovery.LabelServiceName: svc}.String()})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// render prints slices compactly, sorted, one string per slice.
func render(ss []discovery.EndpointSlice) []string {
	var out []string
	for _, s := range ss {
		var ports, eps []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprintf("%s/%s/%d", deref(p.Name), deref(p.Protocol), deref(p.Port)))
		}
		for _, e := range s.Endpoints {
			c := e.Conditions
			line := fmt.Sprintf("%s=%s r%v s%v t%v", e.TargetRef.Name, strings.Join(e.Addresses, ","),
				b(c.Ready), b(c.Serving), b(c.Terminating))
			if e.Hostname != nil {
				line += " host=" + *e.Hostname
			}
			eps = append(eps, line)
		}
		slices.Sort(eps)
		out = append(out, fmt.Sprintf("%s ports=%v eps=%v", s.AddressType, ports, eps))
	}
	slices.Sort(out)
	return out
}

func b(p *bool) int {
	if p != nil && *p {
		return 1
	}
	return 0
}

// waitSlices waits until the service's slices render as want.
func waitSlices(t *testing.T, c *fake.Clientset, svc string, want []string) {
	t.Helper()
	var got []string
	err := pollFor(func() bool {
		got = render(listSlices(t, c, svc))
		return cmp.Equal(got, want)
	})
	if err != nil {
		t.Fatalf("slices of %s (-want +got):\n%s", svc, cmp.Diff(want, got))
	}
}

func TestEndpointSliceSelectorAndMetadata(t *testing.T) {
	client := newFakeClient(
		testService("web", web),
		testPod("web-1", web, []string{"10.0.0.1"}),
		testPod("web-2", web, []string{"10.0.0.2"}, notReady),
		testPod("db-1", map[string]string{"app": "db"}, []string{"10.0.0.3"}),
		testPod("web-noip", web, nil),
		testPod("web-done", web, []string{"10.0.0.4"}, phase(corev1.PodSucceeded)),
		testPod("web-failed", web, []string{"10.0.0.5"}, phase(corev1.PodFailed)),
		testPod("web-other-ns", web, []string{"10.0.0.6"}, inNamespace("other")),
	)
	startEndpointSlices(t, client)
	waitSlices(t, client, "web", []string{
		"IPv4 ports=[http/TCP/8080] eps=[web-1=10.0.0.1 r1 s1 t0 web-2=10.0.0.2 r0 s0 t0]",
	})
	s := listSlices(t, client, "web")[0]
	wantLabels := map[string]string{"team": "blue", discovery.LabelServiceName: "web", discovery.LabelManagedBy: managedBy}
	if diff := cmp.Diff(wantLabels, s.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	yes := true
	wantOwner := []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: "web", UID: "uid-web",
		Controller: &yes, BlockOwnerDeletion: &yes}}
	if diff := cmp.Diff(wantOwner, s.OwnerReferences); diff != "" {
		t.Errorf("owner (-want +got):\n%s", diff)
	}
	if s.GenerateName != "web-" || !strings.HasPrefix(s.Name, "web-") {
		t.Errorf("name %q generateName %q, want web-…", s.Name, s.GenerateName)
	}
	ep := s.Endpoints[0]
	if deref(ep.NodeName) != "node-a" || ep.TargetRef.Kind != "Pod" || ep.TargetRef.UID == "" || ep.Zone != nil {
		t.Errorf("endpoint %+v: want nodeName node-a, a pod targetRef, no zone", ep)
	}
}

func TestEndpointSliceConditions(t *testing.T) {
	pods := func() []*corev1.Pod {
		return []*corev1.Pod{
			testPod("ready", web, []string{"10.0.0.1"}),
			testPod("unready", web, []string{"10.0.0.2"}, notReady),
			testPod("ready-terminating", web, []string{"10.0.0.3"}, terminating),
			testPod("unready-terminating", web, []string{"10.0.0.4"}, notReady, terminating),
		}
	}
	for _, tc := range []struct {
		name       string
		publishAll bool
		want       string
	}{
		{"default", false, "IPv4 ports=[http/TCP/8080] eps=[ready-terminating=10.0.0.3 r0 s1 t1 ready=10.0.0.1 r1 s1 t0 " +
			"unready-terminating=10.0.0.4 r0 s0 t1 unready=10.0.0.2 r0 s0 t0]"},
		{"publishNotReadyAddresses", true, "IPv4 ports=[http/TCP/8080] eps=[ready-terminating=10.0.0.3 r1 s1 t1 ready=10.0.0.1 r1 s1 t0 " +
			"unready-terminating=10.0.0.4 r1 s0 t1 unready=10.0.0.2 r1 s0 t0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := testService("web", web, func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = tc.publishAll })
			client := newFakeClient(svc)
			for _, p := range pods() {
				mustCreate(t, client.CoreV1().Pods("default").Create, p)
			}
			startEndpointSlices(t, client)
			waitSlices(t, client, "web", []string{tc.want})
		})
	}
}

func TestEndpointSliceNamedPortGrouping(t *testing.T) {
	svc := testService("web", web, func(s *corev1.Service) {
		s.Spec.Ports = []corev1.ServicePort{
			{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("web")},
			{Name: "metrics", Port: 9100, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9100)},
		}
	})
	client := newFakeClient(svc,
		testPod("a", web, []string{"10.0.0.1"}, containerPort("web", 8080)),
		testPod("b", web, []string{"10.0.0.2"}, containerPort("web", 8080)),
		testPod("c", web, []string{"10.0.0.3"}, containerPort("web", 9090)),
		testPod("d", web, []string{"10.0.0.4"}),
	)
	startEndpointSlices(t, client)
	waitSlices(t, client, "web", []string{
		"IPv4 ports=[http/TCP/8080 metrics/TCP/9100] eps=[a=10.0.0.1 r1 s1 t0 b=10.0.0.2 r1 s1 t0]",
		"IPv4 ports=[http/TCP/9090 metrics/TCP/9100] eps=[c=10.0.0.3 r1 s1 t0]",
		"IPv4 ports=[metrics/TCP/9100] eps=[d=10.0.0.4 r1 s1 t0]",
	})
}

func TestEndpointSliceSplitsAt100AndUpdatesInPlace(t *testing.T) {
	objs := []runtime.Object{testService("web", web)}
	for i := range 250 {
		objs = append(objs, testPod(fmt.Sprintf("p%03d", i), web, []string{fmt.Sprintf("10.0.%d.%d", i/200, i%200+1)}))
	}
	client := newFakeClient(objs...)
	syncs := startEndpointSlices(t, client)
	eventually(t, "250 endpoints in 3 slices", func() (bool, error) {
		ss := listSlices(t, client, "web")
		var sizes []int
		seen := map[string]bool{}
		for _, s := range ss {
			sizes = append(sizes, len(s.Endpoints))
			for _, e := range s.Endpoints {
				seen[e.TargetRef.Name] = true
			}
		}
		slices.Sort(sizes)
		return slices.Equal(sizes, []int{50, 100, 100}) && len(seen) == 250, nil
	})
	waitIdle(t, syncs)

	// Deleting one pod rewrites exactly the slice that held it.
	before := writes(client, "endpointslices")
	if err := client.CoreV1().Pods("default").Delete(context.Background(), "p007", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "p007 gone from the slices", func() (bool, error) {
		n := 0
		for _, s := range listSlices(t, client, "web") {
			n += len(s.Endpoints)
		}
		return n == 249, nil
	})
	waitIdle(t, syncs)
	if got := writes(client, "endpointslices") - before; got != 1 {
		t.Errorf("deleting one pod caused %d slice writes, want 1", got)
	}
}

func TestEndpointSliceNoWriteWhenUnchanged(t *testing.T) {
	client := newFakeClient(testService("web", web), testPod("web-1", web, []string{"10.0.0.1"}))
	syncs := startEndpointSlices(t, client)
	waitSlices(t, client, "web", []string{"IPv4 ports=[http/TCP/8080] eps=[web-1=10.0.0.1 r1 s1 t0]"})
	waitIdle(t, syncs)
	before, n := writes(client, "endpointslices"), syncs.Load()

	// A pod change that does not affect its endpoint, and a service status change.
	pod, _ := client.CoreV1().Pods("default").Get(context.Background(), "web-1", metav1.GetOptions{})
	pod.Annotations = map[string]string{"touched": "yes"}
	if _, err := client.CoreV1().Pods("default").Update(context.Background(), pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, _ := client.CoreV1().Services("default").Get(context.Background(), "web", metav1.GetOptions{})
	svc.Annotations = map[string]string{"touched": "yes"}
	if _, err := client.CoreV1().Services("default").Update(context.Background(), svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "two more syncs", func() (bool, error) { return syncs.Load() >= n+2, nil })
	waitIdle(t, syncs)
	if got := writes(client, "endpointslices") - before; got != 0 {
		t.Errorf("unchanged input caused %d slice writes, want 0", got)
	}
}

func TestEndpointSliceLeavesSelectorlessServicesAlone(t *testing.T) {
	user := &discovery.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "manual-1", Namespace: "default", Labels: map[string]string{discovery.LabelServiceName: "manual"}},
		AddressType: discovery.AddressTypeIPv4,
		Endpoints:   []discovery.Endpoint{{Addresses: []string{"192.0.2.1"}}},
	}
	client := newFakeClient(testService("manual", nil), user, testService("web", web), testPod("web-1", web, []string{"10.0.0.1"}))
	syncs := startEndpointSlices(t, client)
	waitSlices(t, client, "web", []string{"IPv4 ports=[http/TCP/8080] eps=[web-1=10.0.0.1 r1 s1 t0]"})
	waitIdle(t, syncs)
	for _, a := range client.Actions() {
		if a.GetResource().Resource == "endpointslices" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
			if s, ok := a.(interface{ GetObject() runtime.Object }); ok {
				if es := s.GetObject().(*discovery.EndpointSlice); es.Labels[discovery.LabelServiceName] == "manual" {
					t.Errorf("controller wrote a slice of the selector-less service: %v", a)
				}
			}
			if d, ok := a.(interface{ GetName() string }); ok && d.GetName() == "manual-1" {
				t.Errorf("controller touched the user's slice: %v", a)
			}
		}
	}
	if got := listSlices(t, client, "manual"); len(got) != 1 || got[0].Name != "manual-1" {
		t.Errorf("selector-less service slices = %v, want only manual-1", got)
	}
}

func TestEndpointSliceDeletedWithServiceOrSelector(t *testing.T) {
	client := newFakeClient(
		testService("web", web), testService("web2", web),
		testPod("web-1", web, []string{"10.0.0.1"}),
	)
	startEndpointSlices(t, client)
	want := []string{"IPv4 ports=[http/TCP/8080] eps=[web-1=10.0.0.1 r1 s1 t0]"}
	waitSlices(t, client, "web", want)
	waitSlices(t, client, "web2", want)

	if err := client.CoreV1().Services("default").Delete(context.Background(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSlices(t, client, "web", nil)

	svc, _ := client.CoreV1().Services("default").Get(context.Background(), "web2", metav1.GetOptions{})
	svc.Spec.Selector = nil
	if _, err := client.CoreV1().Services("default").Update(context.Background(), svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSlices(t, client, "web2", nil)
}

func TestEndpointSlicePlaceholderAndPodLifecycle(t *testing.T) {
	client := newFakeClient(testService("web", web))
	startEndpointSlices(t, client)
	waitSlices(t, client, "web", []string{"IPv4 ports=[] eps=[]"})

	pod := mustCreate(t, client.CoreV1().Pods("default").Create, testPod("web-1", web, []string{"10.0.0.1"}))
	waitSlices(t, client, "web", []string{"IPv4 ports=[http/TCP/8080] eps=[web-1=10.0.0.1 r1 s1 t0]"})

	terminating(pod)
	if _, err := client.CoreV1().Pods("default").Update(context.Background(), pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSlices(t, client, "web", []string{"IPv4 ports=[http/TCP/8080] eps=[web-1=10.0.0.1 r0 s1 t1]"})

	if err := client.CoreV1().Pods("default").Delete(context.Background(), "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSlices(t, client, "web", []string{"IPv4 ports=[] eps=[]"})
	if n := len(listSlices(t, client, "web")); n != 1 {
		t.Errorf("%d slices, want the one slice recycled as placeholder", n)
	}
}

func TestEndpointSliceHeadlessDualStack(t *testing.T) {
	svc := testService("db", web, func(s *corev1.Service) {
		s.Spec.ClusterIP = corev1.ClusterIPNone
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	})
	sub := func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = p.Name, "db" }
	client := newFakeClient(svc,
		testPod("db-0", web, []string{"10.0.0.1", "fd00::1"}, sub),
		testPod("db-1", web, []string{"10.0.0.2"}),
	)
	startEndpointSlices(t, client)
	waitSlices(t, client, "db", []string{
		"IPv4 ports=[http/TCP/8080] eps=[db-0=10.0.0.1 r1 s1 t0 host=db-0 db-1=10.0.0.2 r1 s1 t0]",
		"IPv6 ports=[http/TCP/8080] eps=[db-0=fd00::1 r1 s1 t0 host=db-0]",
	})
	for _, s := range listSlices(t, client, "db") {
		if v, ok := s.Labels[corev1.IsHeadlessService]; !ok || v != "" {
			t.Errorf("slice %s lacks the headless label: %v", s.Name, s.Labels)
		}
	}
}

func TestEndpointSliceRevertsHandEdits(t *testing.T) {
	client := newFakeClient(testService("web", web), testPod("web-1", web, []string{"10.0.0.1"}))
	startEndpointSlices(t, client)
	want := []string{"IPv4 ports=[http/TCP/8080] eps=[web-1=10.0.0.1 r1 s1 t0]"}
	waitSlices(t, client, "web", want)
	s := listSlices(t, client, "web")[0]
	s.Endpoints = nil
	if _, err := client.DiscoveryV1().EndpointSlices("default").Update(context.Background(), &s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSlices(t, client, "web", want)
}

// waitIdle waits until the controller has not synced for 200ms.
func waitIdle(t *testing.T, syncs *atomic.Int64) {
	t.Helper()
	last, since := syncs.Load(), time.Now()
	eventually(t, "controller idle", func() (bool, error) {
		if n := syncs.Load(); n != last {
			last, since = n, time.Now()
		}
		return time.Since(since) > 200*time.Millisecond, nil
	})
}

func pollFor(cond func() bool) error {
	return wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil })
}
