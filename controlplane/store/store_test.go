package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// openTest opens an embedded store in dir (a fresh temp dir if "") and
// closes it when the test ends.
func openTest(t *testing.T, dir string) *Store {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, Config{DataDir: dir, CompactInterval: -1})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustCreate(t *testing.T, s *Store, key, val string) int64 {
	t.Helper()
	rev, err := s.Create(testCtx(t), key, []byte(val))
	if err != nil {
		t.Fatalf("Create %s: %v", key, err)
	}
	return rev
}

func TestCRUD(t *testing.T) {
	s := openTest(t, "")
	ctx := testCtx(t)
	r1 := mustCreate(t, s, "/a", "1")
	kv, err := s.Get(ctx, "/a")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(KV{Key: "/a", Value: []byte("1"), Revision: r1}, kv); diff != "" {
		t.Fatalf("Get after create (-want +got):\n%s", diff)
	}
	r2, err := s.Update(ctx, "/a", []byte("2"), r1)
	if err != nil || r2 <= r1 {
		t.Fatalf("Update = %d, %v; want > %d", r2, err, r1)
	}
	r3, err := s.Update(ctx, "/a", []byte("3"), 0)
	if err != nil || r3 <= r2 {
		t.Fatalf("unconditional Update = %d, %v; want > %d", r3, err, r2)
	}
	prev, err := s.Delete(ctx, "/a", r3)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(KV{Key: "/a", Value: []byte("3"), Revision: r3}, prev); diff != "" {
		t.Fatalf("Delete prev (-want +got):\n%s", diff)
	}
	if _, err := s.Get(ctx, "/a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after delete: %v, want ErrNotFound", err)
	}
}

func TestWriteErrors(t *testing.T) {
	s := openTest(t, "")
	ctx := testCtx(t)
	rev := mustCreate(t, s, "/k", "v")
	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"create existing", func() error { _, err := s.Create(ctx, "/k", nil); return err }, ErrExists},
		{"update stale", func() error { _, err := s.Update(ctx, "/k", nil, rev-1); return err }, ErrConflict},
		{"update missing", func() error { _, err := s.Update(ctx, "/nope", nil, 0); return err }, ErrNotFound},
		{"update missing with rev", func() error { _, err := s.Update(ctx, "/nope", nil, rev); return err }, ErrNotFound},
		{"delete stale", func() error { _, err := s.Delete(ctx, "/k", rev+100); return err }, ErrConflict},
		{"delete missing", func() error { _, err := s.Delete(ctx, "/nope", 0); return err }, ErrNotFound},
		{"delete missing with rev", func() error { _, err := s.Delete(ctx, "/nope", rev); return err }, ErrNotFound},
		{"get missing", func() error { _, err := s.Get(ctx, "/nope"); return err }, ErrNotFound},
		{"list future", func() error { _, _, err := s.List(ctx, "/", rev+100); return err }, ErrFutureRevision},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.op(); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	kv, err := s.Get(ctx, "/k")
	if err != nil || kv.Revision != rev || string(kv.Value) != "v" {
		t.Fatalf("failed writes changed the key: %+v, %v", kv, err)
	}
}

func keysOf(kvs []KV) []string {
	out := make([]string, len(kvs))
	for i, kv := range kvs {
		out[i] = kv.Key + "=" + string(kv.Value)
	}
	return out
}

func TestListAtRevision(t *testing.T) {
	s := openTest(t, "")
	ctx := testCtx(t)
	mustCreate(t, s, "/p/a", "a1")
	rb := mustCreate(t, s, "/p/b", "b1")
	mustCreate(t, s, "/q/x", "x") // outside the prefix
	if _, err := s.Update(ctx, "/p/a", []byte("a2"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "/p/b", 0); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "/p/c", "c1")
	cur, _ := s.CurrentRevision(ctx)
	tests := []struct {
		name    string
		prefix  string
		rev     int64
		want    []string
		wantRev int64
	}{
		{"latest", "/p/", 0, []string{"/p/a=a2", "/p/c=c1"}, cur},
		{"old revision", "/p/", rb, []string{"/p/a=a1", "/p/b=b1"}, rb},
		{"everything", "", 0, []string{"/p/a=a2", "/p/c=c1", "/q/x=x"}, cur},
		{"empty prefix match", "/none/", 0, []string{}, cur},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kvs, rev, err := s.List(ctx, tt.prefix, tt.rev)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, keysOf(kvs)); diff != "" || rev != tt.wantRev {
				t.Fatalf("List rev %d (want %d), keys (-want +got):\n%s", rev, tt.wantRev, diff)
			}
		})
	}
}

