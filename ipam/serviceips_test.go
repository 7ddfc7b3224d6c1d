package ipam

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/switchyard-net/switchyard/ipam/internal/etcdtest"
)

func newServiceIPs(t testing.TB, cli *clientv3.Client, cidr string) *ServiceIPs {
	t.Helper()
	a, err := NewServiceIPs(cli, netip.MustParsePrefix(cidr))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestServiceIPsConcurrent allocates from two allocators on two clients,
// as two control planes would, 200 goroutines each.
func TestServiceIPsConcurrent(t *testing.T) {
	srv := etcdtest.Shared(t)
	const cidr = "10.96.0.0/23"
	allocs := []*ServiceIPs{
		newServiceIPs(t, srv.Client(t, ""), cidr),
		newServiceIPs(t, srv.Client(t, ""), cidr),
	}
	ctx := context.Background()
	var (
		mu   sync.Mutex
		got  = map[netip.Addr]string{}
		wg   sync.WaitGroup
		errs = make(chan error, 400)
	)
	for n, a := range allocs {
		for g := range 200 {
			owner := fmt.Sprintf("ns/svc-%d-%d/uid", n, g)
			wg.Go(func() {
				ip, err := a.Allocate(ctx, owner)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if prev, dup := got[ip]; dup {
					errs <- fmt.Errorf("%s handed to %s and %s", ip, prev, owner)
				}
				got[ip] = owner
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	p := netip.MustParsePrefix(cidr)
	for ip := range got {
		if !p.Contains(ip) || ip == p.Addr() || ip == netip.MustParseAddr("10.96.1.255") {
			t.Errorf("allocated %s, not a usable address of %s", ip, cidr)
		}
	}
	listed, err := allocs[1].List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, listed); diff != "" {
		t.Errorf("List differs from allocations (-allocated +listed):\n%s", diff)
	}

	// 200 more callers race for the last 110 addresses: exactly 110 win,
	// the rest get ErrFull.
	var nFull, nWon int
	for g := range 200 {
		a := allocs[g%2]
		wg.Go(func() {
			ip, err := a.Allocate(ctx, "late")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, ErrFull):
				nFull++
			case err != nil:
				t.Error(err)
			case got[ip] != "":
				t.Errorf("%s handed out twice", ip)
			default:
				got[ip] = "late"
				nWon++
			}
		})
	}
	wg.Wait()
	if nWon != 110 || nFull != 90 {
		t.Errorf("last round: %d allocated, %d ErrFull; want 110, 90", nWon, nFull)
	}
}

func TestServiceIPsFull(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		cidr   string
		usable int
	}{
		{"10.96.0.0/28", 14},
		{"10.96.0.0/30", 2},
		{"192.168.7.8/31", 0}, // rejected: network and broadcast only
		{"fd00::/124", 15},    // no broadcast in IPv6
		{"fd00::/127", 1},
	} {
		t.Run(tt.cidr, func(t *testing.T) {
			cli := etcdtest.New(t)
			a, err := NewServiceIPs(cli, netip.MustParsePrefix(tt.cidr))
			if tt.usable == 0 {
				if err == nil {
					t.Fatalf("NewServiceIPs(%s) succeeded, want an error", tt.cidr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			seen := map[netip.Addr]bool{}
			for i := range tt.usable {
				ip, err := a.Allocate(ctx, fmt.Sprint("owner", i))
				if err != nil {
					t.Fatalf("allocation %d: %v", i, err)
				}
				if seen[ip] {
					t.Fatalf("%s allocated twice", ip)
				}
				seen[ip] = true
			}
			_, err = a.Allocate(ctx, "one-too-many")
			if !errors.Is(err, ErrFull) {
				t.Fatalf("allocation past %d: %v, want ErrFull", tt.usable, err)
			}
			want := fmt.Sprintf("service CIDR %s is full", netip.MustParsePrefix(tt.cidr).Masked())
			if err.Error() != want {
				t.Errorf("error = %q, want %q", err, want)
			}
		})
	}
}

func TestServiceIPsSpecific(t *testing.T) {
	ctx := context.Background()
	a := newServiceIPs(t, etcdtest.New(t), "10.96.0.0/24")
	ip := netip.MustParseAddr("10.96.0.1")
	if err := a.AllocateSpecific(ctx, ip, "default/kubernetes/u1"); err != nil {
		t.Fatal(err)
	}
	if err := a.AllocateSpecific(ctx, ip, "default/kubernetes/u1"); err != nil {
		t.Errorf("same owner again: %v, want nil", err)
	}
	err := a.AllocateSpecific(ctx, ip, "default/other/u2")
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "10.96.0.1") || !strings.Contains(err.Error(), "10.96.0.0/24") {
		t.Errorf("other owner: %v, want ErrInUse naming the IP and CIDR", err)
	}
	for _, s := range []string{"10.97.0.1", "10.96.0.0", "10.96.0.255", "fd00::1"} {
		err := a.AllocateSpecific(ctx, netip.MustParseAddr(s), "o")
		if !errors.Is(err, ErrOutOfRange) || !strings.Contains(err.Error(), "10.96.0.0/24") {
			t.Errorf("AllocateSpecific(%s) = %v, want ErrOutOfRange naming the CIDR", s, err)
		}
	}
	if err := a.AllocateSpecific(ctx, netip.Addr{}, "o"); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("AllocateSpecific(zero Addr) = %v, want ErrOutOfRange", err)
	}
	// An IPv4-mapped IPv6 address means the IPv4 one.
	if err := a.AllocateSpecific(ctx, netip.MustParseAddr("::ffff:10.96.0.1"), "x"); !errors.Is(err, ErrInUse) {
		t.Errorf("mapped address: %v, want ErrInUse", err)
	}
	if err := a.AllocateSpecific(ctx, ip, ""); err == nil {
		t.Error("empty owner accepted")
	}
	// Dynamic allocation never returns an address taken specifically.
	for range 253 {
		got, err := a.Allocate(ctx, "dyn")
		if err != nil {
			t.Fatal(err)
		}
		if got == ip {
			t.Fatalf("Allocate returned %s, held by the kubernetes service", ip)
		}
	}
	if _, err := a.Allocate(ctx, "dyn"); !errors.Is(err, ErrFull) {
		t.Fatalf("Allocate on a full range: %v, want ErrFull", err)
	}
}

func TestServiceIPsRelease(t *testing.T) {
	ctx := context.Background()
	srv := etcdtest.Shared(t)
	a := newServiceIPs(t, srv.Client(t, ""), "10.96.0.0/29")
	var ips []netip.Addr
	for i := range 6 {
		ip, err := a.Allocate(ctx, fmt.Sprint("o", i))
		if err != nil {
			t.Fatal(err)
		}
		ips = append(ips, ip)
	}
	if err := a.Release(ctx, ips[2]); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx, ips[2]); err != nil {
		t.Errorf("second release: %v, want nil", err)
	}
	if got, err := a.Allocate(ctx, "new"); err != nil || got != ips[2] {
		t.Fatalf("Allocate after release = %s, %v; want %s", got, err, ips[2])
	}

	// Another control plane releases: a sees it once its bitmap looks full.
	b := newServiceIPs(t, srv.Client(t, ""), "10.96.0.0/29")
	if err := b.Release(ctx, ips[4]); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Allocate(ctx, "newer"); err != nil || got != ips[4] {
		t.Fatalf("Allocate after release elsewhere = %s, %v; want %s", got, err, ips[4])
	}

	// ReleaseIfOwner frees only the owner's address.
	err := a.ReleaseIfOwner(ctx, ips[0], "someone-else")
	if !errors.Is(err, ErrInUse) {
		t.Errorf("ReleaseIfOwner by another owner = %v, want ErrInUse", err)
	}
	if err := a.ReleaseIfOwner(ctx, ips[0], "o0"); err != nil {
		t.Fatal(err)
	}
	if err := a.ReleaseIfOwner(ctx, ips[0], "o0"); err != nil {
		t.Errorf("ReleaseIfOwner of a free address = %v, want nil", err)
	}
	list, err := b.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := list[ips[0]]; ok || len(list) != 5 {
		t.Errorf("List after releases = %v", list)
	}
	if err := a.Release(ctx, netip.MustParseAddr("fd00::1")); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("Release of an IPv6 address from an IPv4 range = %v, want ErrOutOfRange", err)
	}
}

