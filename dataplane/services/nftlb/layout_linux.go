package nftlb

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/dataplane/services"
)

// Kernel names. Everything this package creates in Table starts with
// Prefix; nothing else in the table is ever touched.
const (
	Table  = "switchyard" // shared with dataplane/podnet (chain pod-masquerade)
	Prefix = "svc-"

	// MasqMark is the packet mark bit meaning "masquerade in postrouting".
	MasqMark = 0x4000
)

// Chains shared by every service.
const (
	chNatPre      = "svc-nat-prerouting"    // nat prerouting dstnat: jump services
	chNatOut      = "svc-nat-output"        // nat output dstnat: jump services
	chNatPost     = "svc-nat-postrouting"   // nat postrouting srcnat: masquerade
	chServices    = "svc-services"          // the two verdict-map lookups
	chFilterPre   = "svc-filter-prerouting" // filter prerouting dstnat-10: no-endpoint check
	chFilterOut   = "svc-filter-output"     // filter output dstnat-10: no-endpoint check
	chEPCheck     = "svc-endpoints-check"   // the two no-endpoint map lookups
	chPortsPre    = "svc-ports-prerouting"  // filter prerouting dstnat+10: undefined ClusterIP ports
	chPortsOut    = "svc-ports-output"      // filter output dstnat+10: undefined ClusterIP ports
	chReject      = "svc-reject"            // TCP RST, else ICMP port unreachable
	chPickPfx     = "svc-pick-"             // + picker parameters, see pickChain
	commentPrefix = "switchyard services: " // base rule comments
)

// Sets and maps, by index (elemKey.set).
const (
	setIPs           uint8 = iota // vmap daddr . l4proto . dport → goto a picker (svc-pick-*)
	setNodePorts                  // vmap l4proto . dport → goto a picker
	setNoEP                       // vmap daddr . l4proto . dport → goto svc-reject
	setNoEPNodePorts              // vmap l4proto . dport → goto svc-reject
	setClusterIPs                 // set of ClusterIPs
	setBackends                   // map daddr . l4proto . dport . slot → endpoint addr . port
	setHairpin                    // set of endpoint . endpoint
	setAffinity                   // dynamic map daddr . l4proto . dport . client → slot (timeout)
	numSets
)

type setSpec struct {
	name    string
	key     nftables.SetDatatype
	data    nftables.SetDatatype // zero for plain sets
	verdict bool
	dynamic bool // flags dynamic,timeout; elements are the kernel's, never diffed
}

var (
	keyAddrProtoPort = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	keyProtoPort     = nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)
	keyVIPSlot       = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService, nftables.TypeMark)
	keyVIPClient     = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService, nftables.TypeIPAddr)
	keyAddrAddr      = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr)
	dataAddrPort     = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)
)

var sets = [numSets]setSpec{
	setIPs:           {name: "svc-ips", key: keyAddrProtoPort, verdict: true},
	setNodePorts:     {name: "svc-nodeports", key: keyProtoPort, verdict: true},
	setNoEP:          {name: "svc-noep", key: keyAddrProtoPort, verdict: true},
	setNoEPNodePorts: {name: "svc-noep-nodeports", key: keyProtoPort, verdict: true},
	setClusterIPs:    {name: "svc-clusterips", key: nftables.TypeIPAddr},
	setBackends:      {name: "svc-backends", key: keyVIPSlot, data: dataAddrPort},
	setHairpin:       {name: "svc-hairpin", key: keyAddrAddr},
	setAffinity:      {name: "svc-affinity", key: keyVIPClient, data: nftables.TypeMark, dynamic: true},
}

func (s setSpec) nft(t *nftables.Table) *nftables.Set {
	set := &nftables.Set{
		Table:         t,
		Name:          s.name,
		KeyType:       s.key,
		Concatenation: strings.Contains(s.key.Name, " . "),
	}
	switch {
	case s.verdict:
		set.IsMap, set.DataType = true, nftables.TypeVerdict
	case s.data.Bytes > 0:
		set.IsMap, set.DataType = true, s.data
	}
	if s.dynamic {
		set.Dynamic, set.HasTimeout = true, true
	}
	return set
}

