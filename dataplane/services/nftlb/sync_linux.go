package nftlb

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"

	"github.com/switchyard-net/switchyard/dataplane/services"
)

// desired is the complete state to program: every port's record, the
// shared chains, and the element refcounts.
type desired struct {
	ports  map[services.PortName]*portRec
	base   []*chainDef
	elems  map[elemKey]*elemRef
	chains map[string]*chainDef
}

func buildDesired(st *services.State) *desired {
	d := &desired{ports: make(map[services.PortName]*portRec, len(st.Ports)),
		base: baseChains(), elems: make(map[elemKey]*elemRef, 10*len(st.Ports)), chains: map[string]*chainDef{}}
	for _, ch := range d.base {
		d.chains[ch.name] = ch
	}
	pickers := map[picker]*chainDef{}
	for name, sp := range st.Ports {
		if sp == nil {
			continue
		}
		rec := buildPort(sp, st.ClusterCIDR, pickers)
		d.ports[name] = rec
		for _, ch := range rec.chains {
			d.chains[ch.name] = ch
		}
		for _, e := range rec.elems {
			ref(d.elems, e)
		}
	}
	return d
}

func ref(m map[elemKey]*elemRef, e elem) {
	if r := m[e.k]; r != nil {
		r.refs++
		r.val = e.val // two ports claiming one key with different values: the last wins
		return
	}
	m[e.k] = &elemRef{val: e.val, refs: 1}
}

func unref(m map[elemKey]*elemRef, e elem) {
	if r := m[e.k]; r != nil {
		if r.refs--; r.refs <= 0 {
			delete(m, e.k)
		}
	}
}

