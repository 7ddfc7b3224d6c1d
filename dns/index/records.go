package index

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// SchemaVersion is the DNS specification version served at
// dns-version.<zone>.
const SchemaVersion = "1.1.0"

// contribution is what one owner (an object) puts at one name: records,
// and the additional-section records that go with answers from them (SRV
// targets' addresses, the NS record's glue). An empty contribution makes
// the name exist without records.
type contribution struct {
	rrs   []dns.RR
	extra []dns.RR
}

// records maps names to one owner's contributions.
type records map[string]*contribution

func (r records) touch(name string) *contribution {
	c := r[name]
	if c == nil {
		c = &contribution{}
		r[name] = c
	}
	return c
}

func (r records) add(name string, rr dns.RR, extra ...dns.RR) {
	if !validName(name) {
		return // a name no resolver could ask for (label over 63 bytes...)
	}
	switch v := rr.(type) {
	case *dns.SRV:
		if !validName(v.Target) {
			return
		}
	case *dns.PTR:
		if !validName(v.Ptr) {
			return
		}
	}
	c := r.touch(name)
	for _, have := range c.rrs {
		if dns.IsDuplicate(have, rr) {
			return
		}
	}
	c.rrs = append(c.rrs, rr)
	c.extra = append(c.extra, extra...)
}

func validName(name string) bool {
	n, ok := dns.IsDomainName(name)
	return ok && n > 0 && len(name) <= 254 && !strings.ContainsAny(name, "\\ ")
}

// builder makes records with the index's zone and TTL.
type builder struct {
	zone string
	ttl  uint32
}

func (b builder) hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: b.ttl}
}

func (b builder) addr(name string, ip netip.Addr) dns.RR {
	if ip.Is4() {
		return &dns.A{Hdr: b.hdr(name, dns.TypeA), A: ip.AsSlice()}
	}
	return &dns.AAAA{Hdr: b.hdr(name, dns.TypeAAAA), AAAA: ip.AsSlice()}
}

func (b builder) ptr(ip netip.Addr, target string) dns.RR {
	return &dns.PTR{Hdr: b.hdr(reverseName(ip), dns.TypePTR), Ptr: target}
}

func (b builder) srv(name string, port int32, weight uint16, target string) dns.RR {
	return &dns.SRV{Hdr: b.hdr(name, dns.TypeSRV), Priority: 0, Weight: weight, Port: uint16(port), Target: target}
}

// soa is the zone's SOA record; its minimum (the negative-caching TTL of
// RFC 2308) is the record TTL.
func (b builder) soa(apex string, serial uint32) *dns.SOA {
	return &dns.SOA{Hdr: b.hdr(apex, dns.TypeSOA), Ns: "ns.dns." + b.zone, Mbox: "hostmaster." + b.zone,
		Serial: serial, Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: b.ttl}
}

// staticRecords are the zone's own names: the apex SOA and NS (with the
// name server's address), dns-version TXT, and the svc and pod
// non-terminals.
func (b builder) staticRecords(dnsIP netip.Addr, pods bool) records {
	r := records{}
	ns := "ns.dns." + b.zone
	var glue []dns.RR
	if dnsIP.IsValid() {
		glue = []dns.RR{b.addr(ns, dnsIP)}
		r.add(ns, glue[0])
	}
	r.add(b.zone, &dns.NS{Hdr: b.hdr(b.zone, dns.TypeNS), Ns: ns}, glue...)
	r.add("dns-version."+b.zone, &dns.TXT{Hdr: b.hdr("dns-version."+b.zone, dns.TypeTXT), Txt: []string{SchemaVersion}})
	r.touch("svc." + b.zone)
	if pods {
		r.touch("pod." + b.zone)
	}
	return r
}

// namespaceRecords make <ns>.svc.<zone> (and <ns>.pod.<zone>) exist.
func (b builder) namespaceRecords(ns string, pods bool) records {
	r := records{}
	r.touch(strings.ToLower(ns) + ".svc." + b.zone)
	if pods {
		r.touch(strings.ToLower(ns) + ".pod." + b.zone)
	}
	return r
}

// podRecords are a pod's verified a-b-c-d.<ns>.pod.<zone> records.
func (b builder) podRecords(pod *corev1.Pod) records {
	r := records{}
	for _, s := range podIPs(pod) {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		r.add(dashed(ip)+"."+strings.ToLower(pod.Namespace)+".pod."+b.zone, b.addr(dashed(ip)+"."+strings.ToLower(pod.Namespace)+".pod."+b.zone, ip))
	}
	return r
}

