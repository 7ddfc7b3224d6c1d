package overlay

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"sync"
)

// Fake is an in-memory Kernel for unit tests. OnLinkPrefixes decides
// OnLink; Ops counts the entries Apply and EnsureVTEP changed, so tests
// can tell a converged no-op from a rewrite. Safe for concurrent use.
type Fake struct {
	mu             sync.Mutex
	OnLinkPrefixes []netip.Prefix
	MTU            int // the uplink's; 0 = 1500
	vtep           *VTEPConfig
	state          State
	ops            int
	changes        chan struct{}
}

// NewFake returns a Fake whose uplink is the subnet onLink.
func NewFake(onLink ...netip.Prefix) *Fake {
	return &Fake{OnLinkPrefixes: onLink, changes: make(chan struct{}, 1)}
}

var _ Kernel = (*Fake)(nil)

func (f *Fake) EnsureVTEP(ctx context.Context, cfg VTEPConfig) (VTEP, error) {
	if !cfg.Local.Is4() || cfg.MTU < 68 || len(cfg.MAC) != 6 || cfg.Name == "" {
		return VTEP{}, fmt.Errorf("ensure VTEP: invalid config %+v", cfg)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.vtep == nil || !reflect.DeepEqual(*f.vtep, cfg) {
		f.ops++
		if f.vtep != nil && f.vtep.Local != cfg.Local { // recreated: entries go with it
			f.state.Neighs, f.state.FDB = nil, nil
		}
		c := cfg
		f.vtep = &c
	}
	return VTEP{Name: cfg.Name, Index: 7, MAC: cfg.MAC, MTU: cfg.MTU}, ctx.Err()
}

func (f *Fake) RemoveVTEP(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.vtep != nil && f.vtep.Name == name {
		f.vtep, f.state.Neighs, f.state.FDB, f.state.VTEP = nil, nil, nil, ""
		f.state.Routes = slices.DeleteFunc(f.state.Routes, func(r Route) bool { return r.Dev == name })
		f.ops++
	}
	return ctx.Err()
}

func (f *Fake) UplinkMTU(addr netip.Addr) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.MTU == 0 {
		return 1500, nil
	}
	return f.MTU, nil
}

func (f *Fake) OnLink(addr netip.Addr, dev string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.OnLinkPrefixes {
		if p.Contains(addr) {
			return true, nil
		}
	}
	return false, nil
}

func (f *Fake) Apply(ctx context.Context, s State) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.VTEP != "" && (f.vtep == nil || f.vtep.Name != s.VTEP) {
		return fmt.Errorf("apply: VTEP %s missing", s.VTEP)
	}
	f.ops += diff(f.state.Routes, s.Routes) + diff(f.state.Neighs, s.Neighs) + diff(f.state.FDB, s.FDB)
	f.state = State{VTEP: s.VTEP, Routes: slices.Clone(s.Routes), Neighs: slices.Clone(s.Neighs), FDB: slices.Clone(s.FDB)}
	return ctx.Err()
}

// diff counts the entries to add, replace or delete to turn have into want.
func diff[T any](have, want []T) int {
	n := 0
	for _, w := range want {
		if !slices.ContainsFunc(have, func(h T) bool { return reflect.DeepEqual(h, w) }) {
			n++
		}
	}
	for _, h := range have {
		if !slices.ContainsFunc(want, func(w T) bool { return reflect.DeepEqual(h, w) }) {
			n++
		}
	}
	return n
}

func (f *Fake) Changes(ctx context.Context) <-chan struct{} { return f.changes }

// State is what the fake kernel holds now.
func (f *Fake) State() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

// VTEP is the fake VTEP's config, or nil.
func (f *Fake) VTEP() *VTEPConfig {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.vtep == nil {
		return nil
	}
	c := *f.vtep
	return &c
}

// Ops is the number of changes made so far.
func (f *Fake) Ops() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops
}

// DeleteFDB removes the FDB entries of dst, as an admin's `bridge fdb del`
// would, and signals Changes.
func (f *Fake) DeleteFDB(dst netip.Addr) {
	f.mu.Lock()
	f.state.FDB = slices.DeleteFunc(f.state.FDB, func(e FDB) bool { return e.Dst == dst })
	f.mu.Unlock()
	select {
	case f.changes <- struct{}{}:
	default:
	}
}
