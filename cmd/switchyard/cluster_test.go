package main

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/switchyard-net/switchyard/controlplane/pki"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l
}

// A dead control plane is skipped, and the one that answered is tried
// first next time.
func TestFailoverDialerSkipsDeadControlPlanes(t *testing.T) {
	dead := listen(t)
	deadAddr := dead.Addr().String()
	dead.Close()
	alive := listen(t)
	d := &failoverDialer{hosts: []string{deadAddr, alive.Addr().String()}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 2 {
		c, err := d.DialContext(ctx, "tcp", deadAddr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if got := c.RemoteAddr().String(); got != alive.Addr().String() {
			t.Fatalf("dialed %s, want the live %s", got, alive.Addr())
		}
		c.Close()
	}
	if d.good != 1 {
		t.Errorf("last good host %d, want 1", d.good)
	}
	alive.Close()
	if _, err := d.DialContext(ctx, "tcp", deadAddr); err == nil {
		t.Fatal("dial succeeded with every control plane down")
	}
}

func TestFailoverConfig(t *testing.T) {
	rc := &rest.Config{Host: "https://192.0.2.1:6443"}
	if err := failoverConfig(rc, []string{"https://192.0.2.1:6443"}); err != nil || rc.Dial != nil {
		t.Fatalf("one server: dial %v, err %v; want no failover", rc.Dial != nil, err)
	}
	if err := failoverConfig(rc, []string{"https://192.0.2.1:6443", "https://192.0.2.2:6443"}); err != nil {
		t.Fatal(err)
	}
	if rc.Dial == nil || rc.TLSClientConfig.ServerName != pki.APIServerName {
		t.Fatalf("two servers: dial set %v, server name %q", rc.Dial != nil, rc.TLSClientConfig.ServerName)
	}
	if err := failoverConfig(&rest.Config{}, []string{"https://192.0.2.1:6443", "not a url"}); err == nil {
		t.Fatal("a bad URL was accepted")
	}
}

func TestMergeServers(t *testing.T) {
	got := mergeServers([]string{"https://a:6443"}, []string{"https://b:6443", "https://a:6443", "https://c:6443"})
	if want := []string{"https://a:6443", "https://b:6443", "https://c:6443"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
