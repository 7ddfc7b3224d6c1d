package bpf

import (
	"errors"
	"fmt"
)

// restore rebuilds the table from the pinned maps, as a restarted loader
// (or one whose update failed half-way) finds them, and deletes what no
// service references any more: slots of a generation no frontend uses
// (a crash between writing a new generation and switching to it, or
// before deleting the old one), backends no slot names, and counters of
// services that are gone. Restored services have no name until an Upsert
// adopts them.
func restore(objs *lbObjects) (*table, error) {
	t := newTable()
	counts := map[*svcState]uint32{}
	if err := restoreServices(objs, t, counts); err != nil {
		return nil, err
	}
	backends := map[uint32]lbBackendVal{}
	var id uint32
	var bv lbBackendVal
	it := objs.SyBackends.Iterate()
	for it.Next(&id, &bv) {
		backends[id] = bv
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read backends: %w", err)
	}
	keep, err := restoreSlots(objs, t, counts)
	if err != nil {
		return nil, err
	}
	for _, s := range t.byID {
		n := counts[s]
		s.ids = make([]uint32, n)
		s.backends = s.backends[:0]
		for i := range s.ids {
			id := keep[slotKey(s.id, s.gen, i)]
			b, ok := backends[id]
			if !ok || b.SvcId != s.id {
				s.dirty = true
			}
			s.ids[i] = id
			s.backends = append(s.backends, b.addrPort())
		}
	}
	var orphans []uint32
	used := map[uint32]bool{}
	for _, id := range keep {
		used[id] = true
	}
	for id := range backends {
		if used[id] {
			t.backendIDs.claim(id)
		} else {
			orphans = append(orphans, id)
		}
	}
	return t, errors.Join(deleteAll(objs.SyBackends, orphans), pruneStats(objs, t))
}

func restoreServices(objs *lbObjects, t *table, counts map[*svcState]uint32) error {
	var k lbSvcKey
	var v lbSvcVal
	it := objs.SyServices.Iterate()
	for it.Next(&k, &v) {
		s := t.byID[v.Id]
		if s == nil {
			s = &svcState{id: v.Id, proto: Proto(k.Proto), frontends: map[lbSvcKey]bool{},
				gen: v.Gen, flags: v.Flags, affinity: v.AffinityS}
			t.byID[v.Id] = s
			t.svcIDs.claim(v.Id)
			counts[s] = v.Count
		} else if v.Gen != s.gen || v.Count != counts[s] {
			// Frontends disagree (a crash while switching them): the
			// next Upsert rewrites all of them.
			s.dirty = true
		}
		s.frontends[k] = true
		t.byFrontend[k] = s
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read services: %w", err)
	}
	return nil
}

// restoreSlots returns the live slots (current generation, below the
// count) and deletes the others, except those of a dirty service that
// some frontend may still read.
func restoreSlots(objs *lbObjects, t *table, counts map[*svcState]uint32) (map[lbSlotKey]uint32, error) {
	keep := map[lbSlotKey]uint32{}
	var stale []lbSlotKey
	var k lbSlotKey
	var id uint32
	it := objs.SySlots.Iterate()
	for it.Next(&k, &id) {
		s := t.byID[k.SvcId]
		gen := k.Slot >> 31
		switch {
		case s != nil && gen == s.gen && k.Slot&^slotGenBit < counts[s]:
			keep[k] = id
		case s != nil && s.dirty:
			keep[k] = id // deleted by the rewrite's cleanup or kept referenced
		default:
			stale = append(stale, k)
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read slots: %w", err)
	}
	if err := deleteAll(objs.SySlots, stale); err != nil {
		return nil, fmt.Errorf("delete stale slots: %w", err)
	}
	return keep, nil
}

func pruneStats(objs *lbObjects, t *table) error {
	var gone []uint32
	var id uint32
	var vals []lbStatsVal
	it := objs.SyStats.Iterate()
	for it.Next(&id, &vals) {
		if t.byID[id] == nil {
			gone = append(gone, id)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read stats: %w", err)
	}
	return deleteAll(objs.SyStats, gone)
}