func podIPs(pod *corev1.Pod) []string {
	var out []string
	for _, p := range pod.Status.PodIPs {
		out = append(out, p.IP)
	}
	if len(out) == 0 && pod.Status.PodIP != "" {
		out = append(out, pod.Status.PodIP)
	}
	return out
}

// serviceRecords are a Service's records, from the service and its
// EndpointSlices.
func (b builder) serviceRecords(svc *corev1.Service, slices []*discoveryv1.EndpointSlice) records {
	r := records{}
	base := strings.ToLower(svc.Name + "." + svc.Namespace + ".svc." + b.zone)
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		if svc.Spec.ExternalName != "" {
			target := dns.Fqdn(strings.ToLower(svc.Spec.ExternalName))
			if _, ok := dns.IsDomainName(target); ok {
				r.add(base, &dns.CNAME{Hdr: b.hdr(base, dns.TypeCNAME), Target: target})
			}
		}
	case svc.Spec.ClusterIP == corev1.ClusterIPNone:
		b.headless(r, base, svc, slices)
	case svc.Spec.ClusterIP != "":
		b.clusterIP(r, base, svc)
	}
	return r
}

func (b builder) clusterIP(r records, base string, svc *corev1.Service) {
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 {
		ips = []string{svc.Spec.ClusterIP}
	}
	var addrs []dns.RR
	for _, s := range ips {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		rr := b.addr(base, ip)
		addrs = append(addrs, rr)
		r.add(base, rr)
		r.add(reverseName(ip), b.ptr(ip, base))
	}
	if len(addrs) == 0 {
		return
	}
	for _, p := range svc.Spec.Ports {
		if p.Name == "" {
			continue
		}
		name := "_" + strings.ToLower(p.Name) + "._" + proto(p.Protocol) + "." + base
		r.add(name, b.srv(name, p.Port, 100, base), addrs...)
	}
}

func proto(p corev1.Protocol) string {
	if p == "" {
		return "tcp"
	}
	return strings.ToLower(string(p))
}

// endpoint is one published endpoint address of a headless service.
type endpoint struct {
	ip   netip.Addr
	name string // <hostname or dashed IP>.<base>
}

func (b builder) headless(r records, base string, svc *corev1.Service, slices []*discoveryv1.EndpointSlice) {
	seen := map[netip.Addr]bool{}
	for _, s := range sortedSlices(slices) {
		var eps []endpoint
		for _, ep := range s.Endpoints {
			if !published(svc, ep) {
				continue
			}
			for _, a := range ep.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil {
					continue
				}
				host := dashed(ip)
				if ep.Hostname != nil && *ep.Hostname != "" {
					host = strings.ToLower(*ep.Hostname)
				}
				e := endpoint{ip: ip, name: host + "." + base}
				eps = append(eps, e)
				if seen[ip] {
					continue
				}
				seen[ip] = true
				r.add(base, b.addr(base, ip))
				r.add(e.name, b.addr(e.name, ip))
				r.add(reverseName(ip), b.ptr(ip, e.name))
			}
		}
		b.headlessSRV(r, base, s, eps)
	}
}

// headlessSRV adds one SRV record per endpoint for each named port of the
// slice, weighted evenly as CoreDNS does.
func (b builder) headlessSRV(r records, base string, s *discoveryv1.EndpointSlice, eps []endpoint) {
	if len(eps) == 0 {
		return
	}
	for _, p := range s.Ports {
		if p.Name == nil || *p.Name == "" || p.Port == nil {
			continue
		}
		pr := corev1.ProtocolTCP
		if p.Protocol != nil {
			pr = *p.Protocol
		}
		name := "_" + strings.ToLower(*p.Name) + "._" + proto(pr) + "." + base
		weight := uint16(max(1, 100/len(eps)))
		for _, e := range eps {
			r.add(name, b.srv(name, *p.Port, weight, e.name), b.addr(e.name, e.ip))
		}
	}
}

// published reports whether a headless service publishes the endpoint:
// ready ones (an unset condition counts as ready), and every one with
// publishNotReadyAddresses.
func published(svc *corev1.Service, ep discoveryv1.Endpoint) bool {
	if svc.Spec.PublishNotReadyAddresses {
		return true
	}
	return ep.Conditions.Ready == nil || *ep.Conditions.Ready
}

// sortedSlices orders slices by name so that records come out the same
// whatever the informer's order.
func sortedSlices(in []*discoveryv1.EndpointSlice) []*discoveryv1.EndpointSlice {
	out := slices.Clone(in)
	slices.SortFunc(out, func(a, b *discoveryv1.EndpointSlice) int { return strings.Compare(a.Name, b.Name) })
	return out
}
