package lbipam

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func mustPool(t *testing.T, s ...string) *Pool {
	t.Helper()
	p, err := ParsePool(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var none netip.Addr

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestAllocator(t *testing.T) {
	a := NewAllocator(mustPool(t, "203.0.113.100-203.0.113.102"))
	step := func(owner string, want, prefer netip.Addr, wantAddr string, wantErr error) {
		t.Helper()
		got, err := a.Allocate(owner, want, prefer)
		if !errors.Is(err, wantErr) || (err == nil && got.String() != wantAddr) {
			t.Fatalf("Allocate(%s, %v, %v) = %v, %v; want %s, %v", owner, want, prefer, got, err, wantAddr, wantErr)
		}
	}
	step("a", none, none, "203.0.113.100", nil)
	step("a", none, none, "203.0.113.100", nil) // idempotent
	step("b", ip("203.0.113.102"), none, "203.0.113.102", nil)
	step("c", ip("203.0.113.102"), none, "", ErrTaken)     // requested, held by b
	step("c", ip("203.0.113.200"), none, "", ErrNotInPool) // outside the pool
	step("c", none, ip("203.0.113.100"), "203.0.113.101", nil)
	step("d", none, none, "", ErrExhausted)
	if addr, ok := a.Release("a"); !ok || addr != ip("203.0.113.100") {
		t.Fatalf("Release(a) = %v, %v", addr, ok)
	}
	if _, ok := a.Release("a"); ok {
		t.Fatal("second Release(a) released something")
	}
	step("d", none, none, "203.0.113.100", nil)
	// Asking for another address moves the owner: the old one is free.
	step("d", ip("203.0.113.102"), none, "", ErrTaken)
	a.Release("b")
	step("d", ip("203.0.113.102"), none, "203.0.113.102", nil)
	if h, ok := a.Holder(ip("203.0.113.100")); ok {
		t.Fatalf("203.0.113.100 still held by %s after its owner moved", h)
	}
	var taken *TakenError
	if _, err := a.Allocate("e", ip("203.0.113.101"), none); !errors.As(err, &taken) || taken.Holder != "c" {
		t.Fatalf("taken error %v does not name the holder c", err)
	}
	if a.Len() != 2 {
		t.Fatalf("Len = %d, want 2", a.Len())
	}
}

func lbService(ns, name, lbIP string, status ...string) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, LoadBalancerIP: lbIP},
	}
	for _, s := range status {
		svc.Status.LoadBalancer.Ingress = append(svc.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: s})
	}
	return svc
}

func TestCheckRequested(t *testing.T) {
	pool := mustPool(t, "203.0.113.100-203.0.113.150")
	other := "other"
	others := []*corev1.Service{
		lbService("default", "holder", "", "203.0.113.100"),
		lbService("default", "asker", "203.0.113.101"),
		lbService("default", "self", "", "203.0.113.105"),
	}
	foreign := lbService("default", "foreign", "", "203.0.113.110")
	foreign.Spec.LoadBalancerClass = &other
	others = append(others, foreign)
	tests := []struct {
		name    string
		svc     *corev1.Service
		old     *corev1.Service
		wantErr string // substring of the field error; "" for none
	}{
		{"free address", lbService("default", "new", "203.0.113.120"), nil, ""},
		{"outside the pool", lbService("default", "new", "203.0.113.200"), nil, "not in the load-balancer pool. The pool is 203.0.113.100-203.0.113.150"},
		{"not an address", lbService("default", "new", "example.com"), nil, "must be a valid IP address"},
		{"held in a status", lbService("default", "new", "203.0.113.100"), nil, "already allocated to Service default/holder"},
		{"requested by another", lbService("other", "new", "203.0.113.101"), nil, "already requested by Service default/asker"},
		{"its own address", lbService("default", "self", "203.0.113.105"), nil, ""},
		{"held by another class's Service", lbService("default", "new", "203.0.113.110"), nil, ""},
		{"unchanged on update", lbService("default", "new", "203.0.113.200"), lbService("default", "new", "203.0.113.200"), ""},
		{"no request", lbService("default", "new", ""), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := CheckRequested(pool, tt.svc, tt.old, others)
			if tt.wantErr == "" {
				if fe != nil {
					t.Fatalf("unexpected error %v", fe)
				}
				return
			}
			if fe == nil || fe.Field != "spec.loadBalancerIP" || !strings.Contains(fe.Error(), tt.wantErr) {
				t.Fatalf("error %v, want a field error on spec.loadBalancerIP containing %q", fe, tt.wantErr)
			}
		})
	}
	nodePort := lbService("default", "np", "203.0.113.200")
	nodePort.Spec.Type = corev1.ServiceTypeNodePort
	if fe := CheckRequested(pool, nodePort, nil, others); fe != nil {
		t.Fatalf("a NodePort Service was checked: %v", fe)
	}
}
