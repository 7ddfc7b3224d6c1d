package controllers

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func ptrOf[T any](v T) *T { return &v }

func mirrorSlice(name string, ports []discovery.EndpointPort, eps ...discovery.Endpoint) *discovery.EndpointSlice {
	return &discovery.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{discovery.LabelServiceName: "web"}},
		AddressType: discovery.AddressTypeIPv4, Endpoints: eps, Ports: ports,
	}
}

func endpoint(ip string, ready, terminating bool) discovery.Endpoint {
	return discovery.Endpoint{Addresses: []string{ip}, NodeName: ptrOf("n1"),
		Conditions: discovery.EndpointConditions{Ready: &ready, Terminating: &terminating}}
}

var httpPort = []discovery.EndpointPort{{Name: ptrOf("http"), Port: ptrOf(int32(8080)), Protocol: ptrOf(corev1.ProtocolTCP)}}

func TestDesiredEndpoints(t *testing.T) {
	svc := testService("web", web)
	metricsPorts := []discovery.EndpointPort{{Name: ptrOf("metrics"), Port: ptrOf(int32(9090)), Protocol: ptrOf(corev1.ProtocolTCP)}}
	got := desiredEndpoints(svc, []*discovery.EndpointSlice{
		mirrorSlice("web-b", httpPort, endpoint("10.244.0.10", true, false), endpoint("10.244.0.9", true, false)),
		mirrorSlice("web-a", httpPort, endpoint("10.244.0.7", false, false), endpoint("10.244.0.8", false, true)),
		mirrorSlice("web-c", metricsPorts, endpoint("10.244.1.2", true, false)),
	})
	render := func(as []corev1.EndpointAddress) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.IP)
		}
		return out
	}
	if len(got.Subsets) != 2 {
		t.Fatalf("subsets %+v, want one per port set", got.Subsets)
	}
	http, metrics := got.Subsets[0], got.Subsets[1]
	if fmt.Sprint(render(http.Addresses)) != "[10.244.0.9 10.244.0.10]" || fmt.Sprint(render(http.NotReadyAddresses)) != "[10.244.0.7]" ||
		http.Ports[0].Port != 8080 || http.Ports[0].Name != "http" {
		t.Errorf("http subset %+v: want ready .9 .10 sorted as IPs, not-ready .7, terminating .8 left out", http)
	}
	if fmt.Sprint(render(metrics.Addresses)) != "[10.244.1.2]" || metrics.Ports[0].Port != 9090 {
		t.Errorf("metrics subset %+v", metrics)
	}
	if got.Labels["team"] != "blue" || got.Labels[LabelSkipMirror] != "true" || got.Labels[LabelEndpointsManagedBy] != endpointsManagedBy {
		t.Errorf("labels %v", got.Labels)
	}
	if got.Subsets[0].Addresses[0].NodeName == nil || *got.Subsets[0].Addresses[0].NodeName != "n1" {
		t.Errorf("nodeName not carried: %+v", got.Subsets[0].Addresses[0])
	}

	var many []discovery.Endpoint
	for i := range maxEndpointsAddresses + 5 {
		many = append(many, endpoint(fmt.Sprintf("10.244.%d.%d", i/250, i%250+1), true, false))
	}
	big := desiredEndpoints(svc, []*discovery.EndpointSlice{mirrorSlice("big", httpPort, many...)})
	if n := len(big.Subsets[0].Addresses); n != maxEndpointsAddresses || big.Annotations[overCapacityAnnotation] != "truncated" {
		t.Errorf("over capacity: %d addresses, annotations %v", n, big.Annotations)
	}
}

func startMirror(t *testing.T, client *fake.Clientset) {
	startController(t, client, func(f informers.SharedInformerFactory) (*endpointsMirror, error) {
		return newEndpointsMirror(client, f, testLogger())
	})
}