// Registers: the 32-bit registers 8… hold concatenated keys.
const (
	reg1 = unix.NFT_REG_1
	// Concatenated keys: the first field in NFT_REG_1 (the same storage as
	// 32-bit registers 8-11), the next ones in 9, 10, 11, as nft encodes
	// them (nft's listing code relies on that numbering).
	rKey  = unix.NFT_REG_1
	rKey2 = unix.NFT_REG32_00 + 1 // 9
	rKey3 = unix.NFT_REG32_00 + 2 // 10
	rKey4 = unix.NFT_REG32_00 + 3 // 11
	rData = unix.NFT_REG32_00 + 4 // map data: endpoint address (12), port in 13
	rPort = unix.NFT_REG32_00 + 5
)

type baseSpec struct {
	typ  nftables.ChainType
	hook *nftables.ChainHook
	prio *nftables.ChainPriority
}

// chainDef is one chain as it should be: its rules in order. The rules'
// comments (userdata) spell out everything that determines their
// expressions, so the joined comments are the chain's fingerprint: equal
// fingerprints mean equal rules, which is how a restarted Backend
// recognizes what an earlier one programmed.
type chainDef struct {
	name  string
	base  *baseSpec
	rules []ruleDef
}

type ruleDef struct {
	comment string
	exprs   []expr.Any
}

func (c *chainDef) fingerprint() string {
	var b strings.Builder
	for i, r := range c.rules {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(r.comment)
	}
	return b.String()
}

func (c *chainDef) nft(t *nftables.Table) *nftables.Chain {
	ch := &nftables.Chain{Name: c.name, Table: t}
	if c.base != nil {
		accept := nftables.ChainPolicyAccept
		ch.Type, ch.Hooknum, ch.Priority, ch.Policy = c.base.typ, c.base.hook, c.base.prio, &accept
	}
	return ch
}

// baseChains are the chains shared by all services.
func baseChains() []*chainDef {
	prio := func(p int32) *nftables.ChainPriority { return nftables.ChainPriorityRef(nftables.ChainPriority(p)) }
	const dstnat, srcnat = -100, 100
	jumpNew := func(to string) []ruleDef {
		return []ruleDef{{commentPrefix + "new ipv4 connections: jump " + to,
			cat(nfproto4(), ctStateNew(), verdict(expr.VerdictJump, to))}}
	}
	jumpServices := func() []ruleDef {
		return []ruleDef{{commentPrefix + "ipv4: jump " + chServices, cat(nfproto4(), verdict(expr.VerdictJump, chServices))}}
	}
	rejectUndefined := func() []ruleDef {
		return []ruleDef{{commentPrefix + "undefined ClusterIP ports: ip daddr @svc-clusterips goto svc-reject",
			cat(nfproto4(), ctStateNew(), payload(reg1, 16, 4), lookup(sets[setClusterIPs].name, reg1, false),
				verdict(expr.VerdictGoto, chReject))}}
	}
	post := []ruleDef{
		{commentPrefix + "masquerade marked packets",
			cat(markIsSet(), clearMark(), []expr.Any{&expr.Masq{}})},
		{commentPrefix + "masquerade hairpin (endpoint to itself)",
			cat(nfproto4(), ctStatusDNAT(),
				payload(rKey, 12, 4), payload(rKey2, 16, 4), lookup(sets[setHairpin].name, rKey, false),
				[]expr.Any{&expr.Masq{}})},
	}
	return []*chainDef{
		{name: chServices, rules: []ruleDef{
			{commentPrefix + "service IPs: ip daddr . meta l4proto . th dport vmap @svc-ips",
				cat(nfproto4(), keyDaddrProtoPort(), vmapLookup(sets[setIPs].name, rKey))},
			{commentPrefix + "node ports: fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @svc-nodeports",
				cat(fibLocal(), notLoopback(), keyProtoPort2(), vmapLookup(sets[setNodePorts].name, rKey))},
		}},
		{name: chEPCheck, rules: []ruleDef{
			{commentPrefix + "services without endpoints: vmap @svc-noep",
				cat(nfproto4(), keyDaddrProtoPort(), vmapLookup(sets[setNoEP].name, rKey))},
			{commentPrefix + "node ports without endpoints: vmap @svc-noep-nodeports",
				cat(fibLocal(), notLoopback(), keyProtoPort2(), vmapLookup(sets[setNoEPNodePorts].name, rKey))},
		}},
		{name: chReject, rules: []ruleDef{
			{commentPrefix + "reject tcp with reset",
				[]expr.Any{
					&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
					&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{unix.IPPROTO_TCP}},
					&expr.Reject{Type: unix.NFT_REJECT_TCP_RST},
				}},
			{commentPrefix + "reject with icmpx port-unreachable",
				[]expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_PORT_UNREACH}}},
		}},
		{name: chNatPre, base: &baseSpec{nftables.ChainTypeNAT, nftables.ChainHookPrerouting, prio(dstnat)},
			rules: jumpServices()},
		{name: chNatOut, base: &baseSpec{nftables.ChainTypeNAT, nftables.ChainHookOutput, prio(dstnat)},
			rules: jumpServices()},
		{name: chNatPost, base: &baseSpec{nftables.ChainTypeNAT, nftables.ChainHookPostrouting, prio(srcnat)}, rules: post},
		{name: chFilterPre, base: &baseSpec{nftables.ChainTypeFilter, nftables.ChainHookPrerouting, prio(dstnat - 10)},
			rules: jumpNew(chEPCheck)},
		{name: chFilterOut, base: &baseSpec{nftables.ChainTypeFilter, nftables.ChainHookOutput, prio(dstnat - 10)},
			rules: jumpNew(chEPCheck)},
		{name: chPortsPre, base: &baseSpec{nftables.ChainTypeFilter, nftables.ChainHookPrerouting, prio(dstnat + 10)},
			rules: rejectUndefined()},
		{name: chPortsOut, base: &baseSpec{nftables.ChainTypeFilter, nftables.ChainHookOutput, prio(dstnat + 10)},
			rules: rejectUndefined()},
	}
}