// TestListPages lists more keys than one etcd page holds.
func TestListPages(t *testing.T) {
	s := openTest(t, "")
	ctx := testCtx(t)
	const n = 2*listPageSize + 17
	for i := 0; i < n; i += 100 {
		txn := s.Client().Txn(ctx)
		var ops []clientv3.Op
		for j := i; j < min(i+100, n); j++ {
			ops = append(ops, clientv3.OpPut(fmt.Sprintf("/big/%05d", j), "v"))
		}
		if _, err := txn.Then(ops...).Commit(); err != nil {
			t.Fatal(err)
		}
	}
	mid, _ := s.CurrentRevision(ctx)
	mustCreate(t, s, "/big/zzz", "late") // must not show in the list at mid
	kvs, rev, err := s.List(ctx, "/big/", mid)
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != n || rev != mid {
		t.Fatalf("List = %d keys at %d, want %d at %d", len(kvs), rev, n, mid)
	}
	for i, kv := range kvs {
		if want := fmt.Sprintf("/big/%05d", i); kv.Key != want {
			t.Fatalf("key %d = %s, want %s", i, kv.Key, want)
		}
	}
}

func TestListCompacted(t *testing.T) {
	s := openTest(t, "")
	ctx := testCtx(t)
	old := mustCreate(t, s, "/c/a", "1")
	mustCreate(t, s, "/c/b", "2")
	cur := mustCreate(t, s, "/c/c", "3")
	if err := s.Compact(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.List(ctx, "/c/", old); !IsCompacted(err) {
		t.Fatalf("List at compacted revision: %v, want ErrCompacted", err)
	}
	kvs, _, err := s.List(ctx, "/c/", cur)
	if err != nil || len(kvs) != 3 {
		t.Fatalf("List at the compaction revision = %d keys, %v; want 3", len(kvs), err)
	}
	if err := s.Compact(ctx, old); !IsCompacted(err) {
		t.Fatalf("Compact backwards: %v, want ErrCompacted", err)
	}
}

func TestDeletePrefix(t *testing.T) {
	s := openTest(t, "")
	ctx := testCtx(t)
	for _, k := range []string{"/ns/a/1", "/ns/a/2", "/ns/ab/1", "/ns/b/1"} {
		mustCreate(t, s, k, "v")
	}
	n, err := s.DeletePrefix(ctx, "/ns/a/")
	if err != nil || n != 2 {
		t.Fatalf("DeletePrefix = %d, %v; want 2", n, err)
	}
	kvs, _, _ := s.List(ctx, "/ns/", 0)
	if diff := cmp.Diff([]string{"/ns/ab/1=v", "/ns/b/1=v"}, keysOf(kvs)); diff != "" {
		t.Fatalf("left (-want +got):\n%s", diff)
	}
}

func TestRestart(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	ctx := testCtx(t)
	rev := mustCreate(t, s, "/persist", "yes")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	s = openTest(t, dir)
	kv, err := s.Get(ctx, "/persist")
	if err != nil || string(kv.Value) != "yes" || kv.Revision != rev {
		t.Fatalf("after restart Get = %+v, %v; want yes at %d", kv, err, rev)
	}
	if r := mustCreate(t, s, "/next", "v"); r != rev+1 {
		t.Fatalf("revision after restart = %d, want %d", r, rev+1)
	}
}

// TestLongDataDir puts the data dir beyond the unix socket path limit: the
// socket moves to a private temp dir that Close removes.
func TestLongDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60))
	s := openTest(t, dir)
	mustCreate(t, s, "/k", "v")
	tmp := s.embedded.tmpDir
	if tmp == "" {
		t.Fatal("expected a private socket dir for a long data dir")
	}
	s.Close()
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("socket dir %s left behind: %v", tmp, err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := testCtx(t)
	if _, err := Open(ctx, Config{}); err == nil {
		t.Fatal("Open without DataDir or Endpoints succeeded")
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	sock := "unix://" + filepath.Join(t.TempDir(), "none.sock")
	if _, err := Open(short, Config{Endpoints: []string{sock}}); err == nil {
		t.Fatal("Open of an unreachable external etcd succeeded")
	}
}

func TestExternalEndpoints(t *testing.T) {
	emb := openTest(t, "")
	s, err := Open(testCtx(t), Config{Endpoints: []string{emb.embedded.endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustCreate(t, s, "/ext", "v")
	if _, err := emb.Get(testCtx(t), "/ext"); err != nil {
		t.Fatalf("write through the external client not visible: %v", err)
	}
}
