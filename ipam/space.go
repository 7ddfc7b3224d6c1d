package ipam

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/switchyard-net/switchyard/ipam/internal/bitmap"
)

// maxSlots bounds the bitmap of one range (2 MiB of bits). Larger ranges
// hand out dynamically only from their first maxSlots values.
const maxSlots = 1 << 24

// errTaken is returned by a claim function when etcd already holds the
// slot: the allocation loop keeps the slot marked and tries another.
var errTaken = errors.New("taken")

// space is one etcd-backed range of n slots. Slot i is allocated when the
// key prefix+name(i) exists; etcd is the only authority. The bitmap is a
// cache of which slots are taken, so picking a candidate costs a word scan
// instead of a round trip per probe. It may be stale in both directions
// (other processes allocate and release): a stale free bit costs one
// failed transaction, after which the bit is set, and several in one call
// trigger a reload; a stale taken bit is corrected by a reload, done when
// the bitmap looks full.
//
// A space is safe for concurrent use.
type space struct {
	cli    *clientv3.Client
	prefix string                   // key prefix, ending in "/"
	desc   string                   // the range in error messages: "service CIDR 10.96.0.0/12"
	n      int                      // slots in the bitmap, at most maxSlots
	name   func(int) string         // slot -> key suffix
	slot   func(string) (int, bool) // key suffix -> slot, false when not in the bitmap
	// reserved slots are never handed out.
	reserved []int
	// bands are searched in order by dynamic allocation, each [lo, hi).
	bands [][2]int
	// lowestFirst searches each band from its start instead of a random
	// point, for ranges where predictable values beat fewer collisions.
	lowestFirst bool

	reloadMu sync.Mutex // serializes reloads

	mu      sync.Mutex
	bits    *bitmap.Bitmap // guarded by mu; nil until the first load
	pending map[int]int    // guarded by mu; slots being claimed by calls in flight
	gen     uint64         // guarded by mu; counts reloads
}

// key returns the etcd key of slot i.
func (s *space) key(i int) string { return s.prefix + s.name(i) }

// generation returns the reload count, loading the bitmap first if this is
// the first use.
func (s *space) generation(ctx context.Context) (uint64, error) {
	s.mu.Lock()
	loaded, gen := s.bits != nil, s.gen
	s.mu.Unlock()
	if loaded {
		return gen, nil
	}
	if err := s.reload(ctx, 0); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen, nil
}

// reload rebuilds the bitmap from a listing of etcd, unless another call
// reloaded it since the caller saw generation seen.
func (s *space) reload(ctx context.Context, seen uint64) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.mu.Lock()
	done := s.bits != nil && s.gen != seen
	s.mu.Unlock()
	if done {
		return nil
	}
	b := bitmap.New(s.n)
	err := list(ctx, s.cli, s.prefix, true, func(suffix string, _ []byte) {
		if i, ok := s.slot(suffix); ok {
			b.Set(i)
		}
	})
	if err != nil {
		return err
	}
	for _, i := range s.reserved {
		b.Set(i)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.pending {
		b.Set(i)
	}
	s.bits = b
	s.gen++
	return nil
}

// pick finds a slot that the bitmap shows free, marks it and records it as
// pending. It reports false when the bitmap shows every band full.
func (s *space) pick() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, band := range s.bands {
		lo, hi := band[0], band[1]
		if lo >= hi {
			continue
		}
		start := lo
		if !s.lowestFirst {
			start += rand.IntN(hi - lo)
		}
		if i, ok := s.bits.FindClear(lo, hi, start); ok {
			s.bits.Set(i)
			if s.pending == nil {
				s.pending = make(map[int]int)
			}
			s.pending[i]++
			return i, true
		}
	}
	return 0, false
}

// settle ends the claim of a picked slot: taken keeps its bit set, else it
// is cleared again.
func (s *space) settle(i int, taken bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending[i]--; s.pending[i] <= 0 {
		delete(s.pending, i)
	}
	if taken {
		s.bits.Set(i)
	} else {
		s.bits.Clear(i)
	}
}

// mark records that slot i was allocated (taken) or released outside the
// allocation loop. It does nothing before the first load.
func (s *space) mark(i int, taken bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bits == nil || s.pending[i] > 0 {
		return
	}
	if taken {
		s.bits.Set(i)
	} else if !s.isReserved(i) {
		s.bits.Clear(i)
	}
}

