package bpf

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/cilium/ebpf"
)

// Upsert programs the service called name (any stable key the caller
// chooses, such as "ns/svc:port/TCP") and reports whether anything was
// written. Writes are ordered so a connecting client sees the old
// service or the new one, never a mix: new backend entries first, then
// the slot table of the unused generation, then the service entries of
// every frontend (each one map update, atomic), and only then are old
// slots, dropped frontends and removed backends deleted. Connected UDP
// sockets translated to a removed backend are destroyed (see
// DestroyNamespaces) so their next send fails and the client reconnects
// to a live backend.
//
// A name not seen before adopts a service restored from pinned maps
// that owns its first frontend, so a restarted loader rewrites only what
// changed. On error the kernel holds a valid old or new state per
// frontend, and the next call re-reads the maps before diffing.
func (lb *LB) Upsert(name string, svc Service) (bool, error) {
	if err := svc.validate(); err != nil {
		return false, fmt.Errorf("upsert service %s: %w", name, err)
	}
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if err := lb.ensureTable(); err != nil {
		return false, fmt.Errorf("upsert service %s: %w", name, err)
	}
	removed, changed, err := lb.upsert(name, &svc)
	if err != nil {
		lb.stale = true // re-read the kernel next time
		return false, fmt.Errorf("upsert service %s: %w", name, err)
	}
	if len(removed) > 0 && (svc.Proto == UDP || svc.AbortTCP) {
		if err := lb.destroySockets(svc.Proto, removed); err != nil {
			return changed, fmt.Errorf("upsert service %s: %w", name, err)
		}
	}
	return changed, nil
}

// SetBackends replaces the backends of a service programmed before.
func (lb *LB) SetBackends(name string, backends []netip.AddrPort) (bool, error) {
	svc, ok := lb.Service(name)
	if !ok {
		return false, fmt.Errorf("set backends of %s: no such service", name)
	}
	svc.Backends = backends
	return lb.Upsert(name, svc)
}

// ensureTable re-reads the kernel maps after a failed update, keeping
// the names of the services it knew.
func (lb *LB) ensureTable() error {
	if !lb.stale {
		return nil
	}
	st, err := restore(&lb.objs)
	if err != nil {
		return fmt.Errorf("re-read maps: %w", err)
	}
	for name, old := range lb.st.byName {
		if s := st.byID[old.id]; s != nil && s.name == "" {
			s.name = name
			st.byName[name] = s
		}
	}
	lb.st, lb.stale = st, false
	return nil
}

func serviceFlags(svc *Service) (flags, affinity uint32) {
	if svc.AbortTCP {
		flags |= svcFlagAbortTCP
	}
	if svc.AffinityTimeout > 0 {
		secs := (svc.AffinityTimeout + time.Second - 1) / time.Second
		flags |= svcFlagAffinity
		affinity = uint32(secs)
	}
	return flags, affinity
}

// upsert writes the plan and commits it to the table, returning the ids
// of backends removed from the service.
func (lb *LB) upsert(name string, svc *Service) (removed []uint32, changed bool, err error) {
	t := lb.st
	s := t.lookup(name, svc)
	id := uint32(0)
	if s != nil {
		id = s.id
	} else if id, err = t.svcIDs.alloc(); err != nil {
		return nil, false, fmt.Errorf("service id: %w", err)
	}
	p, err := t.diff(s, id, svc)
	if err != nil {
		if s == nil {
			t.svcIDs.release(id)
		}
		return nil, false, err
	}
	flags, affinity := serviceFlags(svc)
	if s != nil && !s.dirty && !p.slotsChanged && len(p.dropFrontends) == 0 &&
		len(p.frontends) == len(s.frontends) && flags == s.flags && affinity == s.affinity {
		return nil, false, nil
	}
	if s == nil {
		s = &svcState{name: name, id: id, proto: svc.Proto, frontends: map[lbSvcKey]bool{}}
		t.byName[name], t.byID[id] = s, s
	}
	if err := lb.write(s, p, flags, affinity); err != nil {
		return nil, false, err
	}
	return p.removedIDs, true, nil
}

// write applies a plan to the kernel in the safe order and updates s.
func (lb *LB) write(s *svcState, p *plan, flags, affinity uint32) error {
	t := lb.st
	m := &lb.objs.lbMaps
	if err := putAll(m.SyBackends, p.newBackends, p.newBackendVals); err != nil {
		return fmt.Errorf("write backends: %w", err)
	}
	// With no old slots, nothing reads the current generation: write it
	// in place. Otherwise fill the other one and switch.
	oldGen, oldN := s.gen, len(s.ids)
	flip := p.slotsChanged && oldN > 0
	if flip {
		s.gen ^= 1
	}
	if p.slotsChanged {
		if err := putAll(m.SySlots, slotKeys(s.id, s.gen, len(p.ids)), p.ids); err != nil {
			return fmt.Errorf("write slots: %w", err)
		}
	}
	s.ids, s.backends, s.flags, s.affinity, s.dirty = p.ids, p.addrs, flags, affinity, false
	val := s.value()
	keys := make([]lbSvcKey, 0, len(p.frontends))
	for k := range p.frontends {
		keys = append(keys, k)
	}
	vals := slices.Repeat([]lbSvcVal{val}, len(keys))
	if err := putAll(m.SyServices, keys, vals); err != nil {
		return fmt.Errorf("write frontends: %w", err)
	}
	// The kernel now uses the new state; clean up behind it.
	for _, k := range keys {
		if other := t.byFrontend[k]; other != nil && other != s {
			delete(other.frontends, k)
		}
		t.byFrontend[k] = s
	}
	s.frontends = p.frontends
	var errs []error
	errs = append(errs, deleteAll(m.SyServices, p.dropFrontends))
	for _, k := range p.dropFrontends {
		delete(t.byFrontend, k)
	}
	if flip {
		errs = append(errs, deleteAll(m.SySlots, slotKeys(s.id, oldGen, oldN)))
	}
	errs = append(errs, deleteAll(m.SyBackends, p.removedIDs))
	for _, id := range p.removedIDs {
		t.backendIDs.release(id)
	}
	return errors.Join(errs...)
}

