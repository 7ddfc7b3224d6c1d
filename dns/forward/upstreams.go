package forward

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
)

// ParseUpstream parses "ADDR" or "ADDR:PORT" ("[V6]:PORT"); the port
// defaults to 53.
func ParseUpstream(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	ip, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("upstream %q: want an IP address, optionally with :port", s)
	}
	return netip.AddrPortFrom(ip.Unmap(), 53), nil
}

// HostUpstreams reads the nameservers of a resolv.conf (port 53).
func HostUpstreams(path string) ([]netip.AddrPort, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var out []netip.AddrPort
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		ip, err := netip.ParseAddr(strings.SplitN(f[1], "%", 2)[0])
		if err != nil {
			continue
		}
		out = append(out, netip.AddrPortFrom(ip.Unmap(), 53))
	}
	return out, nil
}

// WithoutSelf splits ups into those that are not one of the server's own
// listen addresses and those that are (a forwarding loop). An unspecified
// listen address (0.0.0.0, ::) matches every local address with its port,
// as does any loopback upstream on that port.
func WithoutSelf(ups []netip.AddrPort, self []netip.AddrPort) (kept, loops []netip.AddrPort) {
	for _, u := range ups {
		if isSelf(u, self) {
			loops = append(loops, u)
		} else {
			kept = append(kept, u)
		}
	}
	return kept, loops
}

func isSelf(u netip.AddrPort, self []netip.AddrPort) bool {
	for _, s := range self {
		if u.Port() != s.Port() {
			continue
		}
		if u.Addr() == s.Addr() || (s.Addr().IsUnspecified() && IsLocal(u.Addr())) {
			return true
		}
	}
	return false
}

// IsLocal reports whether ip is a loopback address or one assigned to an
// interface of this network namespace.
func IsLocal(ip netip.Addr) bool { return ip.IsLoopback() || localAddr(ip) }

// localAddr reports whether ip is assigned to an interface here.
func localAddr(ip netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if p, ok := netip.AddrFromSlice(n.IP); ok && p.Unmap() == ip {
				return true
			}
		}
	}
	return false
}