// Element encodings. Concatenated fields are padded to 4 bytes; numgen
// writes its result in host byte order, so slots are host-endian.
func keyAPP(a netip.Addr, proto byte, port uint16) string {
	b := make([]byte, 12)
	copy(b, a.AsSlice())
	b[4] = proto
	binary.BigEndian.PutUint16(b[8:], port)
	return string(b)
}

func keyPP(proto byte, port uint16) string {
	b := make([]byte, 8)
	b[0] = proto
	binary.BigEndian.PutUint16(b[4:], port)
	return string(b)
}

// keyBackend is a svc-backends key: the service's address (0.0.0.0 for a
// node port), protocol, port and slot.
func keyBackend(vip netip.Addr, proto byte, port uint16, slot int) string {
	return keyAPP(vip, proto, port) + string(binaryutil.NativeEndian.PutUint32(uint32(slot)))
}

func dataEndpoint(ep services.Endpoint) string {
	b := make([]byte, 8)
	copy(b, ep.Addr.AsSlice())
	binary.BigEndian.PutUint16(b[4:], ep.Port)
	return string(b)
}

func protoNum(p string) (byte, bool) {
	switch p {
	case "TCP":
		return unix.IPPROTO_TCP, true
	case "UDP":
		return unix.IPPROTO_UDP, true
	case "SCTP":
		return unix.IPPROTO_SCTP, true
	}
	return 0, false
}

// A picker is a chain shared by every service port with the same way of
// choosing: kind, endpoint count and affinity timeout. Service ports own
// no chains at all: svc-ips and svc-nodeports send a packet to its
// picker, which builds the svc-backends key from the packet itself
// (daddr . l4proto . dport, or 0.0.0.0 . l4proto . dport for node ports)
// plus numgen random mod N, and DNATs to the element found.
//
// Why shared, keyed by the packet: each rule that looks a map up with a
// destination register is a binding of the map, and the kernel checks
// every new element against every binding; one lookup rule per service
// made loading 10,000 services quadratic (seconds). The kernel also
// refuses reads of registers a rule did not load itself (ENODATA), so a
// per-service rule cannot hand a service id to a shared chain. With
// pickers, a few dozen rules bind the map whatever the number of services.
type picker struct {
	nodePort bool          // key on 0.0.0.0 instead of daddr
	masq     bool          // mark for masquerade first
	cluster  netip.Prefix  // valid: mark for masquerade sources outside it (ClusterIPs)
	n        int           // endpoints
	affinity time.Duration // 0: none
}

