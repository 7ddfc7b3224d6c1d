package index

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// Zone kinds of a name.
const (
	KindForward = iota // not ours: forwarded upstream
	KindCluster        // in the cluster zone
	KindReverse        // under in-addr.arpa. or ip6.arpa.
)

const (
	reverseV4 = "in-addr.arpa."
	reverseV6 = "ip6.arpa."
)

// hasSuffixLabel reports whether name equals zone or ends with "."+zone.
func hasSuffixLabel[T string | []byte](name T, zone string) bool {
	n, z := len(name), len(zone)
	if n < z || string(name[n-z:]) != zone {
		return false
	}
	return n == z || name[n-z-1] == '.'
}

// dashed is the address with '.' and ':' replaced by '-', the label form
// of pod and headless endpoint names ("10-244-1-5", "fd00--5").
func dashed(ip netip.Addr) string {
	return strings.NewReplacer(".", "-", ":", "-").Replace(ip.String())
}

// undash parses a dashed label back to an address.
func undash(label string) (netip.Addr, bool) {
	var s string
	if strings.Count(label, "-") == 3 && !strings.Contains(label, "--") {
		s = strings.ReplaceAll(label, "-", ".")
	} else {
		s = strings.ReplaceAll(label, "-", ":")
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || dashed(ip) != label {
		return netip.Addr{}, false
	}
	return ip, true
}

// reverseName is the PTR owner name of ip.
func reverseName(ip netip.Addr) string {
	name, _ := dns.ReverseAddr(ip.String())
	return name
}

// ReverseIP parses a full reverse name back to its address.
func ReverseIP(name string) (netip.Addr, bool) {
	switch {
	case hasSuffixLabel(name, reverseV4):
		parts := strings.Split(strings.TrimSuffix(name, "."+reverseV4), ".")
		if len(parts) != 4 {
			return netip.Addr{}, false
		}
		ip, err := netip.ParseAddr(parts[3] + "." + parts[2] + "." + parts[1] + "." + parts[0])
		return ip, err == nil && reverseName(ip) == name
	case hasSuffixLabel(name, reverseV6):
		nibbles := strings.Split(strings.TrimSuffix(name, "."+reverseV6), ".")
		if len(nibbles) != 32 {
			return netip.Addr{}, false
		}
		var b strings.Builder
		for i := 31; i >= 0; i-- {
			b.WriteString(nibbles[i])
			if i%4 == 0 && i > 0 {
				b.WriteByte(':')
			}
		}
		ip, err := netip.ParseAddr(b.String())
		return ip, err == nil && reverseName(ip) == name
	}
	return netip.Addr{}, false
}

// parent is name without its first label ("" for the root).
func parent(name string) string {
	if name == "." {
		return ""
	}
	i := strings.IndexByte(name, '.')
	if i == len(name)-1 {
		return "."
	}
	return name[i+1:]
}
