package netpol

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Kernel names: everything lives in a table of its own, so a full resync
// can replace it in one transaction without touching the services' or
// podnet's objects in table inet switchyard.
const (
	Table      = "switchyard-netpol"
	chForward  = "np-forward"
	chInput    = "np-input"
	chPolicy   = "np-policy"
	mapIngress = "np-ingress"
	mapEgress  = "np-egress"
	setSelf    = "np-self"
)

var (
	keySelf  = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr)
	keyAllow = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
)

// allowSet is the set of a pod chain: peer . protocol . destination port,
// intervals in each (the kernel's pipapo set, one lookup).
func allowSet(name string) *nftables.Set {
	return &nftables.Set{Table: table, Name: name, KeyType: keyAllow, Interval: true, Concatenation: true}
}

// elemKeys renders an Elem as the set's key and key end: each field
// padded to 4 bytes, as the registers the lookup reads hold them.
func elemKeys(e Elem) (key, end []byte) {
	enc := func(ip uint32, proto uint8, port uint16) []byte {
		b := binary.BigEndian.AppendUint32(make([]byte, 0, 12), ip)
		b = append(b, proto, 0, 0, 0)
		return append(binary.BigEndian.AppendUint16(b, port), 0, 0)
	}
	return enc(e.Peers.First, e.Protos[0], e.Ports.First), enc(e.Peers.Last, e.Protos[1], e.Ports.Last)
}

func setElems(m map[Elem]bool, except map[Elem]bool) []nftables.SetElement {
	var out []nftables.SetElement
	for e := range m {
		if !except[e] {
			k, end := elemKeys(e)
			out = append(out, nftables.SetElement{Key: k, KeyEnd: end})
		}
	}
	return out
}

// elemBatch bounds the elements per message: the element list is one
// netlink attribute, whose length is 16 bits.
const elemBatch = 256

func inBatches(els []nftables.SetElement, op func([]nftables.SetElement) error) error {
	for i := 0; i < len(els); i += elemBatch {
		if err := op(els[i:min(i+elemBatch, len(els))]); err != nil {
			return err
		}
	}
	return nil
}

// Backend programs a Program into table inet switchyard-netpol of one
// network namespace. Its methods are safe for concurrent use.
type Backend struct {
	fd    int
	ownFd bool

	mu    sync.Mutex
	valid bool // the fields below describe the kernel
	// Per pod chain (and its allow set, of the same name): what it was
	// programmed from, the set's elements, the pod named in its comment.
	prs   map[string]*PodRules
	elems map[string]map[Elem]bool
	pods  map[string]string
	vmaps map[string]string   // "in"/"eg" map element (pod IP) → chain
	self  map[netip.Addr]bool // np-self members
}

// NewBackend opens a Backend on the network namespace at path (empty: the
// calling thread's). It changes nothing until the first Sync.
func NewBackend(path string) (*Backend, error) {
	if path == "" {
		path = "/proc/thread-self/ns/net"
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("netpol: open netns %s: %w", path, err)
	}
	return &Backend{fd: fd, ownFd: true}, nil
}

// Close releases the namespace handle; the rules stay.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ownFd && b.fd >= 0 {
		fd := b.fd
		b.fd = -1
		return unix.Close(fd)
	}
	return nil
}

func (b *Backend) conn() (*nftables.Conn, error) {
	if b.fd < 0 {
		return nil, errors.New("netpol: backend closed")
	}
	return nftables.New(nftables.WithNetNSFd(b.fd), nftables.WithSockOptions(bigBuffers))
}

// bufBytes sizes the netlink socket buffers: google/nftables sends a
// whole transaction in one sendmsg and reads one acknowledgement per
// message, so a transaction of thousands of rules needs more than the
// default (EMSGSIZE on send, ENOBUFS on receive).
const bufBytes = 64 << 20

func bigBuffers(c *netlink.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = errors.Join(unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, bufBytes),
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, bufBytes))
	})
	return errors.Join(err, serr)
}

var table = &nftables.Table{Name: Table, Family: nftables.TableFamilyINet}

