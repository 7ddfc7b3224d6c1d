package lbipam

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
)

// Errors of Allocator.Allocate, for callers that explain them.
var (
	ErrNotInPool = errors.New("address is not in the load-balancer pool")
	ErrTaken     = errors.New("address is already allocated")
	ErrExhausted = errors.New("no free address in the load-balancer pool")
)

// TakenError says who holds a requested address.
type TakenError struct {
	Addr   netip.Addr
	Holder string
}

func (e *TakenError) Error() string {
	return fmt.Sprintf("%s is already allocated to %s", e.Addr, e.Holder)
}

func (e *TakenError) Unwrap() error { return ErrTaken }

// Allocator hands out the addresses of a Pool, one per owner (a string
// such as "Service default/web"). It is safe for concurrent use.
type Allocator struct {
	pool *Pool
	mu   sync.Mutex
	// owner and held mirror each other; mu guards both.
	owner map[netip.Addr]string
	held  map[string]netip.Addr
}

// NewAllocator returns an empty allocator over pool.
func NewAllocator(pool *Pool) *Allocator {
	return &Allocator{pool: pool, owner: map[netip.Addr]string{}, held: map[string]netip.Addr{}}
}

// Pool is the allocator's pool.
func (a *Allocator) Pool() *Pool { return a.pool }

// Allocate gives owner an address and returns it. want, when valid, is
// the only acceptable address (spec.loadBalancerIP): it must be in the
// pool (ErrNotInPool) and free or already owner's (a *TakenError). With
// no want, owner keeps what it holds, else gets prefer when that is in the
// pool and free (the address its status already shows), else the lowest
// free address (ErrExhausted when none is left). An owner holds at most
// one address: getting a new one releases the old.
func (a *Allocator) Allocate(owner string, want, prefer netip.Addr) (netip.Addr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur, has := a.held[owner]
	if want.IsValid() {
		want = want.Unmap()
		if !a.pool.Contains(want) {
			return netip.Addr{}, fmt.Errorf("%s: %w", want, ErrNotInPool)
		}
		if h, ok := a.owner[want]; ok && h != owner {
			return netip.Addr{}, &TakenError{Addr: want, Holder: h}
		}
		a.take(owner, want)
		return want, nil
	}
	if has {
		return cur, nil
	}
	if prefer.IsValid() {
		prefer = prefer.Unmap()
		if _, ok := a.owner[prefer]; !ok && a.pool.Contains(prefer) {
			a.take(owner, prefer)
			return prefer, nil
		}
	}
	var got netip.Addr
	a.pool.each(func(x netip.Addr) bool {
		if _, ok := a.owner[x]; !ok {
			got = x
			return false
		}
		return true
	})
	if !got.IsValid() {
		return netip.Addr{}, ErrExhausted
	}
	a.take(owner, got)
	return got, nil
}

// take records owner on addr, releasing what owner held before. a.mu held.
func (a *Allocator) take(owner string, addr netip.Addr) {
	if old, ok := a.held[owner]; ok {
		delete(a.owner, old)
	}
	a.owner[addr] = owner
	a.held[owner] = addr
}

// Release frees owner's address and returns it (false when it had none).
func (a *Allocator) Release(owner string) (netip.Addr, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	addr, ok := a.held[owner]
	if ok {
		delete(a.held, owner)
		delete(a.owner, addr)
	}
	return addr, ok
}

// Holder returns who holds addr.
func (a *Allocator) Holder(addr netip.Addr) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	h, ok := a.owner[addr.Unmap()]
	return h, ok
}

// Held returns owner's address.
func (a *Allocator) Held(owner string) (netip.Addr, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	addr, ok := a.held[owner]
	return addr, ok
}

// Len is the number of addresses allocated.
func (a *Allocator) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.owner)
}
