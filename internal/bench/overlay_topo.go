package bench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"

	"github.com/vishvananda/netlink"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

var overlayClusterCIDR = netip.MustParsePrefix("10.244.0.0/16")

const (
	overlayServerPort         = 8080
	overlayIperfPort   uint16 = 5201
	overlayUnderlayMTU        = 1500
)

// overlayTopo is the sandbox of `bench overlay`.
type overlayTopo struct {
	ul     *sandbox.NS
	nodes  []OverlayNode
	pods   []*sandbox.NS
	podIPs []netip.Addr
	childCgroup
	procs []*exec.Cmd
	lbs   []LB
}

// newOverlayTopo builds two nodes on the underlay, a pod on each, and
// netexec servers in node 2 and its pod; on error it removes what it made.
func newOverlayTopo(ctx context.Context, o *OverlayOptions) (t *overlayTopo, err error) {
	t = &overlayTopo{}
	defer func() {
		if err != nil {
			err = errors.Join(err, t.close())
			t = nil
		}
	}()
	if t.ul, err = sandbox.NewNS(o.Prefix + "-ul"); err != nil {
		return t, err
	}
	if err = t.ul.Do(func() error {
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "ul0", MTU: overlayUnderlayMTU}}); err != nil {
			return fmt.Errorf("underlay bridge: %w", err)
		}
		l, err := netlink.LinkByName("ul0")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(l)
	}); err != nil {
		return t, err
	}
	for i := 1; i <= 2; i++ {
		if err := t.addNode(o.Prefix, i); err != nil {
			return t, err
		}
	}
	if err = t.makeCgroup(o.Prefix); err != nil {
		return t, err
	}
	for _, ns := range []*sandbox.NS{t.nodes[1].NS, t.pods[1]} {
		c := t.child(context.WithoutCancel(ctx), o, ns, "serve", "--port", strconv.Itoa(overlayServerPort),
			"--response-size", strconv.Itoa(svcRespSize), "--hostname", ns.Name())
		c.Stdout, c.Stderr = o.Log, o.Log
		if err := c.Start(); err != nil {
			return t, fmt.Errorf("start server: %w", err)
		}
		pin(c.Process.Pid, 1)
		t.procs = append(t.procs, c.Cmd)
	}
	return t, t.waitHTTP(ctx, t.nodes[0].NS, netip.AddrPortFrom(t.nodes[1].IP, overlayServerPort))
}

// addNode makes node i (198.51.100.1i on the underlay bridge, pod CIDR
// 10.244.i.0/24) and its pod (10.244.i.2, gateway 10.244.i.1).
func (t *overlayTopo) addNode(prefix string, i int) error {
	n := OverlayNode{Name: fmt.Sprintf("n%d", i), IP: netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)}),
		PodCIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244, byte(i), 0}), 24)}
	var err error
	if n.NS, err = sandbox.NewNS(fmt.Sprintf("%s-n%d", prefix, i)); err != nil {
		return err
	}
	t.nodes = append(t.nodes, n)
	port := fmt.Sprintf("p%d", i)
	if err := sandbox.Link(n.NS, "eth0", netip.PrefixFrom(n.IP, 24), t.ul, port, netip.Prefix{}); err != nil {
		return err
	}
	if err := t.ul.Do(func() error {
		p, err := netlink.LinkByName(port)
		if err != nil {
			return err
		}
		br, err := netlink.LinkByName("ul0")
		if err != nil {
			return err
		}
		return netlink.LinkSetMaster(p, br)
	}); err != nil {
		return fmt.Errorf("underlay port: %w", err)
	}
	if err := n.NS.Do(func() error {
		for k, v := range map[string]string{
			"net/ipv4/ip_forward":                              "1",
			"net/netfilter/nf_conntrack_tcp_timeout_time_wait": "5",
			"net/ipv4/ip_local_port_range":                     "1024 65535",
			"net/ipv4/tcp_tw_reuse":                            "1",
		} {
			if err := writeSysctl(k, v); err != nil && k != "net/netfilter/nf_conntrack_tcp_timeout_time_wait" {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	pod, err := sandbox.NewNS(fmt.Sprintf("%s-pod%d", prefix, i))
	if err != nil {
		return err
	}
	t.pods = append(t.pods, pod)
	gw := n.PodCIDR.Addr().Next()
	ip := gw.Next()
	t.podIPs = append(t.podIPs, ip)
	if err := sandbox.Link(n.NS, "veth0", netip.PrefixFrom(gw, 24), pod, "eth0", netip.PrefixFrom(ip, 24)); err != nil {
		return err
	}
	return pod.Do(func() error {
		if err := errors.Join(writeSysctl("net/ipv4/ip_local_port_range", "1024 65535"), writeSysctl("net/ipv4/tcp_tw_reuse", "1")); err != nil {
			return err
		}
		return netlink.RouteAdd(&netlink.Route{Gw: gw.AsSlice()})
	})
}

// setPodMTU sets both ends of every pod's veth to mtu, as the agent gives
// pods the overlay's MTU.
func (t *overlayTopo) setPodMTU(mtu int) error {
	for i, n := range t.nodes {
		for _, x := range []struct {
			ns  *sandbox.NS
			dev string
		}{{n.NS, "veth0"}, {t.pods[i], "eth0"}} {
			if err := x.ns.Do(func() error {
				l, err := netlink.LinkByName(x.dev)
				if err != nil {
					return err
				}
				return netlink.LinkSetMTU(l, mtu)
			}); err != nil {
				return fmt.Errorf("pod MTU: %w", err)
			}
		}
	}
	return nil
}

func (t *overlayTopo) child(ctx context.Context, o *OverlayOptions, ns *sandbox.NS, args ...string) *sandbox.Cmd {
	return t.command(ctx, ns, o.Exec, o.Env, args...)
}

// waitHTTP waits until target answers GET /hostname from ns.
func (t *overlayTopo) waitHTTP(ctx context.Context, ns *sandbox.NS, target netip.AddrPort) error {
	return waitHostname(ctx, ns, ns.Name(), target)
}

// close stops every child and removes the cgroup and the namespaces.
func (t *overlayTopo) close() error {
	var errs []error
	for _, lb := range t.lbs {
		errs = append(errs, lb.Clear(context.Background()))
	}
	errs = append(errs, t.stopChildren(t.procs))
	for _, ns := range t.pods {
		errs = append(errs, ns.Close())
	}
	for _, n := range t.nodes {
		errs = append(errs, n.NS.Close())
	}
	if t.ul != nil {
		errs = append(errs, t.ul.Close())
	}
	return errors.Join(errs...)
}