func chainName(dir string, ip netip.Addr) string { return dir + "-" + ip.String() }

// desired renders a Program as per-pod chains and allow sets (name →
// rules) and the two
// verdict maps (pod IP → chain).
type desired struct {
	chains map[string]*PodRules
	dir    map[string]string // chain → "in" or "eg"
	vmaps  map[string]string // "in/10.0.0.1" → chain
	self   map[netip.Addr]bool
}

func render(p *Program) *desired {
	d := &desired{chains: map[string]*PodRules{}, dir: map[string]string{}, vmaps: map[string]string{}, self: map[netip.Addr]bool{}}
	for _, side := range []struct {
		dir string
		m   map[netip.Addr]*PodRules
	}{{"in", p.Ingress}, {"eg", p.Egress}} {
		for ip, pr := range side.m {
			name := chainName(side.dir, ip)
			d.chains[name], d.dir[name] = pr, side.dir
			d.vmaps[side.dir+"/"+ip.String()] = name
			d.self[ip] = true
		}
	}
	return d
}

// Sync makes the kernel enforce p in one transaction: incrementally when
// the previous Sync succeeded and nothing drifted, otherwise by replacing
// the whole table (atomically: packets see the old rules or the new).
func (b *Backend) Sync(ctx context.Context, p *Program) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.conn()
	if err != nil {
		return err
	}
	d := render(p)
	if b.valid {
		if err := b.incremental(c, d); err == nil {
			return nil
		}
		b.valid = false
	}
	if err := b.full(c, d); err != nil {
		return fmt.Errorf("netpol: sync: %w", err)
	}
	b.valid = true
	return nil
}

func (b *Backend) full(c *nftables.Conn, d *desired) error {
	c.AddTable(table)
	c.DelTable(table)
	c.AddTable(table)
	in, eg, self, err := addBase(c)
	if err != nil {
		return err
	}
	elems := map[string]map[Elem]bool{}
	for name, pr := range d.chains {
		elems[name] = elemSet(pr)
		if err := addPodChain(c, name, d.dir[name], pr.Pod, elems[name]); err != nil {
			return err
		}
	}
	if err := setVerdicts(c, in, eg, d.vmaps, c.SetAddElements); err != nil {
		return err
	}
	if err := c.SetAddElements(self, selfElems(d.self, nil)); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return err
	}
	b.prs, b.elems, b.pods = map[string]*PodRules{}, elems, map[string]string{}
	for name, pr := range d.chains {
		b.prs[name], b.pods[name] = pr, pr.Pod
	}
	b.vmaps, b.self = d.vmaps, d.self
	return nil
}

func elemSet(pr *PodRules) map[Elem]bool {
	m := map[Elem]bool{}
	for _, e := range pr.Elems() {
		m[e] = true
	}
	return m
}

