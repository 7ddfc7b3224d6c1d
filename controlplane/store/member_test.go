package store

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/controlplane/pki"
)

// loopbackPair returns two addresses of 127/8 that no other test run uses
// at the same time (the members listen on fixed ports 2379 and 2380).
func loopbackPair() (net.IP, net.IP) {
	a, b := byte(rand.IntN(200)+20), byte(rand.IntN(250)+1)
	return net.IPv4(127, a, b, 1), net.IPv4(127, a, b, 2)
}

func openMember(t *testing.T, b *pki.Bundle, dir, name string, ip net.IP, initial string) *Store {
	t.Helper()
	certDir := filepath.Join(dir, "pki-"+name)
	if err := pki.Install(certDir, mustShared(t, b)); err != nil {
		t.Fatal(err)
	}
	cb, err := pki.Ensure(certDir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, ca, err := cb.EnsureEtcdCert(name, ip)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := Open(ctx, Config{DataDir: filepath.Join(dir, name), CompactInterval: -1, Member: &Member{
		Name: name, IP: ip, CertFile: cert, KeyFile: key, CAFile: ca, InitialCluster: initial,
	}})
	if err != nil {
		t.Fatalf("open member %s: %v", name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustShared(t *testing.T, b *pki.Bundle) pki.SharedFiles {
	t.Helper()
	s, err := b.Shared()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func memberNames(t *testing.T, s *Store) []string {
	t.Helper()
	ms, err := s.Members(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	return names
}

func TestMemberAddJoinRemove(t *testing.T) {
	b, err := pki.Ensure(t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ip1, ip2 := loopbackPair()
	first := openMember(t, b, dir, "n1", ip1, "")
	mustCreate(t, first, "/before", "1")

	m2 := &Member{Name: "n2", IP: ip2}
	initial, err := first.AddMember(testCtx(t), "n2", m2.PeerURL())
	if err != nil {
		t.Fatal(err)
	}
	want := "n1=https://" + ip1.String() + ":2380,n2=https://" + ip2.String() + ":2380"
	if initial != want && initial != "n2=https://"+ip2.String()+":2380,n1=https://"+ip1.String()+":2380" {
		t.Fatalf("initial cluster %q, want %q", initial, want)
	}
	t0 := time.Now()
	second := openMember(t, b, dir, "n2", ip2, initial)
	t.Logf("second member ready in %v", time.Since(t0))
	if _, err := second.Get(testCtx(t), "/before"); err != nil {
		t.Fatalf("the new member lacks data written before it joined: %v", err)
	}
	mustCreate(t, second, "/after", "2")
	if _, err := first.Get(testCtx(t), "/after"); err != nil {
		t.Fatalf("a write through the new member is missing on the first: %v", err)
	}
	if got := memberNames(t, first); !slices.Equal(got, []string{"n1", "n2"}) {
		t.Fatalf("members %v, want [n1 n2]", got)
	}
	// The first member cannot be replaced by a joiner of the same name.
	if _, err := first.AddMember(testCtx(t), "n1", "https://192.0.2.9:2380"); !errors.Is(err, ErrMemberConflict) {
		t.Fatalf("AddMember over the own member: %v, want ErrMemberConflict", err)
	}
	t0 = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	removed, err := first.RemoveMember(ctx, "n2")
	if err != nil || !removed {
		t.Fatalf("RemoveMember(n2) = %v, %v", removed, err)
	}
	t.Logf("member removed after %v", time.Since(t0))
	if got := memberNames(t, first); !slices.Equal(got, []string{"n1"}) {
		t.Fatalf("members after remove %v, want [n1]", got)
	}
	second.Close()
	mustCreate(t, first, "/alone", "3") // a lone member again: it has quorum
	if removed, err := first.RemoveMember(testCtx(t), "n2"); err != nil || removed {
		t.Fatalf("second RemoveMember(n2) = %v, %v; want false, nil", removed, err)
	}
}

func TestUnavailableIsA503Status(t *testing.T) {
	err := mapErr("get /x", context.DeadlineExceeded)
	var ue *UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("mapErr(deadline) = %v, want an UnavailableError", err)
	}
	if s := ue.Status(); s.Code != http.StatusServiceUnavailable || s.Message == "" {
		t.Fatalf("status %+v", s)
	}
}