// TestServiceIPsRestart checks that a new allocator, as after a control
// plane restart, sees what the old one allocated.
func TestServiceIPsRestart(t *testing.T) {
	ctx := context.Background()
	srv := etcdtest.Shared(t)
	const cidr = "10.96.0.0/26" // 62 usable
	old := newServiceIPs(t, srv.Client(t, ""), cidr)
	before := map[netip.Addr]string{}
	for i := range 40 {
		owner := fmt.Sprint("ns/svc/", i)
		ip, err := old.Allocate(ctx, owner)
		if err != nil {
			t.Fatal(err)
		}
		before[ip] = owner
	}
	restarted := newServiceIPs(t, srv.Client(t, ""), cidr)
	listed, err := restarted.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, listed); diff != "" {
		t.Fatalf("List after restart (-before +after):\n%s", diff)
	}
	for range 22 {
		ip, err := restarted.Allocate(ctx, "after")
		if err != nil {
			t.Fatal(err)
		}
		if owner, ok := before[ip]; ok {
			t.Fatalf("%s handed out again; %s holds it", ip, owner)
		}
		before[ip] = "after"
	}
	if _, err := restarted.Allocate(ctx, "after"); !errors.Is(err, ErrFull) {
		t.Fatalf("Allocate on a full range: %v, want ErrFull", err)
	}
}