// incremental sends only the difference: verdict-map and np-self
// elements, allow-set elements of the pods whose rules changed, and
// chains only for pods that became or stopped being isolated. Element
// changes leave every rule as it is.
func (b *Backend) incremental(c *nftables.Conn, d *desired) error {
	in := &nftables.Set{Table: table, Name: mapIngress, IsMap: true}
	eg := &nftables.Set{Table: table, Name: mapEgress, IsMap: true}
	del := map[string]string{}
	for k, chain := range b.vmaps {
		if d.vmaps[k] != chain {
			del[k] = chain
		}
	}
	if err := setVerdicts(c, in, eg, del, c.SetDeleteElements); err != nil {
		return err
	}
	var gone []string
	for name := range b.prs {
		if _, ok := d.chains[name]; !ok {
			ch := &nftables.Chain{Name: name, Table: table}
			c.FlushChain(ch)
			c.DelChain(ch)
			c.DelSet(allowSet(name))
			gone = append(gone, name)
		}
	}
	// A Compiler hands the same *PodRules for a pod it did not touch, so
	// only the touched ones cost anything.
	changed := map[string]map[Elem]bool{}
	for name, pr := range d.chains {
		if b.prs[name] == pr {
			continue
		}
		now := elemSet(pr)
		changed[name] = now
		old, ok := b.elems[name]
		if !ok {
			if err := addPodChain(c, name, d.dir[name], pr.Pod, now); err != nil {
				return err
			}
			continue
		}
		set := allowSet(name)
		if err := inBatches(setElems(old, now), func(els []nftables.SetElement) error { return c.SetDeleteElements(set, els) }); err != nil {
			return fmt.Errorf("elements of %s: %w", name, err)
		}
		if err := inBatches(setElems(now, old), func(els []nftables.SetElement) error { return c.SetAddElements(set, els) }); err != nil {
			return fmt.Errorf("elements of %s: %w", name, err)
		}
		if b.pods[name] != pr.Pod { // another pod got the address
			ch := &nftables.Chain{Name: name, Table: table}
			c.FlushChain(ch)
			addPodRules(c, ch, d.dir[name], pr.Pod, set)
		}
	}
	add := map[string]string{}
	for k, chain := range d.vmaps {
		if b.vmaps[k] != chain {
			add[k] = chain
		}
	}
	if err := setVerdicts(c, in, eg, add, c.SetAddElements); err != nil {
		return err
	}
	self := &nftables.Set{Table: table, Name: setSelf, KeyType: keySelf, Concatenation: true}
	if gone := selfElems(b.self, d.self); len(gone) > 0 {
		if err := c.SetDeleteElements(self, gone); err != nil {
			return err
		}
	}
	if added := selfElems(d.self, b.self); len(added) > 0 {
		if err := c.SetAddElements(self, added); err != nil {
			return err
		}
	}
	if err := c.Flush(); err != nil {
		return err
	}
	for _, name := range gone {
		delete(b.prs, name)
		delete(b.elems, name)
		delete(b.pods, name)
	}
	for name, els := range changed {
		pr := d.chains[name]
		b.prs[name], b.elems[name], b.pods[name] = pr, els, pr.Pod
	}
	b.vmaps, b.self = d.vmaps, d.self
	return nil
}

// selfElems lists the np-self elements (IP . IP) of the addresses in m
// and not in except.
func selfElems(m, except map[netip.Addr]bool) []nftables.SetElement {
	var out []nftables.SetElement
	for ip := range m {
		if !except[ip] {
			a := ip.As4()
			out = append(out, nftables.SetElement{Key: append(a[:], a[:]...)})
		}
	}
	return out
}

// podComments are the comments of a pod chain's two rules.
func podComments(pod string) []string { return []string{"allow", "deny " + pod} }

// setVerdicts applies op (add or delete) to the verdict-map elements of
// vmaps ("in/IP" or "eg/IP" → chain).
func setVerdicts(c *nftables.Conn, in, eg *nftables.Set, vmaps map[string]string,
	op func(*nftables.Set, []nftables.SetElement) error) error {
	var ins, egs []nftables.SetElement
	for k, chain := range vmaps {
		ip := netip.MustParseAddr(k[3:]).As4()
		el := nftables.SetElement{Key: ip[:], VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: chain}}
		if k[:2] == "in" {
			ins = append(ins, el)
		} else {
			egs = append(egs, el)
		}
	}
	for _, x := range []struct {
		s   *nftables.Set
		els []nftables.SetElement
	}{{in, ins}, {eg, egs}} {
		for i := 0; i < len(x.els); i += 512 {
			if err := op(x.s, x.els[i:min(i+512, len(x.els))]); err != nil {
				return fmt.Errorf("elements of %s: %w", x.s.Name, err)
			}
		}
	}
	return nil
}

