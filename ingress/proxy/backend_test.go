package proxy

import (
	"testing"
	"time"
)

func TestPickSkipsEjectedAndTried(t *testing.T) {
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	b := p.NewBackend("i", "s", []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"}, Options{})
	now := time.Now().UnixNano()
	bad := b.Endpoints[1]
	for range ejectAfter {
		bad.failed(now)
	}
	for range 30 {
		if u := b.pick(nil, now); u == bad {
			t.Fatal("picked an ejected endpoint while others are healthy")
		}
	}
	// After ejectFor it is back.
	seen := false
	for range 30 {
		seen = seen || b.pick(nil, now+int64(ejectFor)+1) == bad
	}
	if !seen {
		t.Error("endpoint not picked again after its ejection ended")
	}
	// Tried endpoints are skipped; when only ejected ones are left, they
	// are used rather than failing.
	if u := b.pick([]*Upstream{b.Endpoints[0], b.Endpoints[2]}, now); u != bad {
		t.Errorf("pick with the healthy ones tried = %v, want the ejected one", u)
	}
	if u := b.pick(b.Endpoints, now); u != nil {
		t.Errorf("pick with all tried = %v, want nil", u)
	}
	// A success resets the streak: two failures and a success do not eject.
	good := b.Endpoints[0]
	good.failed(now)
	good.failed(now)
	good.succeeded()
	good.failed(now)
	if good.ejected(now) {
		t.Error("ejected after a success broke the failure streak")
	}
}

func TestLeastRequestPrefersIdle(t *testing.T) {
	p, _ := New(Config{})
	b := p.NewBackend("i", "s", []string{"10.0.0.1:80", "10.0.0.2:80"}, Options{Policy: LeastRequest})
	b.Endpoints[0].inflight.Store(10)
	for range 20 {
		if u := b.pick(nil, time.Now().UnixNano()); u != b.Endpoints[1] {
			t.Fatal("least-request picked the busy endpoint")
		}
	}
}
