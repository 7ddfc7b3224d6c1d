package netexec

// coredns: the few CoreDNS behaviours upstream test manifests rely on, for
// the image registry.k8s.io/coredns/coredns run without a container
// runtime (the Gateway API conformance base manifests run one as the
// UDPRoute backend, and their namespace is ready only once it runs). It
// reads the Corefile named by -conf: server blocks "ZONE[:PORT] ... {"
// with the plugins whoami (answers with the client's address and port, as
// CoreDNS's whoami plugin does), forward (relays to the listed upstreams;
// no answer within 2s is SERVFAIL), and log, errors, health, ready
// (accepted, nothing to do). Any other plugin is refused at start with its
// name, so a manifest needing more fails clearly instead of answering
// wrongly.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// CorefileBlock is one server block: its zones, port and plugins.
type CorefileBlock struct {
	Zones   []string // fully qualified, lower case
	Port    int
	WhoAmI  bool
	Forward []string // upstream host:port
}

// ParseCorefile reads the supported subset of a Corefile.
func ParseCorefile(r io.Reader) ([]CorefileBlock, error) {
	var blocks []CorefileBlock
	var cur *CorefileBlock
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if cur == nil {
			if f[len(f)-1] != "{" {
				return nil, fmt.Errorf("corefile line %d: want a server block \"ZONE[:PORT] {\"", n)
			}
			b := CorefileBlock{Port: 53}
			for _, key := range f[:len(f)-1] {
				zone, port, hasPort := strings.Cut(strings.TrimPrefix(key, "dns://"), ":")
				if hasPort {
					p, err := strconv.Atoi(port)
					if err != nil || p < 0 || p > 65535 { // 0: any free port
						return nil, fmt.Errorf("corefile line %d: bad port in %q", n, key)
					}
					b.Port = p
				}
				b.Zones = append(b.Zones, dns.Fqdn(strings.ToLower(zone)))
			}
			if len(b.Zones) == 0 {
				return nil, fmt.Errorf("corefile line %d: server block without a zone", n)
			}
			blocks = append(blocks, b)
			cur = &blocks[len(blocks)-1]
			continue
		}
		switch f[0] {
		case "}":
			cur = nil
		case "whoami":
			cur.WhoAmI = true
		case "forward":
			if len(f) < 3 {
				return nil, fmt.Errorf("corefile line %d: forward FROM TO...", n)
			}
			for _, to := range f[2:] {
				if to == "{" {
					return nil, fmt.Errorf("corefile line %d: forward options are not supported", n)
				}
				if _, _, err := net.SplitHostPort(to); err != nil {
					to = net.JoinHostPort(to, "53")
				}
				cur.Forward = append(cur.Forward, to)
			}
		case "log", "errors", "health", "ready":
		default:
			return nil, fmt.Errorf("corefile line %d: plugin %q is not built into switchyard's coredns (whoami, forward, log, errors, health, ready are)", n, f[0])
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("corefile: server block %v not closed", cur.Zones)
	}
	return blocks, sc.Err()
}

// corednsHandler answers for the blocks of one port: the block with the
// longest zone containing the query name.
type corednsHandler struct {
	blocks []CorefileBlock
}

func (h corednsHandler) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	if len(q.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	name := strings.ToLower(q.Question[0].Name)
	var best *CorefileBlock
	bestLen := -1
	for i := range h.blocks {
		for _, z := range h.blocks[i].Zones {
			if dns.IsSubDomain(z, name) && len(z) > bestLen {
				best, bestLen = &h.blocks[i], len(z)
			}
		}
	}
	switch {
	case best == nil:
		m.Rcode = dns.RcodeRefused
	case best.WhoAmI:
		whoami(m, w.RemoteAddr())
	case len(best.Forward) > 0:
		if r := forward(q, best.Forward); r != nil {
			r.Id = q.Id
			w.WriteMsg(r)
			return
		}
		m.Rcode = dns.RcodeServerFailure
	default:
		m.Rcode = dns.RcodeRefused
	}
	w.WriteMsg(m)
}

// whoami answers as CoreDNS's whoami plugin: the client's address (A or
// AAAA) and an SRV record with its port, in the additional section.
func whoami(m *dns.Msg, remote net.Addr) {
	m.Authoritative = true
	q := m.Question[0]
	var ip netip.Addr
	var port int
	proto := "udp"
	switch a := remote.(type) {
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
		port = a.Port
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
		port, proto = a.Port, "tcp"
	}
	ip = ip.Unmap()
	hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 0}
	if ip.Is4() {
		hdr.Rrtype = dns.TypeA
		m.Extra = append(m.Extra, &dns.A{Hdr: hdr, A: ip.AsSlice()})
	} else {
		hdr.Rrtype = dns.TypeAAAA
		m.Extra = append(m.Extra, &dns.AAAA{Hdr: hdr, AAAA: ip.AsSlice()})
	}
	m.Extra = append(m.Extra, &dns.SRV{
		Hdr:  dns.RR_Header{Name: "_" + proto + "." + q.Name, Rrtype: dns.TypeSRV, Class: dns.ClassINET},
		Port: uint16(port), Target: ".",
	})
}

func forward(q *dns.Msg, upstreams []string) *dns.Msg {
	c := &dns.Client{Timeout: 2 * time.Second}
	for _, up := range upstreams {
		if r, _, err := c.Exchange(q, up); err == nil {
			return r
		}
	}
	return nil
}

// RunCoreDNS serves the Corefile's blocks (UDP and TCP on each block's
// port) until ctx ends.
func RunCoreDNS(ctx context.Context, blocks []CorefileBlock, ready func(addrs []net.Addr)) error {
	byPort := map[int][]CorefileBlock{}
	for _, b := range blocks {
		byPort[b.Port] = append(byPort[b.Port], b)
	}
	var servers []*dns.Server
	var addrs []net.Addr
	defer func() {
		for _, s := range servers {
			s.Shutdown()
		}
	}()
	for port, bs := range byPort {
		addr := net.JoinHostPort("", strconv.Itoa(port))
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return fmt.Errorf("coredns: %w", err)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			pc.Close()
			return fmt.Errorf("coredns: %w", err)
		}
		h := corednsHandler{blocks: bs}
		for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: l, Handler: h}} {
			servers = append(servers, s)
			go s.ActivateAndServe()
		}
		addrs = append(addrs, pc.LocalAddr(), l.Addr())
	}
	if ready != nil {
		ready(addrs)
	}
	<-ctx.Done()
	return nil
}
