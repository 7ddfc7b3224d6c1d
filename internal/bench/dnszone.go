package bench

import (
	"fmt"
	"net/netip"
	"strings"
)

// The DNS benchmark's cluster: names ClusterIP services svc-<i> in the
// default namespace. Both servers get exactly these records: switchyard
// through its index, CoreDNS as a zone file or hosts file.

// Zone is the benchmark cluster's DNS zone.
const Zone = "cluster.local."

// ServiceIP is the ClusterIP of svc-<i>.
func ServiceIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 96, byte(1 + i/250), byte(1 + i%250)})
}

// ServiceName is the FQDN of svc-<i>.
func ServiceName(i int) string { return fmt.Sprintf("svc-%d.default.svc.%s", i, Zone) }

// ZoneFile is the cluster zone in RFC 1035 format (CoreDNS's file plugin).
func ZoneFile(names int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n$TTL 5\n", Zone)
	fmt.Fprintf(&b, "@ IN SOA ns.dns.%s hostmaster.%s 1 7200 1800 86400 5\n", Zone, Zone)
	fmt.Fprintf(&b, "@ IN NS ns.dns.%s\nns.dns IN A 10.96.0.10\n", Zone)
	fmt.Fprintf(&b, "dns-version IN TXT \"1.1.0\"\n")
	for i := range names {
		fmt.Fprintf(&b, "svc-%d.default.svc IN A %s\n", i, ServiceIP(i))
	}
	return b.String()
}

// HostsFile is the same zone as an /etc/hosts file (CoreDNS's hosts plugin).
func HostsFile(names int) string {
	var b strings.Builder
	for i := range names {
		fmt.Fprintf(&b, "%s %s\n", ServiceIP(i), strings.TrimSuffix(ServiceName(i), "."))
	}
	return b.String()
}
