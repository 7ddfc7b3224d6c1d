package podip

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	bolt "go.etcd.io/bbolt"

	"github.com/switchyard-net/switchyard/ipam"
)

var equateAddr = cmpopts.EquateComparable(netip.Addr{})

func openPool(t testing.TB, path, prefix string) *Pool {
	t.Helper()
	p, err := Open(path, netip.MustParsePrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func tempPath(t testing.TB) string { return filepath.Join(t.TempDir(), "podip.db") }

func TestAllocate(t *testing.T) {
	p := openPool(t, tempPath(t), "10.244.1.0/29") // .2 to .6
	want := map[string]netip.Addr{}
	for i := range 5 {
		owner := fmt.Sprint("pod", i)
		ip, err := p.Allocate(owner)
		if err != nil {
			t.Fatal(err)
		}
		if exp := netip.AddrFrom4([4]byte{10, 244, 1, byte(2 + i)}); ip != exp {
			t.Errorf("%s got %s, want %s", owner, ip, exp)
		}
		if again, err := p.Allocate(owner); err != nil || again != ip {
			t.Errorf("%s again: %s, %v; want %s", owner, again, err, ip)
		}
		if got, ok := p.Lookup(owner); !ok || got != ip {
			t.Errorf("Lookup(%s) = %s, %v", owner, got, ok)
		}
		want[owner] = ip
	}
	_, err := p.Allocate("pod5")
	if !errors.Is(err, ErrFull) || !errors.Is(err, ipam.ErrFull) || err.Error() != "pod CIDR 10.244.1.0/29 is full" {
		t.Errorf("sixth pod: %v", err)
	}
	if diff := cmp.Diff(want, p.List(), equateAddr); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if _, ok := p.Lookup("pod5"); ok {
		t.Error("Lookup found a pod that has no address")
	}
	if p.Gateway() != netip.MustParseAddr("10.244.1.1") || p.CIDR().String() != "10.244.1.0/29" {
		t.Errorf("Gateway() = %s, CIDR() = %s", p.Gateway(), p.CIDR())
	}
}

// TestRoundRobin checks that a released address is reused last.
func TestRoundRobin(t *testing.T) {
	p := openPool(t, tempPath(t), "10.244.1.0/28") // .2 to .14
	a, _ := p.Allocate("a")
	if _, err := p.Allocate("b"); err != nil {
		t.Fatal(err)
	}
	if err := p.Release("a"); err != nil {
		t.Fatal(err)
	}
	if err := p.Release("a"); err != nil {
		t.Errorf("second release: %v", err)
	}
	if err := p.Release("never-there"); err != nil {
		t.Errorf("release of an unknown owner: %v", err)
	}
	seen := map[netip.Addr]bool{}
	for i := range 11 {
		ip, err := p.Allocate(fmt.Sprint("c", i))
		if err != nil {
			t.Fatal(err)
		}
		if ip == a {
			t.Fatalf("allocation %d reused %s while others were free", i, a)
		}
		seen[ip] = true
	}
	if ip, err := p.Allocate("last"); err != nil || ip != a {
		t.Errorf("last free address: %s, %v; want %s", ip, err, a)
	}
}

func TestReopen(t *testing.T) {
	path := tempPath(t)
	p, err := Open(path, netip.MustParsePrefix("10.244.2.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := p.Allocate(fmt.Sprint("pod", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Release("pod7"); err != nil {
		t.Fatal(err)
	}
	want := p.List()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := p.Allocate("x"); !errors.Is(err, ErrClosed) {
		t.Errorf("Allocate after Close: %v, want ErrClosed", err)
	}

	q := openPool(t, path, "10.244.2.0/24")
	if diff := cmp.Diff(want, q.List(), equateAddr); diff != "" {
		t.Fatalf("List after reopen (-before +after):\n%s", diff)
	}
	if ip, err := q.Allocate("pod3"); err != nil || ip != want["pod3"] {
		t.Errorf("pod3 after reopen: %s, %v; want %s", ip, err, want["pod3"])
	}
	// The cursor survives: the next address follows the last one handed
	// out (.21), not the hole pod7 left.
	if ip, err := q.Allocate("new"); err != nil || ip != netip.MustParseAddr("10.244.2.22") {
		t.Errorf("first new allocation after reopen: %s, %v; want 10.244.2.22", ip, err)
	}
}

func TestIPv6(t *testing.T) {
	p := openPool(t, tempPath(t), "fd00:10:244:1::/120")
	seen := map[netip.Addr]bool{}
	for i := range 254 { // all but the network address and the gateway
		ip, err := p.Allocate(fmt.Sprint("pod", i))
		if err != nil {
			t.Fatal(err)
		}
		if seen[ip] || ip == p.Gateway() || ip == p.CIDR().Addr() {
			t.Fatalf("allocated %s", ip)
		}
		seen[ip] = true
	}
	if !seen[netip.MustParseAddr("fd00:10:244:1::ff")] {
		t.Error("last address of an IPv6 CIDR not handed out")
	}
	if _, err := p.Allocate("one-more"); !errors.Is(err, ErrFull) {
		t.Errorf("allocation past the end: %v, want ErrFull", err)
	}
	big := openPool(t, tempPath(t), "fd00:10:244:2::/64")
	if ip, err := big.Allocate("a"); err != nil || ip != netip.MustParseAddr("fd00:10:244:2::2") {
		t.Errorf("in a /64: %s, %v", ip, err)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, s := range []string{"10.0.0.0/31", "10.0.0.1/32", "fd00::/127"} {
		if _, err := Open(tempPath(t), netip.MustParsePrefix(s)); err == nil {
			t.Errorf("Open with %s succeeded", s)
		}
	}
	if _, err := Open(tempPath(t), netip.Prefix{}); err == nil {
		t.Error("Open with an invalid CIDR succeeded")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing", "x.db"), netip.MustParsePrefix("10.0.0.0/24")); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
	p := openPool(t, tempPath(t), "10.0.0.0/24")
	for _, owner := range []string{"", string(make([]byte, 2000))} {
		if _, err := p.Allocate(owner); err == nil {
			t.Errorf("Allocate(%d-byte owner) succeeded", len(owner))
		}
	}
}

func TestLocked(t *testing.T) {
	defer func(d time.Duration) { lockTimeout = d }(lockTimeout)
	lockTimeout = 100 * time.Millisecond
	path := tempPath(t)
	openPool(t, path, "10.0.0.0/24")
	_, err := Open(path, netip.MustParsePrefix("10.0.0.0/24"))
	if err == nil {
		t.Fatal("second Open of a locked file succeeded")
	}
	t.Log(err)
}

// TestCIDRChange reopens a pool with another CIDR: old allocations stay
// listed, and their owners get new addresses.
func TestCIDRChange(t *testing.T) {
	path := tempPath(t)
	p, err := Open(path, netip.MustParsePrefix("10.244.1.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	old, _ := p.Allocate("a")
	if _, err := p.Allocate("b"); err != nil {
		t.Fatal(err)
	}
	p.Close()
	q := openPool(t, path, "10.244.9.0/24")
	if got := q.List(); len(got) != 2 || got["a"] != old {
		t.Errorf("List after a CIDR change = %v", got)
	}
	ip, err := q.Allocate("a")
	if err != nil || !q.CIDR().Contains(ip) {
		t.Errorf("Allocate(a) after a CIDR change: %s, %v", ip, err)
	}
	if err := q.Release("b"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]netip.Addr{"a": ip}, q.List(), equateAddr); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
}

func TestGC(t *testing.T) {
	p := openPool(t, tempPath(t), "10.244.1.0/24")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return now }
	for _, owner := range []string{"gone1", "alive", "gone2"} {
		if _, err := p.Allocate(owner); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Minute)
	if _, err := p.Allocate("young"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(10 * time.Second)
	keep := func(owner string) bool { return owner == "alive" }
	released, err := p.GC(context.Background(), keep, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"gone1", "gone2"}, slices.Sorted(slices.Values(released))); diff != "" {
		t.Errorf("released (-want +got):\n%s", diff)
	}
	if got := slices.Sorted(maps.Keys(p.List())); !cmp.Equal(got, []string{"alive", "young"}) {
		t.Errorf("left after GC: %v", got)
	}
	now = now.Add(time.Minute)
	if released, err := p.GC(context.Background(), keep, 30*time.Second); err != nil || len(released) != 1 || released[0] != "young" {
		t.Errorf("second GC released %v, %v; want [young]", released, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.GC(ctx, func(string) bool { return false }, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("GC with a cancelled context: %v", err)
	}
	if _, ok := p.Lookup("alive"); !ok {
		t.Error("cancelled GC released something")
	}
}

// TestConcurrent allocates for 120 owners, each from two goroutines at
// once, releasing some on the way: each owner keeps one address and no
// address has two owners, in memory and after reopening.
func TestConcurrent(t *testing.T) {
	path := tempPath(t)
	p, err := Open(path, netip.MustParsePrefix("10.244.3.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu  sync.Mutex
		got = map[string]netip.Addr{}
		wg  sync.WaitGroup
	)
	for i := range 240 {
		owner := fmt.Sprint("pod", i/2)
		wg.Go(func() {
			ip, err := p.Allocate(owner)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if prev, ok := got[owner]; ok && prev != ip {
				t.Errorf("%s got %s and %s", owner, prev, ip)
			}
			got[owner] = ip
		})
		if i%10 == 9 {
			wg.Go(func() {
				if err := p.Release(fmt.Sprint("gone", i)); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	checkUnique(t, got)
	if diff := cmp.Diff(got, p.List(), equateAddr); diff != "" {
		t.Errorf("List (-allocated +listed):\n%s", diff)
	}
	p.Close()
	q := openPool(t, path, "10.244.3.0/24")
	if diff := cmp.Diff(got, q.List(), equateAddr); diff != "" {
		t.Errorf("List after reopen (-allocated +listed):\n%s", diff)
	}
}

func checkUnique(t *testing.T, m map[string]netip.Addr) {
	t.Helper()
	owner := map[netip.Addr]string{}
	for o, ip := range m {
		if prev, dup := owner[ip]; dup {
			t.Errorf("%s held by %s and %s", ip, prev, o)
		}
		owner[ip] = o
	}
}

func TestCorruptFile(t *testing.T) {
	for name, entries := range map[string]map[string][]byte{
		"bad entry":    {"a": []byte("garbage")},
		"duplicate IP": {"a": entry{ip: netip.MustParseAddr("10.0.0.5")}.encode(), "b": entry{ip: netip.MustParseAddr("10.0.0.5")}.encode()},
	} {
		t.Run(name, func(t *testing.T) {
			path := tempPath(t)
			writeEntries(t, path, entries)
			if p, err := Open(path, netip.MustParsePrefix("10.0.0.0/24")); err == nil {
				p.Close()
				t.Fatal("Open succeeded")
			} else {
				t.Log(err)
			}
		})
	}
}

// writeEntries writes raw entries into a new pool file.
func writeEntries(t testing.TB, path string, entries map[string][]byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketOwners)
		if err != nil {
			return err
		}
		for _, k := range slices.Sorted(maps.Keys(entries)) { // in order: bbolt appends
			if err := b.Put([]byte(k), entries[k]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestWriteFailure checks that a failed commit leaves no trace in memory.
func TestWriteFailure(t *testing.T) {
	p := openPool(t, tempPath(t), "10.244.1.0/24")
	a, err := p.Allocate("a")
	if err != nil {
		t.Fatal(err)
	}
	p.w.hook = func() error { return errors.New("disk on fire") }
	if _, err := p.Allocate("b"); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("Allocate with a failing disk: %v", err)
	}
	if err := p.Release("a"); err == nil {
		t.Fatal("Release with a failing disk succeeded")
	}
	p.w.hook = nil
	if _, ok := p.Lookup("b"); ok {
		t.Error("failed allocation is visible")
	}
	if ip, ok := p.Lookup("a"); !ok || ip != a {
		t.Errorf("failed release lost a: %s, %v", ip, ok)
	}
	// The address b did not get is the next one handed out.
	if ip, err := p.Allocate("c"); err != nil || ip != netip.MustParseAddr("10.244.1.3") {
		t.Errorf("Allocate after the failure: %s, %v; want 10.244.1.3", ip, err)
	}
}
