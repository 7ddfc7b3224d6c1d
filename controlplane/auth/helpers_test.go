package auth

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/switchyard-net/switchyard/controlplane/store"
)

// testStore is an embedded etcd with objects written under keys, the
// way the API server stores them (JSON).
func testStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func put(t testing.TB, st *store.Store, key string, obj any) {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.GuaranteedUpdate(context.Background(), key, func(store.KV) ([]byte, error) { return b, nil }); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// runAuth starts a's caches for the test's lifetime.
func runAuth(t testing.TB, a *Auth) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func usr(name string, groups ...string) user.Info {
	return &user.DefaultInfo{Name: name, Groups: append(groups, AllAuthenticated)}
}

func res(u user.Info, verb, group, resource, sub, ns, name string) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{User: u, Verb: verb, APIGroup: group, APIVersion: "v1", Resource: resource,
		Subresource: sub, Namespace: ns, Name: name, ResourceRequest: true}
}

// eventually polls cond (the caches follow etcd through a watch).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func allowed(t *testing.T, a *Auth, attrs authorizer.AttributesRecord) (bool, string) {
	t.Helper()
	ok, reason, err := a.Authorize(context.Background(), attrs)
	if err != nil {
		t.Fatalf("authorize %+v: %v", attrs, err)
	}
	return ok, reason
}
