package podnet

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// Anti-spoofing: a pod may only send with its own MAC and IPv4 address.
// The check sits on the bridge ports (the host veths), in table bridge
// switchyard-antispoof:
//
//	chain prerouting (filter, priority -200, before br_netfilter):
//	    iifname @as-ports jump as-check          (only our pods' veths)
//	chain as-check:
//	    ether type ip:   iifname . ether saddr . ip saddr @as-pods return
//	    ether type ip:   counter drop   "spoof-ip"
//	    ether type arp:  iifname . ether saddr @as-macs,
//	                     iifname . arp sha . arp spa @as-pods return
//	    ether type arp:  counter drop   "spoof-arp"
//	    ether type ip6:  iifname . ether saddr @as-macs return (link-local, ND)
//	    counter drop                    "spoof-other" (other MAC or ethertype)
//
// One set lookup per packet whatever the number of pods. EnsurePod adds
// the pod's elements (replacing older ones of the same veth) in one
// batch; RemovePod deletes them.
const (
	AntiSpoofTable = "switchyard-antispoof"
	asPorts        = "as-ports"
	asMACs         = "as-macs"
	asPods         = "as-pods"
	asCheck        = "as-check"
	asPrerouting   = "prerouting"
)

// Spoofing counters (rule comments in as-check).
const (
	SpoofIP    = "spoof-ip"
	SpoofARP   = "spoof-arp"
	SpoofOther = "spoof-other"
)

var (
	asTable    = &nftables.Table{Name: AntiSpoofTable, Family: nftables.TableFamilyBridge}
	keyIfMAC   = nftables.MustConcatSetType(nftables.TypeIFName, nftables.TypeEtherAddr)
	keyIfMACIP = nftables.MustConcatSetType(nftables.TypeIFName, nftables.TypeEtherAddr, nftables.TypeIPAddr)
)

func asSets() (ports, macs, pods *nftables.Set) {
	return &nftables.Set{Table: asTable, Name: asPorts, KeyType: nftables.TypeIFName},
		&nftables.Set{Table: asTable, Name: asMACs, KeyType: keyIfMAC, Concatenation: true},
		&nftables.Set{Table: asTable, Name: asPods, KeyType: keyIfMACIP, Concatenation: true}
}

func asConn() (*nftables.Conn, func(), error) {
	fd, err := threadNetNS()
	if err != nil {
		return nil, nil, err
	}
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("nftables: %w", err)
	}
	return c, func() { unix.Close(fd) }, nil
}

// ensureAntiSpoof converges the table's chains and sets in the calling
// thread's namespace. Rules are rewritten only when they differ (so the
// counters survive an agent restart); elements are kept.
func ensureAntiSpoof() error {
	c, done, err := asConn()
	if err != nil {
		return err
	}
	defer done()
	want := asRules()
	if ok, err := antiSpoofCurrent(c, want); err != nil || ok {
		return err
	}
	c.AddTable(asTable)
	ports, macs, pods := asSets()
	for _, s := range []*nftables.Set{ports, macs, pods} {
		if err := c.AddSet(s, nil); err != nil {
			return fmt.Errorf("anti-spoofing set %s: %w", s.Name, err)
		}
	}
	accept := nftables.ChainPolicyAccept
	pre := c.AddChain(&nftables.Chain{Name: asPrerouting, Table: asTable, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRef(-200), Policy: &accept})
	check := c.AddChain(&nftables.Chain{Name: asCheck, Table: asTable})
	c.FlushChain(pre)
	c.FlushChain(check)
	for _, r := range want {
		ch := check
		if r.chain == asPrerouting {
			ch = pre
		}
		c.AddRule(&nftables.Rule{Table: asTable, Chain: ch, Exprs: r.exprs(ports, macs, pods),
			UserData: userdata.AppendString(nil, userdata.TypeComment, r.comment)})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("anti-spoofing table: %w", err)
	}
	return nil
}

type asRule struct {
	chain, comment string
	exprs          func(ports, macs, pods *nftables.Set) []expr.Any
}

// Payload helpers for the bridge family.
func llLoad(off, n, reg uint32) expr.Any {
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseLLHeader, Offset: off, Len: n}
}

func nhLoad(off, n, reg uint32) expr.Any {
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n}
}

func etherType(t uint16) []expr.Any {
	return []expr.Any{llLoad(12, 2, 1), &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, t)}}
}

// Registers of a concatenated key: iifname fills 8-11, a MAC 12-13.
const (
	regIf   = unix.NFT_REG_1
	regMAC  = unix.NFT_REG32_00 + 4
	regIPv4 = unix.NFT_REG32_00 + 6
)

func ifMAC(macOff uint32, base expr.PayloadBase) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: regIf},
		&expr.Payload{DestRegister: regMAC, Base: base, Offset: macOff, Len: 6}}
}

func lookup(s *nftables.Set) expr.Any {
	return &expr.Lookup{SourceRegister: regIf, SetName: s.Name, SetID: s.ID}
}

