package bpf

import (
	"fmt"
	"net/netip"
	"slices"
)

// Id spaces. Service ids key the slots, stats and affinity maps; backend
// ids the backends map. Both stay well inside the maps' capacity.
const (
	serviceIDLimit = 1 << 20
	backendIDLimit = 1 << 20
)

// svcState is what the kernel holds for one service, as the loader
// believes it. name is "" for a service restored from pinned maps that no
// caller has claimed yet.
type svcState struct {
	name      string
	id        uint32
	proto     Proto
	frontends map[lbSvcKey]bool
	// backends in slot order of generation gen; ids[i] is the backend id
	// of backends[i].
	backends []netip.AddrPort
	ids      []uint32
	gen      uint32
	flags    uint32
	affinity uint32
	// dirty means the kernel copy is incomplete (found so at restore):
	// the next Upsert rewrites everything.
	dirty bool
}

// value is the services-map value every frontend of s carries.
func (s *svcState) value() lbSvcVal {
	return lbSvcVal{Id: s.id, Count: uint32(len(s.ids)), Gen: s.gen, Flags: s.flags, AffinityS: s.affinity}
}

// table is the loader's view of every service. Not safe for concurrent
// use: LB's mutex guards it.
type table struct {
	byName     map[string]*svcState
	byID       map[uint32]*svcState
	byFrontend map[lbSvcKey]*svcState
	svcIDs     *idAllocator
	backendIDs *idAllocator
}

func newTable() *table {
	return &table{
		byName:     map[string]*svcState{},
		byID:       map[uint32]*svcState{},
		byFrontend: map[lbSvcKey]*svcState{},
		svcIDs:     newIDAllocator(serviceIDLimit),
		backendIDs: newIDAllocator(backendIDLimit),
	}
}

// lookup finds the state a named service updates: its own, or an
// unclaimed restored service that already owns its first frontend (a
// restarted loader adopts what the previous one programmed instead of
// rewriting it).
func (t *table) lookup(name string, svc *Service) *svcState {
	if s := t.byName[name]; s != nil {
		return s
	}
	if len(svc.Frontends) == 0 {
		return nil
	}
	s := t.byFrontend[frontendKey(svc.Frontends[0], svc.Proto)]
	if s == nil || s.name != "" || s.proto != svc.Proto {
		return nil
	}
	s.name = name
	t.byName[name] = s
	return s
}

// plan is the difference between a service's kernel state and a desired
// Service: what Upsert writes, in order.
type plan struct {
	allocated      []uint32 // backend ids allocated by diff
	newBackends    []uint32 // backend ids to write (backends map)
	newBackendVals []lbBackendVal
	slotsChanged   bool
	ids            []uint32 // backend ids in new slot order
	addrs          []netip.AddrPort
	frontends      map[lbSvcKey]bool
	dropFrontends  []lbSvcKey
	removedIDs     []uint32 // backend ids no longer used
}

// diff computes the plan turning s (nil: new) into svc, allocating ids
// for new backends. On error nothing has been allocated that the caller
// must release except through the returned plan's newBackends.
func (t *table) diff(s *svcState, svcID uint32, svc *Service) (*plan, error) {
	p := &plan{frontends: map[lbSvcKey]bool{}}
	old := map[netip.AddrPort]uint32{}
	if s != nil {
		for i, b := range s.backends {
			old[b] = s.ids[i]
		}
	}
	seen := map[netip.AddrPort]bool{}
	for _, b := range svc.Backends {
		b = netip.AddrPortFrom(b.Addr().Unmap(), b.Port())
		if seen[b] {
			continue
		}
		seen[b] = true
		id, ok := old[b]
		if !ok || (s != nil && s.dirty) {
			if !ok {
				var err error
				if id, err = t.backendIDs.alloc(); err != nil {
					t.releaseNew(p)
					return nil, fmt.Errorf("backend id: %w", err)
				}
				p.allocated = append(p.allocated, id)
			}
			p.newBackends = append(p.newBackends, id)
			p.newBackendVals = append(p.newBackendVals, lbBackendVal{
				Addr: addrToMap(b.Addr()), Port: portToMap(b.Port()), SvcId: svcID,
			})
		}
		p.ids = append(p.ids, id)
		p.addrs = append(p.addrs, b)
	}
	for b, id := range old {
		if !seen[b] {
			p.removedIDs = append(p.removedIDs, id)
		}
	}
	p.slotsChanged = s == nil || s.dirty || !slices.Equal(s.ids, p.ids)
	for _, f := range svc.Frontends {
		p.frontends[frontendKey(f, svc.Proto)] = true
	}
	if s != nil {
		for k := range s.frontends {
			if !p.frontends[k] {
				p.dropFrontends = append(p.dropFrontends, k)
			}
		}
	}
	return p, nil
}

// releaseNew returns the ids diff allocated for new backends.
func (t *table) releaseNew(p *plan) {
	for _, id := range p.allocated {
		t.backendIDs.release(id)
	}
}