func (p picker) name() string {
	kind := "v"
	switch {
	case p.nodePort:
		kind = "n"
	case p.cluster.IsValid():
		kind = "c"
	}
	if p.masq {
		kind += "m"
	}
	s := fmt.Sprintf("%s%s-%d", chPickPfx, kind, p.n)
	if p.affinity > 0 {
		s += fmt.Sprintf("-a%d", int64(p.affinity/time.Second))
	}
	return s
}

func (p picker) chain() *chainDef {
	label := "pick"
	if p.nodePort {
		label += " node port"
	}
	// vipKey loads daddr (0.0.0.0 for node ports) . l4proto . dport .
	// last into regs.
	vipKey := func(regs [4]uint32, last expr.Any) []expr.Any {
		out := nfproto4()
		if p.nodePort {
			out = append(out, &expr.Immediate{Register: regs[0], Data: []byte{0, 0, 0, 0}})
		} else {
			out = append(out, &expr.Payload{DestRegister: regs[0], Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4})
		}
		return append(out,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: regs[1]},
			&expr.Payload{DestRegister: regs[2], Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			last)
	}
	ch := &chainDef{name: p.name()}
	if p.masq {
		ch.rules = append(ch.rules, ruleDef{commentPrefix + label + ": mark for masquerade", setMark()})
	}
	if p.cluster.IsValid() {
		ch.rules = append(ch.rules, ruleDef{commentPrefix + label + ": mark for masquerade if not from " + p.cluster.String(),
			cat(nfproto4(), ipInPrefix(12, p.cluster, expr.CmpOpNeq), setMark())})
	}
	one := [4]uint32{rKey, rKey2, rKey3, rKey4}
	if p.affinity <= 0 {
		ch.rules = append(ch.rules, ruleDef{
			fmt.Sprintf("%s%s: numgen random mod %d, dnat to @svc-backends", commentPrefix, label, p.n),
			cat(vipKey(one, &expr.Numgen{Register: rKey4, Modulus: uint32(p.n), Type: unix.NFT_NG_RANDOM}),
				[]expr.Any{&expr.Lookup{SourceRegister: rKey, DestRegister: rData, IsDestRegSet: true, SetName: sets[setBackends].name},
					dnatRegs(rData, rPort)})})
		return ch
	}
	// Affinity remembers the client's slot (not its endpoint: nft can
	// list a dynset whose data is numgen, not one whose data is a map
	// lookup's result). Affinity key in registers 1 (8), 9, 10, 11;
	// backend key in 2 (12), 13, 14, 15; endpoint in 16, 17.
	two := [4]uint32{unix.NFT_REG_2, unix.NFT_REG32_00 + 5, unix.NFT_REG32_00 + 6, unix.NFT_REG32_00 + 7}
	const epAddr, epPort = unix.NFT_REG32_00 + 8, unix.NFT_REG32_00 + 9
	aff := sets[setAffinity].name
	saddr := &expr.Payload{DestRegister: rKey4, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4}
	remember := &expr.Dynset{SrcRegKey: rKey, SrcRegData: two[3], SetName: aff, Operation: unix.NFT_DYNSET_OP_UPDATE, Timeout: p.affinity}
	toBackend := []expr.Any{
		&expr.Lookup{SourceRegister: two[0], DestRegister: epAddr, IsDestRegSet: true, SetName: sets[setBackends].name},
		dnatRegs(epAddr, epPort),
	}
	// One rule per slot: the client's remembered slot is compared with
	// a constant, so every key the rule builds is made of packet fields
	// and constants (nft can list that; not a concatenation holding a
	// lookup's result).
	for i := range p.n {
		slot := &expr.Immediate{Register: two[3], Data: binaryutil.NativeEndian.PutUint32(uint32(i))}
		ch.rules = append(ch.rules, ruleDef{
			fmt.Sprintf("%s%s: affinity %s: clients remembered on slot %d", commentPrefix, label, p.affinity, i),
			cat(vipKey(one, saddr),
				[]expr.Any{
					&expr.Lookup{SourceRegister: rKey, DestRegister: two[3], IsDestRegSet: true, SetName: aff},
					&expr.Cmp{Op: expr.CmpOpEq, Register: two[3], Data: binaryutil.NativeEndian.PutUint32(uint32(i))},
				},
				vipKey(two, slot)[2:], []expr.Any{remember}, toBackend)})
	}
	ch.rules = append(ch.rules, ruleDef{
		fmt.Sprintf("%s%s: affinity %s: numgen random mod %d, remember the slot", commentPrefix, label, p.affinity, p.n),
		cat(vipKey(one, saddr),
			vipKey(two, &expr.Numgen{Register: two[3], Modulus: uint32(p.n), Type: unix.NFT_NG_RANDOM})[2:],
			[]expr.Any{remember}, toBackend)})
	return ch
}

