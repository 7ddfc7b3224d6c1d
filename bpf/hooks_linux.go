package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf/link"
)

// HookStatus describes one attached socket hook.
type HookStatus struct {
	Hook     string // connect4, sendmsg4, recvmsg4, getpeername4
	Pin      string
	CgroupID uint64 // inode of the cgroup the link attaches to; 0: detached
	Program  uint32 // program id (bpftool prog show id N)
}

// ErrDetached means a hook is no longer attached where Open put it
// (its pin was removed, or someone detached the link).
var ErrDetached = errors.New("socket hook detached")

// Hooks reports each hook's pinned link. It fails with ErrDetached when
// one is missing or attached elsewhere than Options.Cgroup.
func (lb *LB) Hooks() ([]HookStatus, error) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	want, err := cgroupID(lb.opts.Cgroup)
	if err != nil {
		return nil, err
	}
	var out []HookStatus
	var errs []error
	for _, h := range hooks {
		hs := HookStatus{Hook: h.name, Pin: linkPin(lb.opts.PinDir, h.name)}
		l, err := link.LoadPinnedLink(hs.Pin, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %v", ErrDetached, h.name, err))
			out = append(out, hs)
			continue
		}
		if info, err := l.Info(); err == nil {
			hs.Program = uint32(info.Program)
			if c := info.Cgroup(); c != nil {
				hs.CgroupID = c.CgroupId
			}
		}
		l.Close()
		if hs.CgroupID != want {
			errs = append(errs, fmt.Errorf("%w: %s attached to cgroup id %d, want %d", ErrDetached, h.name, hs.CgroupID, want))
		}
		out = append(out, hs)
	}
	return out, errors.Join(errs...)
}

// Reattach repairs the hooks: each pinned link gets the loaded program
// again, and a missing or foreign one is replaced by a new link.
func (lb *LB) Reattach() error {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.attach()
}