// addBase adds the hooks, the dispatch chain, the two verdict maps and
// the set of isolated pods reaching themselves.
func addBase(c *nftables.Conn) (in, eg, self *nftables.Set, err error) {
	in = &nftables.Set{Table: table, Name: mapIngress, KeyType: nftables.TypeIPAddr, DataType: nftables.TypeVerdict, IsMap: true}
	eg = &nftables.Set{Table: table, Name: mapEgress, KeyType: nftables.TypeIPAddr, DataType: nftables.TypeVerdict, IsMap: true}
	self = &nftables.Set{Table: table, Name: setSelf, KeyType: keySelf, Concatenation: true}
	for _, s := range []*nftables.Set{in, eg, self} {
		if err := c.AddSet(s, nil); err != nil {
			return nil, nil, nil, fmt.Errorf("add set %s: %w", s.Name, err)
		}
	}
	policy := c.AddChain(&nftables.Chain{Name: chPolicy, Table: table})
	accept := nftables.ChainPolicyAccept
	for _, h := range []struct {
		name string
		hook *nftables.ChainHook
	}{{chForward, nftables.ChainHookForward}, {chInput, nftables.ChainHookInput}} {
		ch := c.AddChain(&nftables.Chain{Name: h.name, Table: table, Type: nftables.ChainTypeFilter,
			Hooknum: h.hook, Priority: nftables.ChainPriorityFilter, Policy: &accept})
		c.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: chPolicy}}})
	}
	established := binary.NativeEndian.AppendUint32(nil, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED)
	rules := [][]expr.Any{
		{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
			&expr.Verdict{Kind: expr.VerdictReturn}},
		{&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: established, Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
			&expr.Verdict{Kind: expr.VerdictAccept}},
		// A pod reaching itself through a Service (hairpin after DNAT)
		// is allowed like its loopback traffic, which no hook sees: with
		// the eBPF load-balancer the same connection never leaves the pod.
		{loadAddr(12), &expr.Payload{DestRegister: unix.NFT_REG32_00 + 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Lookup{SourceRegister: 1, SetName: self.Name, SetID: self.ID},
			&expr.Verdict{Kind: expr.VerdictAccept}},
		{loadAddr(12), &expr.Lookup{SourceRegister: 1, SetName: eg.Name, SetID: eg.ID, DestRegister: 0, IsDestRegSet: true}},
		{loadAddr(16), &expr.Lookup{SourceRegister: 1, SetName: in.Name, SetID: in.ID, DestRegister: 0, IsDestRegSet: true}},
	}
	for _, r := range rules {
		c.AddRule(&nftables.Rule{Table: table, Chain: policy, Exprs: r})
	}
	return in, eg, self, nil
}

// loadAddr loads the IPv4 source (offset 12) or destination (16) address.
func loadAddr(off uint32) *expr.Payload {
	return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4}
}

// addPodChain adds a pod's allow set with its elements and its chain.
func addPodChain(c *nftables.Conn, name, dir, pod string, elems map[Elem]bool) error {
	set := allowSet(name)
	if err := c.AddSet(set, nil); err != nil {
		return fmt.Errorf("add set %s: %w", name, err)
	}
	if err := inBatches(setElems(elems, nil), func(els []nftables.SetElement) error { return c.SetAddElements(set, els) }); err != nil {
		return fmt.Errorf("elements of %s: %w", name, err)
	}
	ch := c.AddChain(&nftables.Chain{Name: name, Table: table})
	addPodRules(c, ch, dir, pod, set)
	return nil
}

// addPodRules writes a pod chain: the peer . protocol . port lookup in
// the pod's allow set (accept for ingress; for egress return to the
// dispatch chain, which goes on to the destination's ingress check),
// then a counted drop.
func addPodRules(c *nftables.Conn, ch *nftables.Chain, dir, pod string, set *nftables.Set) {
	verdict, peerOff := expr.VerdictAccept, uint32(12)
	if dir == "eg" {
		verdict, peerOff = expr.VerdictReturn, 16
	}
	rules := [][]expr.Any{
		{loadAddr(peerOff),
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: unix.NFT_REG32_00 + 1},
			&expr.Payload{DestRegister: unix.NFT_REG32_00 + 2, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
			&expr.Verdict{Kind: verdict}},
		{&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop}},
	}
	for i, comment := range podComments(pod) {
		c.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: rules[i],
			UserData: userdata.AppendString(nil, userdata.TypeComment, comment)})
	}
}

// Cleanup deletes the table (when there).
func (b *Backend) Cleanup(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.conn()
	if err != nil {
		return err
	}
	b.valid = false
	c.AddTable(table)
	c.DelTable(table)
	return c.Flush()
}
