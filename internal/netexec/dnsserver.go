package netexec

// agnhost dns-server: a DNS server answering A and AAAA queries from the
// container's /etc/hosts (which a pod mounts to choose the records), for
// the e2e tests of a pod's custom dnsConfig. Names it does not hold get
// NXDOMAIN.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// ParseHosts reads an /etc/hosts file: fully qualified lower-case name →
// addresses, in file order. Comments and malformed lines are skipped.
func ParseHosts(r io.Reader) (map[string][]netip.Addr, error) {
	out := map[string][]netip.Addr{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		ip, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		for _, name := range f[1:] {
			n := dns.Fqdn(strings.ToLower(name))
			out[n] = append(out[n], ip.Unmap())
		}
	}
	return out, sc.Err()
}

// RunDNSServer serves the records of hostsFile on port (UDP and TCP) until
// ctx ends.
func RunDNSServer(ctx context.Context, port int, hostsFile string) error {
	f, err := os.Open(hostsFile)
	if err != nil {
		return fmt.Errorf("dns-server: %w", err)
	}
	records, err := ParseHosts(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("dns-server: %s: %w", hostsFile, err)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		w.WriteMsg(answerHosts(records, q))
	})
	addr := net.JoinHostPort("", fmt.Sprint(port))
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("dns-server: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		pc.Close()
		return fmt.Errorf("dns-server: %w", err)
	}
	servers := []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}}
	errc := make(chan error, len(servers))
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() {
			if err := s.ActivateAndServe(); err != nil && !errors.Is(err, net.ErrClosed) {
				errc <- err
			}
		})
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	for _, s := range servers {
		s.Shutdown()
	}
	wg.Wait()
	if err != nil {
		return fmt.Errorf("dns-server: %w", err)
	}
	return nil
}

func answerHosts(records map[string][]netip.Addr, q *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	if len(q.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		return m
	}
	qq := q.Question[0]
	addrs, ok := records[strings.ToLower(qq.Name)]
	if !ok {
		m.Rcode = dns.RcodeNameError
		return m
	}
	hdr := dns.RR_Header{Name: qq.Name, Class: dns.ClassINET, Ttl: 5}
	for _, a := range addrs {
		switch {
		case qq.Qtype == dns.TypeA && a.Is4():
			hdr.Rrtype = dns.TypeA
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: a.AsSlice()})
		case qq.Qtype == dns.TypeAAAA && a.Is6():
			hdr.Rrtype = dns.TypeAAAA
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
		}
	}
	return m
}