func TestEndpointsMirrorFollowsSlicesAndRevertsEdits(t *testing.T) {
	ctx := context.Background()
	client := newFakeClient(testService("web", web), testService("manual", nil),
		mirrorSlice("web-1", httpPort, endpoint("10.244.0.5", true, false)),
		&corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "manual", Namespace: "default"},
			Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.1"}}}}})
	startMirror(t, client)
	eps := client.CoreV1().Endpoints("default")
	readyIPs := func(name string) (string, error) {
		ep, err := eps.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		var ips []string
		for _, ss := range ep.Subsets {
			for _, a := range ss.Addresses {
				ips = append(ips, a.IP)
			}
		}
		return fmt.Sprint(ips), nil
	}
	eventually(t, "endpoints of web", func() (bool, error) {
		got, err := readyIPs("web")
		return got == "[10.244.0.5]", ignoreNotFound(err)
	})

	// A new ready endpoint in the slices shows up.
	s, _ := client.DiscoveryV1().EndpointSlices("default").Get(ctx, "web-1", metav1.GetOptions{})
	s.Endpoints = append(s.Endpoints, endpoint("10.244.0.6", true, false))
	if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "second endpoint", func() (bool, error) {
		got, err := readyIPs("web")
		return got == "[10.244.0.5 10.244.0.6]", err
	})

	// A hand edit is reverted.
	ep, _ := eps.Get(ctx, "web", metav1.GetOptions{})
	ep.Subsets = nil
	if _, err := eps.Update(ctx, ep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "edit reverted", func() (bool, error) {
		got, err := readyIPs("web")
		return got == "[10.244.0.5 10.244.0.6]", err
	})

	// Endpoints of a Service without selector are their writer's.
	if got, err := readyIPs("manual"); err != nil || got != "[192.0.2.1]" {
		t.Errorf("manual endpoints: %s %v", got, err)
	}

	// The Service goes: its mirrored Endpoints go with it.
	if err := client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "endpoints deleted", func() (bool, error) {
		_, err := eps.Get(ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if _, err := eps.Get(ctx, "manual", metav1.GetOptions{}); err != nil {
		t.Errorf("manual endpoints removed: %v", err)
	}
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func TestUserEndpointsMirroredIntoSlices(t *testing.T) {
	ctx := context.Background()
	db := testService("db", nil)
	manual := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Subsets: []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{{IP: "192.0.2.10"}, {IP: "2001:db8::10"}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "192.0.2.11"}},
			Ports:             []corev1.EndpointPort{{Name: "pg", Port: 5432, Protocol: corev1.ProtocolTCP}},
		}}}
	skipped := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default", Labels: map[string]string{LabelSkipMirror: "true"}},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "198.51.100.1"}}}}}
	client := newFakeClient(db, testService("kubernetes", nil), manual, skipped)
	startMirror(t, client)
	slices := client.DiscoveryV1().EndpointSlices("default")
	eventually(t, "mirrored slices", func() (bool, error) {
		v4, err := slices.Get(ctx, "db-mirror-0", metav1.GetOptions{})
		if err != nil {
			return false, ignoreNotFound(err)
		}
		v6, err := slices.Get(ctx, "db-mirror-0-v6", metav1.GetOptions{})
		if err != nil {
			return false, ignoreNotFound(err)
		}
		return len(v4.Endpoints) == 2 && *v4.Endpoints[0].Conditions.Ready && !*v4.Endpoints[1].Conditions.Ready &&
			*v4.Ports[0].Port == 5432 && v4.Labels[discovery.LabelServiceName] == "db" &&
			len(v6.Endpoints) == 1 && v6.AddressType == discovery.AddressTypeIPv6, nil
	})
	if list, _ := slices.List(ctx, metav1.ListOptions{LabelSelector: discovery.LabelServiceName + "=kubernetes"}); len(list.Items) != 0 {
		t.Errorf("skip-mirror Endpoints were mirrored: %+v", list.Items)
	}
	// Removing the Endpoints removes the slices.
	if err := client.CoreV1().Endpoints("default").Delete(ctx, "db", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "mirrored slices gone", func() (bool, error) {
		list, err := slices.List(ctx, metav1.ListOptions{LabelSelector: discovery.LabelServiceName + "=db"})
		return err == nil && len(list.Items) == 0, err
	})
}
