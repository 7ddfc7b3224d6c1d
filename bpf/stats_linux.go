package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// Stats returns the connection counters of every named service (zero for
// one that has not been used yet), summed over CPUs.
func (lb *LB) Stats() (map[string]Stats, error) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	out := make(map[string]Stats, len(lb.st.byName))
	var vals []lbStatsVal
	for name, s := range lb.st.byName {
		err := lb.objs.SyStats.Lookup(s.id, &vals)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			out[name] = Stats{}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read stats of %s: %w", name, err)
		}
		var st Stats
		for _, v := range vals {
			st.Connects += v.Connects
			st.Refused += v.Refused
		}
		out[name] = st
	}
	return out, nil
}

// MapFill is how full one map is.
type MapFill struct {
	Name       string
	Entries    int
	MaxEntries uint32
}

// Fill counts the entries of the service, backend and slot maps (for
// `switchyard status`); it walks the maps, so call it rarely.
func (lb *LB) Fill() ([]MapFill, error) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	var out []MapFill
	for _, m := range []struct {
		name string
		m    *ebpf.Map
	}{{"sy_services", lb.objs.SyServices}, {"sy_backends", lb.objs.SyBackends}, {"sy_slots", lb.objs.SySlots}} {
		n, err := countEntries(m.m)
		if err != nil {
			return nil, fmt.Errorf("count %s: %w", m.name, err)
		}
		out = append(out, MapFill{Name: m.name, Entries: n, MaxEntries: m.m.MaxEntries()})
	}
	return out, nil
}

func countEntries(m *ebpf.Map) (int, error) {
	var k []byte
	n := 0
	it := m.Iterate()
	var v []byte
	for it.Next(&k, &v) {
		n++
	}
	return n, it.Err()
}