func (s *space) isReserved(i int) bool {
	for _, r := range s.reserved {
		if r == i {
			return true
		}
	}
	return false
}

// staleAfter is how many claims of one allocation may fail on values
// that the bitmap showed free before the bitmap is reloaded: that many
// suggest other processes allocated since it was loaded.
const staleAfter = 4

// allocate picks free slots and calls claim for each until one succeeds.
// claim returns nil when it stored the slot, errTaken when etcd already
// holds it, or any other error, which ends the loop. When the bitmap looks
// full, or proves stale, it is reloaded; if it looks full after a reload
// made during this call, the range is full.
func (s *space) allocate(ctx context.Context, claim func(ctx context.Context, slot int) error) (int, error) {
	gen, err := s.generation(ctx)
	if err != nil {
		return 0, err
	}
	reloaded, conflicts := false, 0
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if conflicts == staleAfter {
			if gen, err = s.refresh(ctx, gen); err != nil {
				return 0, err
			}
			reloaded, conflicts = true, 0
		}
		i, ok := s.pick()
		if !ok {
			if reloaded {
				return 0, errorf(ErrFull, "%s is full", s.desc)
			}
			if gen, err = s.refresh(ctx, gen); err != nil {
				return 0, err
			}
			reloaded = true
			continue
		}
		err := claim(ctx, i)
		s.settle(i, err == nil || errors.Is(err, errTaken))
		if !errors.Is(err, errTaken) {
			return i, err
		}
		conflicts++
	}
}

// refresh reloads the bitmap unless another call did since generation
// seen, and returns the new generation.
func (s *space) refresh(ctx context.Context, seen uint64) (uint64, error) {
	if err := s.reload(ctx, seen); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen, nil
}

// claimOwner is the claim of a single-key range: create the slot's key
// with owner's record.
func (s *space) claimOwner(owner string) func(context.Context, int) error {
	val := newRecord(owner).encode()
	return func(ctx context.Context, i int) error {
		created, _, err := create(ctx, s.cli, s.key(i), val)
		if err == nil && !created {
			return errTaken
		}
		return err
	}
}

// allocateKey stores owner's record under suffix, for a requested value.
// It succeeds if owner already holds it and fails with ErrInUse if
// another owner does. what names the value in the error ("10.96.0.10").
func (s *space) allocateKey(ctx context.Context, suffix, owner, what string) error {
	created, existing, err := create(ctx, s.cli, s.prefix+suffix, newRecord(owner).encode())
	if err != nil {
		return err
	}
	if i, ok := s.slot(suffix); ok {
		s.mark(i, true)
	}
	if created || ownerOf(existing) == owner {
		return nil
	}
	return errorf(ErrInUse, "%s in %s is already allocated", what, s.desc)
}

// release deletes the key of suffix; deleting a missing key succeeds.
func (s *space) release(ctx context.Context, suffix string) error {
	if _, err := s.cli.Delete(ctx, s.prefix+suffix); err != nil {
		return err
	}
	if i, ok := s.slot(suffix); ok {
		s.mark(i, false)
	}
	return nil
}

// releaseIfOwner deletes the key of suffix if owner holds it. A missing key
// succeeds; another owner's key is left and reported as ErrInUse.
func (s *space) releaseIfOwner(ctx context.Context, suffix, owner, what string) error {
	found, err := deleteIfOwner(ctx, s.cli, s.prefix+suffix, owner)
	if err != nil {
		return err
	}
	if found != "" && found != owner {
		return errorf(ErrInUse, "%s in %s is allocated to another owner", what, s.desc)
	}
	if i, ok := s.slot(suffix); ok {
		s.mark(i, false)
	}
	return nil
}

// owners lists every key of the space as suffix -> owner.
func (s *space) owners(ctx context.Context) (map[string]string, error) {
	m := make(map[string]string)
	err := list(ctx, s.cli, s.prefix, false, func(suffix string, val []byte) {
		m[suffix] = ownerOf(val)
	})
	return m, err
}

// staticBand returns the size of the low band that dynamic allocation uses
// only when the rest of a range of n values is full, following Kubernetes
// (KEP-3070 for service IPs, KEP-3668 for node ports):
// min(max(16, n/step), most).
func staticBand(n, step, most int) int {
	return min(max(16, n/step), most, n)
}
