package podnet

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"runtime"
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

// asConn opens one lasting nftables connection in the calling thread's
// namespace, for all the requests of one change. The socket is made on the
// calling thread itself, which is locked for the duration: passing the
// namespace as an fd (WithNetNSFd) would make every request dial anew on a
// fresh thread that setns(2)es there and back, which cost ~1 ms of the
// ~1.5 ms an ADD spent here (measured with a phase trace of EnsurePod).
func asConn() (*nftables.Conn, func(), error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c, err := nftables.New(nftables.AsLasting())
	if err != nil {
		return nil, nil, fmt.Errorf("nftables: %w", err)
	}
	return c, func() { c.CloseLasting() }, nil
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
	a := ip.As4()
	ports, macs, pods := asSets()
	return changeGuard(veth, func(c *nftables.Conn) error {
		if err := c.SetAddElements(ports, []nftables.SetElement{{Key: ifKey(veth)}}); err != nil {
			return err
		}
		if err := c.SetAddElements(macs, []nftables.SetElement{{Key: append(ifKey(veth), macKey(mac)...)}}); err != nil {
			return err
		}
		return c.SetAddElements(pods, []nftables.SetElement{{Key: append(append(ifKey(veth), macKey(mac)...), a[:]...)}})
	})
}

// unguardPod deletes veth's elements (none is success).
func unguardPod(veth string) error {
	return changeGuard(veth, func(*nftables.Conn) error { return nil })
}

// changeGuard deletes every element of veth and queues then, in the same
// transaction, what add queues, in the calling thread's namespace.
//
// It finds veth's elements from as-pods alone: guardPod adds a veth's
// three elements in one transaction and changeGuard deletes them in one,
// so each as-pods element (veth . mac . ip) implies its as-macs element
// (veth . mac) and the as-ports one (veth). One dump instead of three
// keeps ADD and DEL cheaper. Should that not hold (someone deleted
// elements by hand), the kernel refuses to delete a missing element, the
// transaction changes nothing, and changeGuard retries with every set
// dumped.
func changeGuard(veth string, add func(*nftables.Conn) error) error {
	c, done, err := asConn()
	if err != nil {
		return err
	}
	defer done()
	for _, thorough := range []bool{false, true} {
		if err = unguardElems(c, veth, thorough); err != nil {
			return err
		}
		if err = add(c); err != nil {
			return err
		}
		if err = c.Flush(); err == nil {
			return nil
		}
	}
	return fmt.Errorf("anti-spoofing for %s: %w", veth, err)
}

// unguardElems queues the deletion of every element of veth: from the
// as-pods dump (see changeGuard), or with thorough from all three.
func unguardElems(c *nftables.Conn, veth string, thorough bool) error {
	k := ifKey(veth)
	ports, macs, pods := asSets()
	if thorough {
		for _, s := range []*nftables.Set{ports, macs, pods} {
			keys, err := elemsOf(c, s, k)
			if err != nil {
				return nil // no table yet: nothing to delete
			}
			if err := deleteKeys(c, s, keys); err != nil {
				return err
			}
		}
		return nil
	}
	podKeys, err := elemsOf(c, pods, k)
	if err != nil || len(podKeys) == 0 {
		return nil // no table yet, or nothing of veth
	}
	var macKeys [][]byte
	for _, pk := range podKeys {
		if len(pk) < len(k)+8 {
			return fmt.Errorf("anti-spoofing: short element in %s", asPods)
		}
		mk := pk[:len(k)+8] // veth . mac (padded to 8 bytes)
		if !slices.ContainsFunc(macKeys, func(m []byte) bool { return bytes.Equal(m, mk) }) {
			macKeys = append(macKeys, mk)
		}
	}
	if err := deleteKeys(c, ports, [][]byte{k}); err != nil {
		return err
	}
	if err := deleteKeys(c, macs, macKeys); err != nil {
		return err
	}
	return deleteKeys(c, pods, podKeys)
}

// elemsOf returns the keys of s that start with prefix.
func elemsOf(c *nftables.Conn, s *nftables.Set, prefix []byte) ([][]byte, error) {
	els, err := c.GetSetElements(s)
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	for _, e := range els {
		if bytes.HasPrefix(e.Key, prefix) {
			keys = append(keys, e.Key)
		}
	}
	return keys, nil
}

func deleteKeys(c *nftables.Conn, s *nftables.Set, keys [][]byte) error {
	if len(keys) == 0 {
		return nil
	}
	del := make([]nftables.SetElement, len(keys))
	for i, k := range keys {
		del[i] = nftables.SetElement{Key: k}
	}
	return c.SetDeleteElements(s, del)
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

// GuardedVeths lists the veths that have anti-spoofing elements in the
// calling thread's namespace (the as-ports set), for orphan checks.
func GuardedVeths() ([]string, error) {
	c, done, err := asConn()
	if err != nil {
		return nil, err
	}
	defer done()
	ports, _, _ := asSets()
	els, err := c.GetSetElements(ports)
	if err != nil {
		return nil, fmt.Errorf("anti-spoofing ports: %w", err)
	}
	var names []string
	for _, e := range els {
		names = append(names, string(bytes.TrimRight(e.Key, "\x00")))
	}
	return names, nil
}

// checkGuard verifies that veth's anti-spoofing elements in the calling
// thread's namespace are exactly those guardPod adds for mac and ip (for
// CheckPod: a pod whose elements are gone sends what it likes).
func checkGuard(veth string, mac net.HardwareAddr, ip netip.Addr) error {
	if len(mac) != 6 || !ip.Is4() {
		return notWired("anti-spoofing for %s: need a 6-byte MAC and an IPv4 address", veth)
	}
	c, done, err := asConn()
	if err != nil {
		return err
	}
	defer done()
	a := ip.As4()
	k := ifKey(veth)
	ports, macs, pods := asSets()
	for _, want := range []struct {
		set *nftables.Set
		key []byte
	}{
		{ports, k},
		{macs, append(ifKey(veth), macKey(mac)...)},
		{pods, append(append(ifKey(veth), macKey(mac)...), a[:]...)},
	} {
		keys, err := elemsOf(c, want.set, k)
		if err != nil {
			return notWired("anti-spoofing set %s: %v", want.set.Name, err)
		}
		if len(keys) != 1 || !bytes.Equal(keys[0], want.key) {
			return notWired("anti-spoofing set %s holds %d elements of %s, want only %s %s", want.set.Name, len(keys), veth, mac, ip)
		}
	}
	return nil
}
