package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/netexec"
	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// The sandbox of `bench services`: a node namespace with a bridge, a client
// pod and server pods on it (veth pairs, like the node agent wires pods),
// and a cgroup holding the servers and the load generator, whose CPU time
// is the steady figure on a noisy machine.

var (
	svcPodCIDR     = netip.MustParsePrefix("10.244.1.0/24")
	svcClusterCIDR = netip.MustParsePrefix("10.244.0.0/16")
	svcServiceCIDR = netip.MustParsePrefix("10.96.0.0/12")
	svcGateway     = netip.MustParseAddr("10.244.1.1")
	svcClientAddr  = netip.MustParseAddr("10.244.1.2")
)

const (
	svcBridge     = "sy0"
	svcServerPort = 8080
	svcPort       = 80
	svcRespSize   = 64 // bytes of each keep-alive / new-connection response
)

type svcTopo struct {
	node, client *sandbox.NS
	servers      []*sandbox.NS
	owned        []*sandbox.NS // pod namespaces, deleted by close
	serverAddrs  []netip.Addr
	childCgroup
	procs []*exec.Cmd
	brNF  string // bridge-nf-call-iptables in the node namespace
}

// newSvcTopo builds the sandbox; on error it removes what it made.
func newSvcTopo(ctx context.Context, o *ServicesOptions) (t *svcTopo, err error) {
	t = &svcTopo{}
	defer func() {
		if err != nil {
			err = errors.Join(err, t.close())
			t = nil
		}
	}()
	if t.node, err = sandbox.NewNS(o.Prefix + "-node"); err != nil {
		return t, err
	}
	if err = t.node.Do(setupNode); err != nil {
		return t, fmt.Errorf("node namespace: %w", err)
	}
	if t.brNF, err = readSysctlIn(t.node, "net/bridge/bridge-nf-call-iptables"); err != nil {
		return t, err
	}
	if t.client, err = t.addPod(o.Prefix+"-client", "vc", svcClientAddr); err != nil {
		return t, err
	}
	if err = t.client.Do(func() error {
		return errors.Join(writeSysctl("net/ipv4/ip_local_port_range", "1024 65535"),
			writeSysctl("net/ipv4/tcp_tw_reuse", "1"))
	}); err != nil {
		return t, fmt.Errorf("client port range: %w", err)
	}
	base := netip.MustParseAddr("10.244.1.10")
	for i := range o.Servers {
		addr := base
		for range i {
			addr = addr.Next()
		}
		ns, err := t.addPod(fmt.Sprintf("%s-srv%d", o.Prefix, i), "vs"+strconv.Itoa(i), addr)
		if err != nil {
			return t, err
		}
		t.servers, t.serverAddrs = append(t.servers, ns), append(t.serverAddrs, addr)
	}
	if err = t.makeCgroup(o.Prefix); err != nil {
		return t, err
	}
	return t, t.startServers(ctx, o)
}

// setupNode runs inside the node namespace: bridge with the gateway
// address, forwarding on, bridged traffic through the IP hooks
// (br_netfilter, per namespace: kube-proxy's DNAT of pod-to-pod traffic on
// one bridge depends on it), and a short conntrack TIME_WAIT so that
// hundreds of thousands of new connections do not fill the table.
func setupNode() error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer h.Close()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: svcBridge}}
	if err := h.LinkAdd(br); err != nil {
		return fmt.Errorf("add bridge: %w", err)
	}
	gw := &netlink.Addr{IPNet: &net.IPNet{IP: svcGateway.AsSlice(), Mask: net.CIDRMask(svcPodCIDR.Bits(), 32)}}
	if err := h.AddrAdd(br, gw); err != nil {
		return fmt.Errorf("bridge address: %w", err)
	}
	if err := h.LinkSetUp(br); err != nil {
		return fmt.Errorf("bridge up: %w", err)
	}
	for k, v := range map[string]string{
		"net/ipv4/ip_forward":                                "1",
		"net/bridge/bridge-nf-call-iptables":                 "1",
		"net/netfilter/nf_conntrack_tcp_timeout_time_wait":   "5",
		"net/netfilter/nf_conntrack_tcp_timeout_close_wait":  "5",
		"net/netfilter/nf_conntrack_tcp_timeout_established": "3600",
	} {
		if err := writeSysctl(k, v); err != nil {
			return err
		}
	}
	return nil
}

func writeSysctl(key, val string) error {
	if err := os.WriteFile(filepath.Join("/proc/sys", key), []byte(val), 0); err != nil {
		return fmt.Errorf("sysctl %s: %w", key, err)
	}
	return nil
}

