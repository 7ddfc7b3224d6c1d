package netpol

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Drifted reports whether the kernel no longer holds what the last Sync
// programmed: a missing table, chain, rule, map or set element, or a
// rule or element someone added or changed (pod chain rules are compared
// by their comments, allow sets element by element). After a true answer the next Sync
// replaces the table.
func (b *Backend) Drifted(ctx context.Context) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.valid {
		return true, nil
	}
	c, err := b.conn()
	if err != nil {
		return false, err
	}
	drifted, err := b.compare(c)
	if err != nil {
		return false, fmt.Errorf("netpol: read back: %w", err)
	}
	if drifted {
		b.valid = false
	}
	return drifted, nil
}

func (b *Backend) compare(c *nftables.Conn) (bool, error) {
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, err
	}
	want := map[string]bool{chForward: true, chInput: true, chPolicy: true}
	for name := range b.prs {
		want[name] = true
	}
	got := map[string]*nftables.Chain{}
	for _, ch := range chains {
		if ch.Table.Name == Table {
			got[ch.Name] = ch
		}
	}
	if len(got) != len(want) {
		return true, nil
	}
	for name := range want {
		if got[name] == nil {
			return true, nil
		}
	}
	wantRules := map[string]int{chForward: 1, chInput: 1, chPolicy: 5}
	for name, ch := range got {
		rules, err := c.GetRules(table, ch)
		if err != nil {
			return false, err
		}
		if n, base := wantRules[name]; base {
			if len(rules) != n {
				return true, nil
			}
			continue
		}
		var comments []string
		for _, r := range rules {
			s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			comments = append(comments, s)
		}
		if !slices.Equal(comments, podComments(b.pods[name])) {
			return true, nil
		}
		els, err := c.GetSetElements(allowSet(name))
		if err != nil {
			return false, err
		}
		if len(els) != len(b.elems[name]) {
			return true, nil
		}
		for _, e := range els {
			if !b.elems[name][keyElem(e.Key, e.KeyEnd)] {
				return true, nil
			}
		}
	}
	elems := map[string]string{}
	for _, m := range []struct{ dir, name string }{{"in", mapIngress}, {"eg", mapEgress}} {
		els, err := c.GetSetElements(&nftables.Set{Table: table, Name: m.name, IsMap: true, KeyType: nftables.TypeIPAddr, DataType: nftables.TypeVerdict})
		if err != nil {
			return false, err
		}
		for _, e := range els {
			ip, ok := netip.AddrFromSlice(e.Key)
			chain := verdictChain(e.Val)
			if !ok || chain == "" {
				return true, nil
			}
			elems[m.dir+"/"+ip.String()] = chain
		}
	}
	return !maps.Equal(elems, b.vmaps), nil
}

// keyElem reads an allow-set element back (elemKeys reversed); a
// malformed one is the zero Elem, which no pod programs.
func keyElem(key, end []byte) Elem {
	if len(key) != 12 || len(end) != 12 {
		return Elem{}
	}
	return Elem{Peers: Range{binary.BigEndian.Uint32(key), binary.BigEndian.Uint32(end)},
		Protos: [2]uint8{key[4], end[4]},
		Ports:  PortRange{binary.BigEndian.Uint16(key[8:]), binary.BigEndian.Uint16(end[8:])}}
}

// verdictChain reads the chain of a jump or goto from a verdict-map
// element's data as the kernel dumps it (nested NFTA_VERDICT_*
// attributes, which google/nftables leaves undecoded).
func verdictChain(data []byte) string {
	ad, err := netlink.NewAttributeDecoder(data)
	if err != nil {
		return ""
	}
	for ad.Next() {
		if ad.Type() == unix.NFTA_VERDICT_CHAIN {
			return ad.String()
		}
	}
	return ""
}
