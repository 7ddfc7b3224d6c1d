package etcdtest

import (
	"context"
	"testing"
	"time"
)

func TestStart(t *testing.T) {
	start := time.Now()
	s := Start(t)
	t.Logf("started in %v at %s", time.Since(start), s.Endpoint())
	a := s.Client(t, "/a")
	b := s.Client(t, "/b")
	ctx := context.Background()
	if _, err := a.Put(ctx, "/k", "a"); err != nil {
		t.Fatal(err)
	}
	resp, err := b.Get(ctx, "/k")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 0 {
		t.Fatalf("namespaces leak: %v", resp.Kvs)
	}
	resp, err = a.Get(ctx, "/k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "a" {
		t.Fatalf("get = %v, %v", resp, err)
	}
}

func TestShared(t *testing.T) {
	defer StopShared()
	ctx := context.Background()
	a, b := Shared(t), Shared(t)
	if _, err := a.Client(t, "").Put(ctx, "/k", "a"); err != nil {
		t.Fatal(err)
	}
	if resp, err := b.Client(t, "").Get(ctx, "/k"); err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("views leak: %v, %v", resp, err)
	}
	if resp, err := a.Client(t, "").Get(ctx, "/k"); err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("view lost its key: %v, %v", resp, err)
	}
}