func readSysctlIn(ns *sandbox.NS, key string) (string, error) {
	var v string
	err := ns.Do(func() error {
		b, err := os.ReadFile(filepath.Join("/proc/sys", key))
		v = strings.TrimSpace(string(b))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("sysctl %s in %s: %w", key, ns.Name(), err)
	}
	return v, nil
}

// addPod makes a pod namespace wired to the node bridge with addr.
func (t *svcTopo) addPod(name, hostIf string, addr netip.Addr) (*sandbox.NS, error) {
	ns, err := sandbox.NewNS(name)
	if err != nil {
		return nil, err
	}
	t.owned = append(t.owned, ns)
	if err := sandbox.Link(t.node, hostIf, netip.Prefix{}, ns, "eth0", netip.PrefixFrom(addr, svcPodCIDR.Bits())); err != nil {
		return nil, err
	}
	err = t.node.Do(func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		br, err := h.LinkByName(svcBridge)
		if err != nil {
			return err
		}
		l, err := h.LinkByName(hostIf)
		if err != nil {
			return err
		}
		return h.LinkSetMaster(l, br)
	})
	if err != nil {
		return nil, fmt.Errorf("attach %s to bridge: %w", hostIf, err)
	}
	err = ns.Do(func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		l, err := h.LinkByName("eth0")
		if err != nil {
			return err
		}
		return h.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: svcGateway.AsSlice(),
			Dst: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}})
	})
	if err != nil {
		return nil, fmt.Errorf("pod %s default route: %w", name, err)
	}
	return ns, nil
}

// child returns the command of a benchmark child process (role "serve" or
// "load") started inside ns and inside the benchmark's cgroup.
func (t *svcTopo) child(ctx context.Context, o *ServicesOptions, ns *sandbox.NS, args ...string) *sandbox.Cmd {
	return t.command(ctx, ns, o.Exec, o.Env, args...)
}

func (t *svcTopo) startServers(ctx context.Context, o *ServicesOptions) error {
	for i, ns := range t.servers {
		c := t.child(context.WithoutCancel(ctx), o, ns, "serve", "--port", strconv.Itoa(svcServerPort),
			"--response-size", strconv.Itoa(svcRespSize), "--hostname", fmt.Sprintf("server-%d", i))
		c.Stdout, c.Stderr = o.Log, o.Log
		if err := c.Start(); err != nil {
			return fmt.Errorf("start server %d: %w", i, err)
		}
		t.procs = append(t.procs, c.Cmd)
	}
	for _, a := range t.serverAddrs {
		if err := t.waitHTTP(ctx, netip.AddrPortFrom(a, svcServerPort)); err != nil {
			return err
		}
	}
	return nil
}

// waitHTTP waits until target answers GET /hostname from the client pod.
func (t *svcTopo) waitHTTP(ctx context.Context, target netip.AddrPort) error {
	return waitHostname(ctx, t.client, "the client pod", target)
}

// probe makes one HTTP request from the client pod.
func (t *svcTopo) probe(ctx context.Context, target netip.AddrPort) error {
	return probeHostname(ctx, t.client, target)
}

// runLoad runs the load generator in the client pod and returns its
// figures.
func (t *svcTopo) runLoad(ctx context.Context, o *ServicesOptions, spec LoadSpec) (LoadResult, error) {
	return t.loadIn(ctx, t.client, o.Exec, o.Env, spec, nil)
}

// close stops every child and removes the cgroup and the namespaces.
func (t *svcTopo) close() error {
	var errs []error
	errs = append(errs, t.stopChildren(t.procs))
	for _, ns := range append(t.owned, t.node) {
		if ns != nil {
			errs = append(errs, ns.Close())
		}
	}
	return errors.Join(errs...)
}

// ChildMain runs a child process of `bench services`: "serve --port P
// --response-size N --hostname H" (a netexec server) or "load SPEC-JSON"
// (the load generator, which prints a LoadResult as JSON).
func ChildMain(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("bench child: want serve or load")
	}
	switch args[0] {
	case "serve":
		cfg := netexec.Config{}
		port := svcServerPort
		for i := 1; i+1 < len(args); i += 2 {
			switch args[i] {
			case "--port":
				port, _ = strconv.Atoi(args[i+1])
			case "--response-size":
				cfg.ResponseSize, _ = strconv.Atoi(args[i+1])
			case "--hostname":
				cfg.Hostname = args[i+1]
			default:
				return fmt.Errorf("bench child serve: unknown flag %s", args[i])
			}
		}
		cfg.HTTPAddr = ":" + strconv.Itoa(port)
		return netexec.Run(ctx, cfg)
	case "load":
		if len(args) != 2 {
			return errors.New("bench child load: want one JSON spec")
		}
		var spec LoadSpec
		if err := json.Unmarshal([]byte(args[1]), &spec); err != nil {
			return fmt.Errorf("bench child load: %w", err)
		}
		r, err := RunLoad(ctx, spec)
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(r)
	}
	return fmt.Errorf("bench child: unknown role %q", args[0])
}
