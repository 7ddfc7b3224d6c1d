package bpf

import "fmt"

// idAllocator hands out small integer ids in [1, limit), reusing freed
// ones. Not safe for concurrent use: LB's mutex guards it.
type idAllocator struct {
	next  uint32
	limit uint32
	free  []uint32
	used  map[uint32]bool
}

func newIDAllocator(limit uint32) *idAllocator {
	return &idAllocator{next: 1, limit: limit, used: map[uint32]bool{}}
}

func (a *idAllocator) alloc() (uint32, error) {
	for len(a.free) > 0 {
		id := a.free[len(a.free)-1]
		a.free = a.free[:len(a.free)-1]
		if !a.used[id] {
			a.used[id] = true
			return id, nil
		}
	}
	for a.next < a.limit {
		id := a.next
		a.next++
		if !a.used[id] {
			a.used[id] = true
			return id, nil
		}
	}
	return 0, fmt.Errorf("all %d ids in use", a.limit-1)
}

// claim marks an id restored from the kernel as used.
func (a *idAllocator) claim(id uint32) {
	a.used[id] = true
}

func (a *idAllocator) release(id uint32) {
	if a.used[id] {
		delete(a.used, id)
		a.free = append(a.free, id)
	}
}
