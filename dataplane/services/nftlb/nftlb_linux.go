package nftlb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/dataplane/services"
)

var _ services.Backend = (*Backend)(nil)

// Backend is the nftables services.Backend. Its methods are safe for
// concurrent use (they are serialized).
type Backend struct {
	log   *slog.Logger
	fd    int  // target namespace
	ownFd bool // fd is ours to close

	mu    sync.Mutex
	k     *kernel
	valid bool // programmed describes the kernel; false: next Sync is full
	gen   uint32
	ports map[services.PortName]*portRec
	byPtr map[*services.ServicePort]*portRec
	// pickers caches picker chain definitions (pure functions of the
	// picker) across incremental syncs.
	pickers map[picker]*chainDef
	base    []*chainDef
	elems   map[elemKey]*elemRef
	chains  map[string]string // programmed chain → fingerprint
	// chainRefs counts the ports using each picker chain.
	chainRefs map[string]int
	cidr      netip.Prefix
}

type elemRef struct {
	val  string
	refs int
}

// New opens a Backend on the namespace cfg names. It touches nothing in
// the kernel: the first Sync reads what is there and converges.
func New(cfg Config) (*Backend, error) {
	b := &Backend{log: cfg.Logger}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.NetNSFd > 0:
		b.fd = cfg.NetNSFd
	default:
		path := cfg.NetNS
		if path == "" {
			path = "/proc/thread-self/ns/net"
		}
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("nftlb: open netns %s: %w", path, err)
		}
		b.fd, b.ownFd = fd, true
	}
	k, err := newKernel(b.fd)
	if err != nil {
		b.closeFd()
		return nil, fmt.Errorf("nftlb: %w", err)
	}
	b.k = k
	return b, nil
}

func (b *Backend) closeFd() {
	if b.ownFd && b.fd > 0 {
		unix.Close(b.fd)
		b.fd = -1
	}
}

// Name is "nftables".
func (b *Backend) Name() string { return "nftables" }

// Close releases the netlink socket; the programmed state stays.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var err error
	if b.k != nil {
		err = b.k.Close()
		b.k = nil
	}
	b.closeFd()
	return err
}

var errClosed = errors.New("nftlb: backend closed")