func counted(e ...expr.Any) []expr.Any {
	return append(e, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
}

func asRules() []asRule {
	ret := &expr.Verdict{Kind: expr.VerdictReturn}
	return []asRule{
		{asPrerouting, "pod ports", func(ports, _, _ *nftables.Set) []expr.Any {
			return []expr.Any{&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: regIf}, lookup(ports),
				&expr.Verdict{Kind: expr.VerdictJump, Chain: asCheck}}
		}},
		{asCheck, "own ip", func(_, _, pods *nftables.Set) []expr.Any {
			e := append(etherType(unix.ETH_P_IP), ifMAC(6, expr.PayloadBaseLLHeader)...)
			return append(e, nhLoad(12, 4, regIPv4), lookup(pods), ret)
		}},
		{asCheck, SpoofIP, func(_, _, _ *nftables.Set) []expr.Any { return counted(etherType(unix.ETH_P_IP)...) }},
		{asCheck, "own arp", func(_, macs, pods *nftables.Set) []expr.Any {
			e := append(etherType(unix.ETH_P_ARP), ifMAC(6, expr.PayloadBaseLLHeader)...)
			e = append(e, lookup(macs))
			// arp sha (offset 8) and spa (offset 14) of an Ethernet/IPv4 ARP.
			e = append(e, ifMAC(8, expr.PayloadBaseNetworkHeader)...)
			return append(e, nhLoad(14, 4, regIPv4), lookup(pods), ret)
		}},
		{asCheck, SpoofARP, func(_, _, _ *nftables.Set) []expr.Any { return counted(etherType(unix.ETH_P_ARP)...) }},
		{asCheck, "own mac ipv6", func(_, macs, _ *nftables.Set) []expr.Any {
			return append(append(etherType(unix.ETH_P_IPV6), ifMAC(6, expr.PayloadBaseLLHeader)...), lookup(macs), ret)
		}},
		{asCheck, SpoofOther, func(_, _, _ *nftables.Set) []expr.Any { return counted() }},
	}
}

// antiSpoofCurrent reports whether both chains hold exactly want's rules
// (compared by comment).
func antiSpoofCurrent(c *nftables.Conn, want []asRule) (bool, error) {
	t, err := c.ListTableOfFamily(AntiSpoofTable, nftables.TableFamilyBridge)
	if err != nil || t == nil {
		return false, nil // not there yet
	}
	var got []string
	for _, name := range []string{asPrerouting, asCheck} {
		rules, err := c.GetRules(asTable, &nftables.Chain{Name: name, Table: asTable})
		if err != nil {
			return false, nil
		}
		for _, r := range rules {
			s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			got = append(got, name+"/"+s)
		}
	}
	var names []string
	for _, r := range want {
		names = append(names, r.chain+"/"+r.comment)
	}
	return slices.Equal(got, names), nil
}

func ifKey(name string) []byte {
	k := make([]byte, unix.IFNAMSIZ)
	copy(k, name)
	return k
}

func macKey(mac net.HardwareAddr) []byte { return append(bytes.Clone(mac[:6]), 0, 0) }

// guardPod lets veth carry only mac and ip: it replaces the elements of
// veth in one batch.
func guardPod(veth string, mac net.HardwareAddr, ip netip.Addr) error {
	if len(mac) != 6 || !ip.Is4() {
		return fmt.Errorf("anti-spoofing for %s: need a 6-byte MAC and an IPv4 address", veth)
	}
	c, done, err := asConn()
	if err != nil {
		return err
	}
	defer done()
	ports, macs, pods := asSets()
	if err := unguardElems(c, veth); err != nil {
		return err
	}
	a := ip.As4()
	if err := c.SetAddElements(ports, []nftables.SetElement{{Key: ifKey(veth)}}); err != nil {
		return err
	}
	if err := c.SetAddElements(macs, []nftables.SetElement{{Key: append(ifKey(veth), macKey(mac)...)}}); err != nil {
		return err
	}
	if err := c.SetAddElements(pods, []nftables.SetElement{{Key: append(append(ifKey(veth), macKey(mac)...), a[:]...)}}); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("anti-spoofing for %s: %w", veth, err)
	}
	return nil
}

// unguardPod deletes veth's elements (none is success).
func unguardPod(veth string) error {
	c, done, err := asConn()
	if err != nil {
		return err
	}
	defer done()
	if err := unguardElems(c, veth); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("anti-spoofing for %s: %w", veth, err)
	}
	return nil
}

// unguardElems queues the deletion of every element of veth.
func unguardElems(c *nftables.Conn, veth string) error {
	k := ifKey(veth)
	ports, macs, pods := asSets()
	for _, s := range []*nftables.Set{ports, macs, pods} {
		els, err := c.GetSetElements(s)
		if err != nil {
			return nil // no table yet: nothing to delete
		}
		var del []nftables.SetElement
		for _, e := range els {
			if bytes.HasPrefix(e.Key, k) {
				del = append(del, nftables.SetElement{Key: e.Key})
			}
		}
		if len(del) > 0 {
			if err := c.SetDeleteElements(s, del); err != nil {
				return err
			}
		}
	}
	return nil
}

// SpoofDrops returns the anti-spoofing drop counters of the calling
// thread's namespace (SpoofIP, SpoofARP, SpoofOther → packets).
func SpoofDrops() (map[string]uint64, error) {
	c, done, err := asConn()
	if err != nil {
		return nil, err
	}
	defer done()
	rules, err := c.GetRules(asTable, &nftables.Chain{Name: asCheck, Table: asTable})
	if err != nil {
		return nil, fmt.Errorf("anti-spoofing counters: %w", err)
	}
	out := map[string]uint64{}
	for _, r := range rules {
		name, _ := userdata.GetString(r.UserData, userdata.TypeComment)
		for _, e := range r.Exprs {
			if ctr, ok := e.(*expr.Counter); ok {
				out[name] = ctr.Packets
			}
		}
	}
	return out, nil
}