func slotKeys(id, gen uint32, n int) []lbSlotKey {
	keys := make([]lbSlotKey, n)
	for i := range keys {
		keys[i] = slotKey(id, gen, i)
	}
	return keys
}

// Delete removes the service called name: its frontends first (clients
// now connect to the raw address, which nothing answers), then its slots,
// backends and counters. Connected UDP sockets translated to its
// backends are destroyed. A name not programmed is not an error.
func (lb *LB) Delete(name string) error {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if err := lb.ensureTable(); err != nil {
		return fmt.Errorf("delete service %s: %w", name, err)
	}
	s := lb.st.byName[name]
	if s == nil {
		return nil
	}
	ids := slices.Clone(s.ids)
	if err := lb.remove(s); err != nil {
		lb.stale = true
		return fmt.Errorf("delete service %s: %w", name, err)
	}
	if len(ids) > 0 && (s.proto == UDP || s.flags&svcFlagAbortTCP != 0) {
		if err := lb.destroySockets(s.proto, ids); err != nil {
			return fmt.Errorf("delete service %s: %w", name, err)
		}
	}
	return nil
}

// remove deletes s from the kernel and the table.
func (lb *LB) remove(s *svcState) error {
	t, m := lb.st, &lb.objs.lbMaps
	keys := make([]lbSvcKey, 0, len(s.frontends))
	for k := range s.frontends {
		keys = append(keys, k)
		delete(t.byFrontend, k)
	}
	err := errors.Join(
		deleteAll(m.SyServices, keys),
		deleteAll(m.SySlots, slotKeys(s.id, s.gen, len(s.ids))),
		deleteAll(m.SyBackends, s.ids),
		deleteAll(m.SyStats, []uint32{s.id}),
	)
	for _, id := range s.ids {
		t.backendIDs.release(id)
	}
	t.svcIDs.release(s.id)
	delete(t.byID, s.id)
	if s.name != "" {
		delete(t.byName, s.name)
	}
	return err
}

// PruneUnclaimed deletes the services restored from pinned maps that no
// Upsert claimed since Open: call it after the first full pass over the
// desired services. It returns how many were deleted.
func (lb *LB) PruneUnclaimed() (int, error) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if err := lb.ensureTable(); err != nil {
		return 0, fmt.Errorf("prune services: %w", err)
	}
	var errs []error
	n := 0
	for _, s := range lb.st.byID {
		if s.name == "" {
			errs = append(errs, lb.remove(s))
			n++
		}
	}
	if err := errors.Join(errs...); err != nil {
		lb.stale = true
		return n, fmt.Errorf("prune services: %w", err)
	}
	return n, nil
}

// Names lists the services programmed under a name, sorted.
func (lb *LB) Names() []string {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return slices.Sorted(maps.Keys(lb.st.byName))
}

// Service returns the service called name as programmed.
func (lb *LB) Service(name string) (Service, bool) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	s := lb.st.byName[name]
	if s == nil {
		return Service{}, false
	}
	return s.service(), true
}

func (s *svcState) service() Service {
	svc := Service{Proto: s.proto, Backends: slices.Clone(s.backends)}
	for k := range s.frontends {
		svc.Frontends = append(svc.Frontends, k.addrPort())
	}
	slices.SortFunc(svc.Frontends, func(a, b netip.AddrPort) int { return a.Compare(b) })
	if s.flags&svcFlagAffinity != 0 {
		svc.AffinityTimeout = time.Duration(s.affinity) * time.Second
	}
	svc.AbortTCP = s.flags&svcFlagAbortTCP != 0
	return svc
}

// putAll writes keys[i] → vals[i], in one batch syscall when there are
// several.
func putAll[K, V any](m *ebpf.Map, keys []K, vals []V) error {
	switch len(keys) {
	case 0:
		return nil
	case 1:
		return m.Put(keys[0], vals[0])
	}
	_, err := m.BatchUpdate(keys, vals, nil)
	return err
}

// deleteAll deletes keys, ignoring those already gone.
func deleteAll[K any](m *ebpf.Map, keys []K) error {
	for len(keys) > 0 {
		if len(keys) == 1 {
			if err := m.Delete(keys[0]); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return err
			}
			return nil
		}
		n, err := m.BatchDelete(keys, nil)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ebpf.ErrKeyNotExist) {
			return err
		}
		keys = keys[n+1:] // skip the missing key
	}
	return nil
}
