package podip

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/switchyard-net/switchyard/ipam/internal/cidr"
	"github.com/switchyard-net/switchyard/ipam/internal/errs"
)

// Allocate returns owner's address, allocating one if owner has none in
// the pool's CIDR. It returns an error matching ErrFull, naming the CIDR,
// when every address is taken. The allocation is durable when Allocate
// returns.
func (p *Pool) Allocate(owner string) (netip.Addr, error) {
	if err := checkOwner(owner); err != nil {
		return netip.Addr{}, fmt.Errorf("allocate pod IP: %w", err)
	}
	p.mu.Lock()
	a, ip, err := p.reserve(owner)
	p.mu.Unlock()
	if err != nil || a == nil {
		return ip, err
	}
	err = p.w.write(
		change{bucketOwners, []byte(owner), a.s.encode()},
		change{bucketMeta, keyLast, a.s.ip.AsSlice()},
	)
	return p.finish(a, err)
}

// allocation is an allocation being written.
type allocation struct {
	owner    string
	s, old   *slot // the new slot, and the one it replaces if any
	i        int   // bitmap slot
	prevLast int   // p.last before
}

// reserve, with p.mu held, returns owner's address if it has one in the
// CIDR, or else marks a free address as owner's and returns the
// allocation to write.
func (p *Pool) reserve(owner string) (*allocation, netip.Addr, error) {
	old, err := p.settled(owner)
	if err != nil {
		return nil, netip.Addr{}, err
	}
	if old != nil && p.cidr.Contains(old.ip) {
		return nil, old.ip, nil
	}
	i, ok := p.bits.FindClear(0, p.n, p.last+1)
	if !ok {
		return nil, netip.Addr{}, errs.Errorf(ErrFull, "pod CIDR %s is full", p.cidr)
	}
	ip := cidr.Addr(p.cidr, uint64(i))
	a := &allocation{owner: owner, old: old, i: i, prevLast: p.last}
	a.s = &slot{entry: entry{ip: ip, time: p.now()}, busy: make(chan struct{}), new: true}
	p.bits.Set(i)
	p.owners[owner] = a.s
	p.byIP[ip] = owner
	p.last = i
	p.writers.Add(1)
	return a, netip.Addr{}, nil
}

// finish ends an allocation whose write returned err: on failure the
// reservation is undone.
func (p *Pool) finish(a *allocation, err error) (netip.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.writers.Done()
	defer close(a.s.busy)
	a.s.busy, a.s.new = nil, false
	if err != nil {
		p.bits.Clear(a.i)
		delete(p.byIP, a.s.ip)
		p.restore(a.owner, a.old)
		if p.last == a.i {
			p.last = a.prevLast
		}
		return netip.Addr{}, fmt.Errorf("allocate pod IP for %q: %w", a.owner, err)
	}
	if a.old != nil {
		delete(p.byIP, a.old.ip) // replaced an address outside the CIDR
	}
	return a.s.ip, nil
}

// settled waits, with p.mu held, until no write for owner is in flight and
// returns owner's slot, nil if it has none. It fails if the pool is closed.
func (p *Pool) settled(owner string) (*slot, error) {
	for {
		if p.closed {
			return nil, ErrClosed
		}
		s, ok := p.owners[owner]
		if !ok {
			return nil, nil
		}
		if s.busy == nil {
			return s, nil
		}
		busy := s.busy
		p.mu.Unlock()
		<-busy
		p.mu.Lock()
	}
}

// restore puts back owner's previous slot after a failed write.
func (p *Pool) restore(owner string, old *slot) {
	if old == nil {
		delete(p.owners, owner)
		return
	}
	p.owners[owner] = old
}

// Release frees owner's address. Releasing an owner without one succeeds.
// The release is durable when Release returns.
func (p *Pool) Release(owner string) error {
	p.mu.Lock()
	s, err := p.settled(owner)
	if err != nil || s == nil {
		p.mu.Unlock()
		return err
	}
	s.busy = make(chan struct{})
	busy := s.busy
	p.writers.Add(1)
	p.mu.Unlock()

	err = p.w.write(change{bucketOwners, []byte(owner), nil})

	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.writers.Done()
	defer close(busy)
	s.busy = nil
	if err != nil {
		return fmt.Errorf("release pod IP of %q: %w", owner, err)
	}
	p.forget(owner, s)
	return nil
}

// forget drops a released slot from memory; its address is then free.
// The bit stays set until the release is durable, so a crash can never
// leave one address recorded for two owners.
func (p *Pool) forget(owner string, s *slot) {
	delete(p.owners, owner)
	delete(p.byIP, s.ip)
	if i, ok := p.slotOf(s.ip); ok && !p.isReserved(i) {
		p.bits.Clear(i)
	}
}

func (p *Pool) isReserved(i int) bool {
	for _, r := range p.reserved() {
		if i == r {
			return true
		}
	}
	return false
}

// Lookup returns owner's address. An allocation still being written is not
// reported.
func (p *Pool) Lookup(owner string) (netip.Addr, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.owners[owner]
	if !ok || s.new {
		return netip.Addr{}, false
	}
	return s.ip, true
}

// List returns every allocation, owner -> address, including addresses
// outside the CIDR left from an earlier one. Allocations still being
// written are not listed.
func (p *Pool) List() map[string]netip.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[string]netip.Addr, len(p.owners))
	for owner, s := range p.owners {
		if !s.new {
			m[owner] = s.ip
		}
	}
	return m
}

// GC releases every allocation whose owner keep rejects and that is older
// than grace, and returns the owners released. The grace period protects
// allocations whose owner the caller cannot see yet (a pod being created).
// keep is called without locks held. The releases are written in one
// transaction.
func (p *Pool) GC(ctx context.Context, keep func(owner string) bool, grace time.Duration) ([]string, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	cutoff := p.now().Add(-grace)
	var candidates []string
	for owner, s := range p.owners {
		if s.busy == nil && s.time.Before(cutoff) {
			candidates = append(candidates, owner)
		}
	}
	p.mu.Unlock()

	var drop []string
	for _, owner := range candidates {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !keep(owner) {
			drop = append(drop, owner)
		}
	}
	return p.releaseAll(drop, cutoff)
}

// releaseAll releases owners older than cutoff in one transaction,
// skipping any that changed since they were chosen, and returns those it
// released.
func (p *Pool) releaseAll(owners []string, cutoff time.Time) ([]string, error) {
	if len(owners) == 0 {
		return nil, nil
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	busy := make(chan struct{})
	var (
		released []string
		slots    []*slot
		changes  []change
	)
	for _, owner := range owners {
		s, ok := p.owners[owner]
		if !ok || s.busy != nil || !s.time.Before(cutoff) {
			continue
		}
		s.busy = busy
		released, slots = append(released, owner), append(slots, s)
		changes = append(changes, change{bucketOwners, []byte(owner), nil})
	}
	if len(changes) == 0 {
		p.mu.Unlock()
		return nil, nil
	}
	p.writers.Add(1)
	p.mu.Unlock()

	err := p.w.write(changes...)

	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.writers.Done()
	defer close(busy)
	for i, s := range slots {
		s.busy = nil
		if err == nil {
			p.forget(released[i], s)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("release %d pod IPs: %w", len(released), err)
	}
	return released, nil
}