// diffKernel is the transaction turning what the kernel holds (ks) into
// d; written reports the chains and element keys it writes.
func diffKernel(ks *kstate, chains map[string]*chainDef, elems map[elemKey]*elemRef) *txn {
	t := &txn{}
	if ks.table && !setsMatch(ks) || !baseChainsMatch(ks, chains) {
		t.reset = ks
		ks = &kstate{sets: map[string]*nftables.Set{}, chains: map[string]*nftables.Chain{},
			rules: map[string][]string{}, elems: map[elemKey]string{}}
	}
	for i, s := range sets {
		if ks.sets[s.name] == nil {
			t.addSets = append(t.addSets, uint8(i))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(chains)) {
		ch := chains[name]
		switch {
		case ks.chains[name] == nil:
			t.addChains = append(t.addChains, ch)
		case ks.fingerprint(name) != ch.fingerprint():
			t.rewrite = append(t.rewrite, ch)
		}
	}
	for name := range ks.chains {
		if chains[name] == nil {
			t.delChains = append(t.delChains, name)
		}
	}
	for k, v := range ks.elems {
		if r := elems[k]; r == nil || r.val != v {
			t.delElems[k.set] = append(t.delElems[k.set], elem{k, v})
		}
	}
	for k, r := range elems {
		if v, ok := ks.elems[k]; !ok || v != r.val {
			t.addElems[k.set] = append(t.addElems[k.set], elem{k, r.val})
		}
	}
	return t
}

// setsMatch reports whether our sets in the kernel have the layout this
// version expects (else everything of ours is rebuilt, in the same
// transaction).
func setsMatch(ks *kstate) bool {
	for _, s := range sets {
		have := ks.sets[s.name]
		if have == nil {
			continue
		}
		want := s.nft(nil)
		// google/nftables decodes no key length for concatenated
		// verdict maps: compare what it decodes.
		if have.IsMap != want.IsMap || have.HasTimeout != want.HasTimeout ||
			have.KeyType.Bytes != 0 && have.KeyType.Bytes != want.KeyType.Bytes ||
			!s.verdict && have.DataType.Bytes != want.DataType.Bytes {
			return false
		}
	}
	return true
}

func baseChainsMatch(ks *kstate, chains map[string]*chainDef) bool {
	for name, have := range ks.chains {
		want := chains[name]
		if want == nil || want.base == nil {
			if have.Hooknum != nil {
				return false
			}
			continue
		}
		if have.Hooknum == nil || *have.Hooknum != *want.base.hook || have.Priority == nil ||
			*have.Priority != *want.base.prio || have.Type != want.base.typ {
			return false
		}
	}
	return true
}

func (b *Backend) syncFull(st *services.State) (services.SyncResult, error) {
	d := buildDesired(st)
	ks, err := b.k.read()
	if err != nil {
		return services.SyncResult{}, err
	}
	t := diffKernel(ks, d.chains, d.elems)
	changed := 0
	if !t.empty() {
		written := map[string]bool{}
		for _, ch := range append(slices.Clip(t.addChains), t.rewrite...) {
			written[ch.name] = true
		}
		addedKeys := map[elemKey]bool{}
		for i := range t.addElems {
			for _, e := range t.addElems[i] {
				addedKeys[e.k] = true
			}
		}
		for _, rec := range d.ports {
			if portTouched(rec, written, addedKeys) {
				changed++
			}
		}
		if err := b.commitAndRecord(t); err != nil {
			return services.SyncResult{}, err
		}
	} else if err := b.recordGen(); err != nil {
		return services.SyncResult{}, err
	}
	b.install(d, st.ClusterCIDR)
	return services.SyncResult{Full: true, PortsChanged: changed, Rules: b.count()}, nil
}

func portTouched(rec *portRec, written map[string]bool, added map[elemKey]bool) bool {
	for _, ch := range rec.chains {
		if written[ch.name] {
			return true
		}
	}
	for _, e := range rec.elems {
		if added[e.k] {
			return true
		}
	}
	return false
}

func (b *Backend) commitAndRecord(t *txn) error {
	if err := b.commit(t); err != nil {
		return err
	}
	return b.recordGen()
}

func (b *Backend) recordGen() error {
	g, err := b.k.genID()
	if err != nil {
		return err
	}
	b.gen = g
	return nil
}

func (b *Backend) install(d *desired, cidr netip.Prefix) {
	b.ports, b.base, b.elems, b.cidr = d.ports, d.base, d.elems, cidr
	b.pickers = map[picker]*chainDef{}
	b.byPtr = make(map[*services.ServicePort]*portRec, len(d.ports))
	for _, rec := range d.ports {
		b.byPtr[rec.sp] = rec
	}
	b.chains = make(map[string]string, len(d.chains))
	for name, ch := range d.chains {
		b.chains[name] = ch.fingerprint()
	}
	b.chainRefs = map[string]int{}
	for _, rec := range d.ports {
		for _, ch := range rec.chains {
			b.chainRefs[ch.name]++
		}
	}
	b.valid = true
}

// count is the number of rules and map elements programmed (one rule per
// line of a chain's fingerprint).
func (b *Backend) count() int {
	n := len(b.elems)
	for _, fp := range b.chains {
		n += strings.Count(fp, "\n") + 1
	}
	return n
}

// syncIncremental rewrites only the ports that changed since the last
// Sync: pointer equality first, then contents.
func (b *Backend) syncIncremental(st *services.State) (services.SyncResult, error) {
	if st.ClusterCIDR != b.cidr {
		// Every ClusterIP picker depends on it: start over.
		return b.syncFull(st)
	}
	type before struct {
		present bool
		val     string
	}
	touched := map[elemKey]before{}
	snap := func(e elem) {
		if _, ok := touched[e.k]; !ok {
			r := b.elems[e.k]
			touched[e.k] = before{r != nil, func() string {
				if r != nil {
					return r.val
				}
				return ""
			}()}
		}
	}
	t := &txn{}
	var affStale []affDrop
	changed := 0
	chainsBefore := map[string]int{}
	newDefs := map[string]*chainDef{}
	replace := func(old, rec *portRec) {
		changed++
		if old != nil {
			for _, e := range old.elems {
				snap(e)
				unref(b.elems, e)
			}
			for _, ch := range old.chains {
				if _, ok := chainsBefore[ch.name]; !ok {
					chainsBefore[ch.name] = b.chainRefs[ch.name]
				}
				b.chainRefs[ch.name]--
			}
			affStale = append(affStale, staleAffinity(old, rec)...)
		}
		if rec != nil {
			for _, e := range rec.elems {
				snap(e)
				ref(b.elems, e)
			}
			for _, ch := range rec.chains {
				if _, ok := chainsBefore[ch.name]; !ok {
					chainsBefore[ch.name] = b.chainRefs[ch.name]
				}
				b.chainRefs[ch.name]++
				newDefs[ch.name] = ch
			}
		}
	}
	// Unchanged ports are found by pointer (cheap to hash), the rest by
	// name; the names map is rebuilt only when ports come or go.
	kept := 0
	var fresh []*services.ServicePort
	for _, sp := range st.Ports {
		if sp == nil {
			continue
		}
		if b.byPtr[sp] != nil {
			kept++
			continue
		}
		fresh = append(fresh, sp)
	}
	if len(fresh) == 0 && kept == len(b.ports) {
		return services.SyncResult{Rules: b.count()}, nil
	}
	for _, sp := range fresh {
		old := b.ports[sp.Name]
		if old != nil {
			delete(b.byPtr, old.sp)
			kept++
		}
		if old != nil && services.SamePort(old.sp, sp) {
			old.sp = sp
			b.byPtr[sp] = old
			continue
		}
		rec := buildPort(sp, b.cidr, b.pickers)
		replace(old, rec)
		b.ports[sp.Name] = rec
		b.byPtr[sp] = rec
	}
	if kept < len(b.ports) {
		for name, old := range b.ports {
			if sp := st.Ports[name]; sp == nil || b.byPtr[sp] == nil {
				replace(old, nil)
				delete(b.ports, name)
				delete(b.byPtr, old.sp)
			}
		}
	}
	for name, was := range chainsBefore {
		now := b.chainRefs[name]
		switch {
		case was <= 0 && now > 0:
			if _, programmed := b.chains[name]; !programmed {
				t.addChains = append(t.addChains, newDefs[name])
				b.chains[name] = newDefs[name].fingerprint()
			}
		case was > 0 && now <= 0:
			t.delChains = append(t.delChains, name)
			delete(b.chains, name)
			delete(b.chainRefs, name)
		}
	}
	for k, was := range touched {
		now := b.elems[k]
		if was.present && (now == nil || now.val != was.val) {
			t.delElems[k.set] = append(t.delElems[k.set], elem{k, was.val})
		}
		if now != nil && (!was.present || now.val != was.val) {
			t.addElems[k.set] = append(t.addElems[k.set], elem{k, now.val})
		}
	}
	if len(affStale) > 0 {
		keys, err := b.affinityKeys(affStale)
		if err != nil {
			b.log.Warn("list affinity entries", "err", err)
		}
		t.affDestroy = keys
	}
	if t.empty() {
		return services.SyncResult{PortsChanged: 0, Rules: b.count()}, nil
	}
	if err := b.commitAndRecord(t); err != nil {
		return services.SyncResult{}, err
	}
	return services.SyncResult{PortsChanged: changed, Rules: b.count()}, nil
}

// affDrop names affinity entries to drop: those under prefix (vip .
// proto . port) remembering a slot whose endpoint changed.
type affDrop struct {
	prefix string
	stale  map[uint32]bool
}

func staleAffinity(old, rec *portRec) []affDrop {
	var out []affDrop
	for prefix, eps := range old.aff {
		var now []string
		if rec != nil {
			now = rec.aff[prefix]
		}
		stale := map[uint32]bool{}
		for i, ep := range eps {
			if i >= len(now) || now[i] != ep {
				stale[uint32(i)] = true
			}
		}
		if len(stale) > 0 {
			out = append(out, affDrop{prefix, stale})
		}
	}
	return out
}

func (b *Backend) affinityKeys(drops []affDrop) ([]string, error) {
	entries, err := b.k.readAffinity()
	if err != nil {
		return nil, err
	}
	byPrefix := map[string]map[uint32]bool{}
	for _, d := range drops {
		byPrefix[d.prefix] = d.stale
	}
	var keys []string
	for k, v := range entries {
		if len(k) < 12 || len(v) != 4 {
			continue
		}
		if stale, ok := byPrefix[k[:12]]; ok && stale[binaryutil.NativeEndian.Uint32([]byte(v))] {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// Drifted reports whether the kernel still holds what the last Sync
// programmed. It costs one netlink round trip when nobody committed an
// nftables transaction in the namespace since; otherwise it reads our
// objects back and compares.
func (b *Backend) Drifted(ctx context.Context) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.k == nil {
		return false, errClosed
	}
	if !b.valid {
		return true, nil
	}
	g, err := b.k.genID()
	if err != nil {
		return false, fmt.Errorf("nftlb: drift: %w", err)
	}
	if g == b.gen {
		return false, nil
	}
	ks, err := b.k.read()
	if err != nil {
		return false, fmt.Errorf("nftlb: drift: %w", err)
	}
	chains := map[string]*chainDef{}
	for _, ch := range b.base {
		chains[ch.name] = ch
	}
	for _, rec := range b.ports {
		for _, ch := range rec.chains {
			chains[ch.name] = ch
		}
	}
	if !ks.table || !diffKernel(ks, chains, b.elems).empty() {
		b.valid = false
		return true, nil
	}
	b.gen = g
	return false, nil
}