// TestServiceIPsStaticBand checks that dynamic allocation leaves the low
// band of a /24 (16 addresses) alone until the rest is full.
func TestServiceIPsStaticBand(t *testing.T) {
	ctx := context.Background()
	a := newServiceIPs(t, etcdtest.New(t), "10.96.0.0/24")
	low := 0
	for i := range 254 {
		ip, err := a.Allocate(ctx, "o")
		if err != nil {
			t.Fatal(err)
		}
		inLow := ip.As4()[3] < 16
		if i < 239 && inLow {
			t.Fatalf("allocation %d returned %s from the static band", i, ip)
		}
		if inLow {
			low++
		}
	}
	if low != 15 {
		t.Errorf("%d allocations from the static band, want 15", low)
	}
}

func TestServiceIPsIPv6(t *testing.T) {
	ctx := context.Background()
	a := newServiceIPs(t, etcdtest.New(t), "fd00:10:96::/64")
	if got := a.CIDR().String(); got != "fd00:10:96::/64" {
		t.Errorf("CIDR() = %s", got)
	}
	want := map[netip.Addr]string{}
	for i := range 50 {
		ip, err := a.Allocate(ctx, fmt.Sprint("o", i))
		if err != nil {
			t.Fatal(err)
		}
		if !a.CIDR().Contains(ip) || ip == a.CIDR().Addr() {
			t.Fatalf("allocated %s", ip)
		}
		want[ip] = fmt.Sprint("o", i)
	}
	// Beyond the bitmap window, specific allocation still works.
	far := netip.MustParseAddr("fd00:10:96:0:ffff:ffff:ffff:ffff")
	if err := a.AllocateSpecific(ctx, far, "far"); err != nil {
		t.Fatal(err)
	}
	if err := a.AllocateSpecific(ctx, far, "other"); !errors.Is(err, ErrInUse) {
		t.Errorf("far address again: %v, want ErrInUse", err)
	}
	want[far] = "far"
	got, err := a.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if err := a.AllocateSpecific(ctx, netip.MustParseAddr("10.96.0.1"), "o"); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("IPv4 address in an IPv6 range: %v, want ErrOutOfRange", err)
	}
}

// TestDualStackKeys checks that an IPv4 and an IPv6 allocator share the
// key space without seeing each other's addresses.
func TestDualStackKeys(t *testing.T) {
	ctx := context.Background()
	cli := etcdtest.New(t)
	v4 := newServiceIPs(t, cli, "10.96.0.0/24")
	v6 := newServiceIPs(t, cli, "fd00::/120")
	if _, err := v4.Allocate(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := v6.Allocate(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	for _, a := range []*ServiceIPs{v4, v6} {
		l, err := a.List(ctx)
		if err != nil || len(l) != 1 {
			t.Errorf("%s: List = %v, %v; want one entry", a.CIDR(), l, err)
		}
	}
}

func TestNewServiceIPsErrors(t *testing.T) {
	cli := etcdtest.New(t)
	for _, p := range []netip.Prefix{{}, netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("fd00::1/128")} {
		if _, err := NewServiceIPs(cli, p); err == nil {
			t.Errorf("NewServiceIPs(%s) succeeded", p)
		}
	}
	if _, err := NewServiceIPs(nil, netip.MustParsePrefix("10.96.0.0/12")); err == nil {
		t.Error("NewServiceIPs(nil client) succeeded")
	}
}

func TestAllocateCancelled(t *testing.T) {
	a := newServiceIPs(t, etcdtest.New(t), "10.96.0.0/24")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.Allocate(ctx, "o"); !errors.Is(err, context.Canceled) {
		t.Errorf("Allocate with a cancelled context = %v, want context.Canceled", err)
	}
	// A failed claim must not leave its candidate marked.
	ip, err := a.Allocate(context.Background(), "o")
	if err != nil {
		t.Fatal(err)
	}
	if a.sp.bits.Count() != 3 { // the network and broadcast addresses, ip
		t.Errorf("bitmap holds %d bits after one allocation of %s, want 3", a.sp.bits.Count(), ip)
	}
}

// TestServiceIPsStaleCache has another control plane fill most of the
// range after this one loaded its bitmap: this one reloads instead of
// failing on one taken address after another.
func TestServiceIPsStaleCache(t *testing.T) {
	ctx := context.Background()
	srv := etcdtest.Shared(t)
	a := newServiceIPs(t, srv.Client(t, ""), "10.96.0.0/24")
	b := newServiceIPs(t, srv.Client(t, ""), "10.96.0.0/24")
	if _, err := a.Allocate(ctx, "a"); err != nil { // loads a's bitmap
		t.Fatal(err)
	}
	for range 200 {
		if _, err := b.Allocate(ctx, "b"); err != nil {
			t.Fatal(err)
		}
	}
	for range 53 {
		if _, err := a.Allocate(ctx, "a"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Allocate(ctx, "a"); !errors.Is(err, ErrFull) {
		t.Fatalf("Allocate on a full range: %v, want ErrFull", err)
	}
	a.sp.mu.Lock()
	defer a.sp.mu.Unlock()
	if a.sp.gen < 2 {
		t.Errorf("bitmap loaded %d times; want a reload once b's allocations showed", a.sp.gen)
	}
}