// Sync makes the kernel match st: incrementally when the last Sync
// succeeded, else (first Sync, after a failure or drift) by comparing st
// with what the kernel holds. Either way one transaction.
func (b *Backend) Sync(ctx context.Context, st *services.State) (services.SyncResult, error) {
	if err := ctx.Err(); err != nil {
		return services.SyncResult{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.k == nil {
		return services.SyncResult{}, errClosed
	}
	if st == nil {
		st = &services.State{}
	}
	if b.valid {
		res, err := b.syncIncremental(st)
		if err == nil {
			return res, nil
		}
		b.log.Warn("incremental nftables sync failed; resyncing in full", "err", err)
		b.valid = false
	}
	res, err := b.syncFull(st)
	if err != nil {
		b.valid = false
		return res, fmt.Errorf("nftlb: sync: %w", err)
	}
	return res, nil
}

// txn collects one transaction's changes in dependency order.
type txn struct {
	addSets    []uint8
	addChains  []*chainDef
	rewrite    []*chainDef
	delElems   [numSets][]elem
	addElems   [numSets][]elem
	delChains  []string
	affDestroy []string // keys of affinity entries to drop
	reset      *kstate  // delete all of these of ours first
}

func (t *txn) empty() bool {
	if len(t.addSets)+len(t.addChains)+len(t.rewrite)+len(t.delChains)+len(t.affDestroy) > 0 || t.reset != nil {
		return false
	}
	for i := range t.delElems {
		if len(t.delElems[i])+len(t.addElems[i]) > 0 {
			return false
		}
	}
	return true
}

const elemsPerMsg = 512 // keeps a message's element list under 64 KiB

func (b *Backend) commit(t *txn) error {
	var msgs []netlink.Message
	c := builder(&msgs)
	table := &nftables.Table{Name: Table, Family: nftables.TableFamilyINet}
	c.AddTable(table)
	if t.reset != nil {
		queueCleanup(c, table, t.reset)
	}
	for _, i := range t.addSets {
		if err := c.AddSet(sets[i].nft(table), nil); err != nil {
			return fmt.Errorf("add set %s: %w", sets[i].name, err)
		}
	}
	for _, ch := range t.addChains {
		c.AddChain(ch.nft(table))
	}
	for _, ch := range t.rewrite {
		c.FlushChain(ch.nft(table))
	}
	for _, ch := range append(t.addChains[:len(t.addChains):len(t.addChains)], t.rewrite...) {
		nch := ch.nft(table)
		for _, r := range ch.rules {
			c.AddRule(&nftables.Rule{Table: table, Chain: nch, Exprs: r.exprs, UserData: comment(r.comment)})
		}
	}
	for i := range t.delElems {
		s := sets[i].nft(table)
		for _, part := range chunks(t.delElems[i]) {
			if err := c.SetDeleteElements(s, toNft(part, sets[i].verdict)); err != nil {
				return fmt.Errorf("delete elements of %s: %w", s.Name, err)
			}
		}
	}
	for i := range t.addElems {
		s := sets[i].nft(table)
		for _, part := range chunks(t.addElems[i]) {
			if err := c.SetAddElements(s, toNft(part, sets[i].verdict)); err != nil {
				return fmt.Errorf("add elements to %s: %w", s.Name, err)
			}
		}
	}
	for _, name := range t.delChains {
		c.DelChain(&nftables.Chain{Name: name, Table: table})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("serialize: %w", err)
	}
	if len(t.affDestroy) > 0 {
		// Affinity entries time out on their own: "destroy" tolerates
		// the ones already gone.
		var extra []netlink.Message
		ca := builder(&extra)
		s := sets[setAffinity].nft(table)
		for i := 0; i < len(t.affDestroy); i += elemsPerMsg {
			var els []nftables.SetElement
			for _, k := range t.affDestroy[i:min(i+elemsPerMsg, len(t.affDestroy))] {
				els = append(els, nftables.SetElement{Key: []byte(k)})
			}
			if err := ca.SetDeleteElements(s, els); err != nil {
				return err
			}
		}
		if err := ca.Flush(); err != nil {
			return err
		}
		inner := extra[1 : len(extra)-1]
		for i := range inner {
			inner[i].Header.Type = netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | nftMsgDestroySetElem)
		}
		end := msgs[len(msgs)-1]
		msgs = append(append(msgs[:len(msgs)-1], inner...), end)
	}
	return b.k.send(msgs)
}

func comment(s string) []byte {
	// userdata TLV: type comment (0), length, NUL-terminated string.
	if len(s) > 250 {
		s = s[:250]
	}
	return append([]byte{0, byte(len(s) + 1)}, append([]byte(s), 0)...)
}

func chunks(els []elem) [][]elem {
	var out [][]elem
	for i := 0; i < len(els); i += elemsPerMsg {
		out = append(out, els[i:min(i+elemsPerMsg, len(els))])
	}
	return out
}

func toNft(els []elem, verdict bool) []nftables.SetElement {
	out := make([]nftables.SetElement, len(els))
	for i, e := range els {
		out[i].Key = []byte(e.k.key)
		if verdict {
			out[i].VerdictData = &expr.Verdict{Kind: expr.VerdictGoto, Chain: e.val}
		} else if e.val != "" {
			out[i].Val = []byte(e.val)
		}
	}
	return out
}

// queueCleanup deletes every object of ours that ks lists: rules first
// (they hold references to sets and chains), then sets (their verdict
// elements hold references to chains), then chains.
func queueCleanup(c *nftables.Conn, table *nftables.Table, ks *kstate) {
	for name := range ks.chains {
		c.FlushChain(&nftables.Chain{Name: name, Table: table})
	}
	for name := range ks.sets {
		c.DelSet(&nftables.Set{Name: name, Table: table})
	}
	for name := range ks.chains {
		c.DelChain(&nftables.Chain{Name: name, Table: table})
	}
}

// Cleanup removes every object of ours (never the table, never other
// components' chains) in one transaction.
func (b *Backend) Cleanup(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.k == nil {
		return errClosed
	}
	b.valid = false
	ks, err := b.k.read()
	if err != nil {
		return fmt.Errorf("nftlb: cleanup: %w", err)
	}
	if !ks.table || len(ks.chains)+len(ks.sets) == 0 {
		return nil
	}
	var msgs []netlink.Message
	c := builder(&msgs)
	queueCleanup(c, &nftables.Table{Name: Table, Family: nftables.TableFamilyINet}, ks)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftlb: cleanup: %w", err)
	}
	if err := b.k.send(msgs); err != nil {
		return fmt.Errorf("nftlb: cleanup: %w", err)
	}
	b.ports, b.elems, b.chains = nil, nil, nil
	return nil
}
