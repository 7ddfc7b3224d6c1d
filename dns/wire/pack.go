package wire

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// Sections are the records of a Body before packing.
type Sections struct {
	Answer, Ns, Extra []dns.RR
}

// Pack packs s into a Body for questions named qname (lower case, fully
// qualified). Records owned by qname get a pointer to the question; all
// other names are written in full, so the Body is valid after any
// question of the same length, whatever its case.
func Pack(qname string, s Sections) (Body, error) {
	var b Body
	buf := make([]byte, 0, 128)
	for _, sec := range []struct {
		rrs []dns.RR
		n   *uint16
	}{{s.Answer, &b.An}, {s.Ns, &b.Ns}, {s.Extra, &b.Ar}} {
		for _, rr := range sec.rrs {
			var err error
			if buf, err = packRR(buf, rr, qname); err != nil {
				return Body{}, err
			}
			*sec.n++
		}
	}
	b.Data = buf
	return b, nil
}

func packRR(buf []byte, rr dns.RR, qname string) ([]byte, error) {
	tmp := make([]byte, dns.Len(rr)+16)
	n, err := dns.PackRR(rr, tmp, 0, nil, false)
	if err != nil {
		return nil, fmt.Errorf("pack %s: %w", rr.Header().Name, err)
	}
	tmp = tmp[:n]
	if strings.EqualFold(rr.Header().Name, qname) {
		buf = append(buf, 0xC0, HeaderLen)
		return append(buf, tmp[NameLen(qname):]...), nil
	}
	return append(buf, tmp...), nil
}

// NameLen is the wire length of a fully qualified name without escapes
// in presentation format ("." is 1 byte: the root label).
func NameLen(name string) int {
	if name == "." {
		return 1
	}
	return len(name) + 1
}
