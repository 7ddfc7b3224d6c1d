package l2announce

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// TestResponder: a node and a client namespace on one link. The client's
// kernel resolves an announced address to the node's MAC, gets no answer
// once it is withdrawn, and moves its cached entry to the node when the
// node sends gratuitous ARP.
func TestResponder(t *testing.T) {
	node := sandbox.NewTestNS(t, "sy-l2-node")
	client := sandbox.NewTestNS(t, "sy-l2-cl")
	if err := sandbox.Link(node, "eth0", netip.MustParsePrefix("198.51.100.11/24"), client, "eth0", netip.MustParsePrefix("203.0.113.2/24")); err != nil {
		t.Fatal(err)
	}
	var r *Responder
	if err := node.Do(func() (err error) {
		r, err = NewResponder("eth0", slog.New(slog.NewTextHandler(io.Discard, nil)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Serve() }()
	defer func() {
		r.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	mac := r.HardwareAddr().String()

	if err := r.Announce(vip); err != nil {
		t.Fatal(err)
	}
	if got := resolve(t, client, vip); got != mac {
		t.Fatalf("client resolved %s to %q, want the node's %s", vip, got, mac)
	}

	r.Withdraw(vip)
	flush(t, client)
	if got := resolve(t, client, vip); got != "" {
		t.Fatalf("withdrawn %s still resolves to %s", vip, got)
	}

	// A stale entry pointing elsewhere moves to the node on gratuitous ARP.
	bogus, _ := net.ParseMAC("02:00:00:00:00:99")
	if err := client.Do(func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		return netlink.NeighSet(&netlink.Neigh{LinkIndex: l.Attrs().Index, Family: netlink.FAMILY_V4, State: netlink.NUD_STALE,
			IP: vip.AsSlice(), HardwareAddr: bogus})
	}); err != nil {
		t.Fatal(err)
	}
	if err := r.Gratuitous(vip); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for cached(t, client, vip) != mac {
		if time.Now().After(deadline) {
			t.Fatalf("after gratuitous ARP the client caches %s at %s, want %s", vip, cached(t, client, vip), mac)
		}
		_ = r.Gratuitous(vip)
		time.Sleep(100 * time.Millisecond)
	}
}

// resolve sends a datagram to addr from n, which makes n's kernel ARP for
// it, and returns the MAC it learnt ("" when none answered in 4 s).
func resolve(t *testing.T, n *sandbox.NS, addr netip.Addr) string {
	t.Helper()
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		if err := n.Do(func() error {
			c, err := net.Dial("udp4", netip.AddrPortFrom(addr, 9).String())
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write([]byte("x"))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if mac := cached(t, n, addr); mac != "" {
			return mac
		}
		time.Sleep(200 * time.Millisecond)
	}
	return ""
}

// cached is n's ARP entry for addr in a usable state, or "".
func cached(t *testing.T, n *sandbox.NS, addr netip.Addr) string {
	t.Helper()
	var mac string
	if err := n.Do(func() error {
		neighs, err := netlink.NeighList(0, netlink.FAMILY_V4)
		for _, ne := range neighs {
			ok := ne.State&(netlink.NUD_REACHABLE|netlink.NUD_STALE|netlink.NUD_DELAY|netlink.NUD_PROBE) != 0
			if ok && ne.IP.Equal(addr.AsSlice()) && ne.HardwareAddr != nil {
				mac = ne.HardwareAddr.String()
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return mac
}

func flush(t *testing.T, n *sandbox.NS) {
	t.Helper()
	if err := n.Do(func() error {
		neighs, err := netlink.NeighList(0, netlink.FAMILY_V4)
		for i := range neighs {
			_ = netlink.NeighDel(&neighs[i])
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