func dnatRegs(addr, port uint32) *expr.NAT {
	return &expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: addr, RegProtoMin: port, Specified: true}
}

// Expression helpers, each the encoding `nft --debug=netlink` shows.

func cat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func nfproto4() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{unix.NFPROTO_IPV4}},
	}
}

func ctBits(key expr.CtKey, bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: reg1, Key: key},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: []byte{0, 0, 0, 0}},
	}
}

func ctStateNew() []expr.Any   { return ctBits(expr.CtKeySTATE, expr.CtStateBitNEW) }
func ctStatusDNAT() []expr.Any { return ctBits(expr.CtKeySTATUS, ipsDstNAT) }

const ipsDstNAT = 0x20 // IPS_DST_NAT, linux/netfilter/nf_conntrack_common.h
func payload(reg, off, n uint32) []expr.Any {
	return []expr.Any{&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n}}
}

func lookup(set string, reg uint32, invert bool) []expr.Any {
	return []expr.Any{&expr.Lookup{SourceRegister: reg, SetName: set, Invert: invert}}
}

func vmapLookup(set string, reg uint32) []expr.Any {
	return []expr.Any{&expr.Lookup{SourceRegister: reg, DestRegister: unix.NFT_REG_VERDICT, IsDestRegSet: true, SetName: set}}
}

func verdict(kind expr.VerdictKind, chain string) []expr.Any {
	return []expr.Any{&expr.Verdict{Kind: kind, Chain: chain}}
}

// keyDaddrProtoPort loads the key ip daddr . meta l4proto . th dport.
func keyDaddrProtoPort() []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: rKey, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: rKey2},
		&expr.Payload{DestRegister: rKey3, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
}

// keyProtoPort2 loads the key meta l4proto . th dport.
func keyProtoPort2() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: rKey},
		&expr.Payload{DestRegister: rKey2, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
}

func fibLocal() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: reg1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

func notLoopback() []expr.Any {
	return cat(nfproto4(), ipInPrefix(16, netip.MustParsePrefix("127.0.0.0/8"), expr.CmpOpNeq))
}

// ipInPrefix compares the IPv4 header field at offset (12 source, 16
// destination) with p.
func ipInPrefix(offset uint32, p netip.Prefix, op expr.CmpOp) []expr.Any {
	mask := make([]byte, 4)
	for i := 0; i < p.Bits(); i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return []expr.Any{
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: op, Register: reg1, Data: p.Masked().Addr().AsSlice()},
	}
}

func markIsSet() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(MasqMark), Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: []byte{0, 0, 0, 0}},
	}
}

func clearMark() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^uint32(MasqMark)), Xor: []byte{0, 0, 0, 0}},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1, SourceRegister: true},
	}
}

func setMark() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^uint32(MasqMark)), Xor: binaryutil.NativeEndian.PutUint32(MasqMark)},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1, SourceRegister: true},
	}
}
