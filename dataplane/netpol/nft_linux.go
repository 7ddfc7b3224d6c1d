package netpol

import (
	"bytes"
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

var keySelf = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr)

// Backend programs a Program into table inet switchyard-netpol of one
// network namespace. Its methods are safe for concurrent use.
type Backend struct {
	fd    int
	ownFd bool

	mu         sync.Mutex
	valid      bool                 // programmed describes the kernel
	programmed map[string]string    // per-pod chain → fingerprint
	prs        map[string]*PodRules // per-pod chain → what it was programmed from
	comments   map[string][]string  // per-pod chain → its rules' comments
	vmaps      map[string]string    // "in"/"eg" map element (pod IP) → chain
	self       map[netip.Addr]bool  // np-self members
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

// desired renders a Program as per-pod chains (name → rules) and the two
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
	for name, pr := range d.chains {
		if err := addPodChain(c, name, d.dir[name], pr); err != nil {
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
	b.record(d)
	return nil
}

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
	for name := range b.programmed {
		if _, ok := d.chains[name]; !ok {
			ch := &nftables.Chain{Name: name, Table: table}
			c.FlushChain(ch)
			c.DelChain(ch)
			gone = append(gone, name)
		}
	}
	// A Compiler hands the same *PodRules for a pod it did not touch, so
	// only the touched ones cost a comparison.
	changed := map[string]string{} // chain → new fingerprint
	for name, pr := range d.chains {
		if b.prs[name] == pr {
			continue
		}
		fp := pr.Fingerprint()
		old, ok := b.programmed[name]
		switch {
		case !ok:
			if err := addPodChain(c, name, d.dir[name], pr); err != nil {
				return err
			}
		case old != fp:
			ch := &nftables.Chain{Name: name, Table: table}
			c.FlushChain(ch)
			if err := addPodRules(c, ch, d.dir[name], pr); err != nil {
				return err
			}
		}
		changed[name] = fp
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
		delete(b.programmed, name)
		delete(b.comments, name)
		delete(b.prs, name)
	}
	for name, fp := range changed {
		pr := d.chains[name]
		b.programmed[name], b.comments[name], b.prs[name] = fp, ruleComments(pr), pr
	}
	b.vmaps, b.self = d.vmaps, d.self
	return nil
}

// record remembers what a committed full transaction programmed.
func (b *Backend) record(d *desired) {
	b.programmed, b.comments, b.prs = map[string]string{}, map[string][]string{}, map[string]*PodRules{}
	for name, pr := range d.chains {
		b.programmed[name] = pr.Fingerprint()
		b.comments[name] = ruleComments(pr)
		b.prs[name] = pr
	}
	b.vmaps, b.self = d.vmaps, d.self
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

func ruleComments(pr *PodRules) []string {
	out := make([]string, 0, len(pr.Rules)+1)
	for _, r := range pr.Rules {
		out = append(out, r.Policy+" "+r.Hash())
	}
	return append(out, "deny "+pr.Pod)
}

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

func addPodChain(c *nftables.Conn, name, dir string, pr *PodRules) error {
	ch := c.AddChain(&nftables.Chain{Name: name, Table: table})
	return addPodRules(c, ch, dir, pr)
}

// addPodRules writes a pod chain: one rule per allowed Rule (accept for
// ingress, return to the dispatch chain for egress, which goes on to the
// destination's ingress check), then a counted drop.
func addPodRules(c *nftables.Conn, ch *nftables.Chain, dir string, pr *PodRules) error {
	verdict, peerOff := expr.VerdictAccept, uint32(12)
	if dir == "eg" {
		verdict, peerOff = expr.VerdictReturn, 16
	}
	var rules [][]expr.Any
	for _, r := range pr.Rules {
		var ex []expr.Any
		if !r.AnyPeer {
			m, err := match(c, nftables.TypeIPAddr, ipRanges(r.Peers))
			if err != nil {
				return err
			}
			ex = append(ex, loadAddr(peerOff), m)
		}
		if r.Proto != 0 {
			ex = append(ex, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{r.Proto}})
			if len(r.Ports) > 0 {
				m, err := match(c, nftables.TypeInetService, portRanges(r.Ports))
				if err != nil {
					return err
				}
				ex = append(ex, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}, m)
			}
		}
		ex = append(ex, &expr.Verdict{Kind: verdict})
		rules = append(rules, ex)
	}
	rules = append(rules, []expr.Any{&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop}})
	for i, comment := range ruleComments(pr) {
		c.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: rules[i],
			UserData: userdata.AppendString(nil, userdata.TypeComment, comment)})
	}
	return nil
}

// span is a range of big-endian keys, end exclusive; a nil end runs to
// the end of the key space.
type span struct{ start, end []byte }

func ipRanges(rs []Range) []span {
	out := make([]span, len(rs))
	for i, r := range rs {
		out[i].start = binary.BigEndian.AppendUint32(nil, r.First)
		if r.Last != ^uint32(0) {
			out[i].end = binary.BigEndian.AppendUint32(nil, r.Last+1)
		}
	}
	return out
}

func portRanges(ps []PortRange) []span {
	out := make([]span, len(ps))
	for i, p := range ps {
		out[i].start = binary.BigEndian.AppendUint16(nil, p.First)
		if p.Last != 65535 {
			out[i].end = binary.BigEndian.AppendUint16(nil, p.Last+1)
		}
	}
	return out
}

// match compares register 1 with spans: one value or one range inline,
// several through an anonymous interval set. Sets are kept for lists:
// the kernel names each anonymous set by scanning the table's sets, so a
// set per rule makes a large transaction quadratic.
func match(c *nftables.Conn, key nftables.SetDatatype, spans []span) (expr.Any, error) {
	if len(spans) == 1 {
		sp := spans[0]
		last := lastOf(sp, int(key.Bytes))
		if bytes.Equal(sp.start, last) {
			return &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: sp.start}, nil
		}
		return &expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: sp.start, ToData: last}, nil
	}
	s, err := intervalSet(c, key, spans)
	if err != nil {
		return nil, err
	}
	return &expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID}, nil
}

// lastOf is the inclusive end of a span (its exclusive end minus one, or
// all ones when it runs to the end of the key space).
func lastOf(sp span, n int) []byte {
	if sp.end == nil {
		return bytes.Repeat([]byte{0xff}, n)
	}
	last := bytes.Clone(sp.end)
	for i := len(last) - 1; i >= 0; i-- {
		last[i]--
		if last[i] != 0xff {
			break
		}
	}
	return last
}

// intervalSet adds an anonymous constant interval set; spans must be
// sorted and must not touch (mergeRanges guarantees it).
func intervalSet(c *nftables.Conn, key nftables.SetDatatype, spans []span) (*nftables.Set, error) {
	s := &nftables.Set{Table: table, Anonymous: true, Constant: true, Interval: true, KeyType: key}
	var els []nftables.SetElement
	for _, sp := range spans {
		els = append(els, nftables.SetElement{Key: sp.start})
		if sp.end != nil {
			els = append(els, nftables.SetElement{Key: sp.end, IntervalEnd: true})
		}
	}
	if err := c.AddSet(s, els); err != nil {
		return nil, fmt.Errorf("anonymous set: %w", err)
	}
	return s, nil
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
