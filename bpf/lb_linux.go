package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Options configure Open.
type Options struct {
	// PinDir is the bpffs directory holding the pinned maps and links,
	// by convention /sys/fs/bpf/switchyard/<node>. Required. When it lies
	// under /sys/fs/bpf and that is not a bpffs mount, Open mounts one.
	PinDir string
	// Cgroup is the cgroup v2 directory the socket hooks attach to; the
	// hooks see every socket created by a process in it or below it.
	// Required. Never the root of a shared host in tests.
	Cgroup string
}

// hook is one cgroup socket hook: program, attach type and pin name.
type hook struct {
	name   string
	attach ebpf.AttachType
	prog   func(*lbObjects) *ebpf.Program
}

var hooks = []hook{
	{"connect4", ebpf.AttachCGroupInet4Connect, func(o *lbObjects) *ebpf.Program { return o.SyConnect4 }},
	{"sendmsg4", ebpf.AttachCGroupUDP4Sendmsg, func(o *lbObjects) *ebpf.Program { return o.SySendmsg4 }},
	{"recvmsg4", ebpf.AttachCGroupUDP4Recvmsg, func(o *lbObjects) *ebpf.Program { return o.SyRecvmsg4 }},
	{"getpeername4", ebpf.AttachCgroupInet4GetPeername, func(o *lbObjects) *ebpf.Program { return o.SyGetpeername4 }},
}

// linkPin is where the link of a hook is pinned.
func linkPin(dir, name string) string { return filepath.Join(dir, "link_"+name) }

// LB is the socket load-balancer: the loaded programs, their pinned maps
// and links, and the service table as last programmed. Its methods are
// safe for concurrent use (one mutex serializes them).
type LB struct {
	opts Options

	mu    sync.Mutex
	objs  lbObjects
	st    *table
	stale bool                 // st may differ from the kernel: re-read before use
	iters map[Proto]*link.Iter // socket destroyers, attached on first use
}

// Open loads the programs, reusing the maps pinned in PinDir (creating
// them on first start), attaches the hooks to Cgroup (or, when links are
// already pinned there, atomically replaces their programs, so sockets
// are never seen untranslated across a restart), and restores the
// service table from the maps. Close releases the handles and leaves
// everything attached and pinned.
func Open(opts Options) (*LB, error) {
	if opts.PinDir == "" || opts.Cgroup == "" {
		return nil, errors.New("open bpf lb: PinDir and Cgroup are required")
	}
	if err := ensureBPFFS(opts.PinDir); err != nil {
		return nil, fmt.Errorf("open bpf lb: %w", err)
	}
	if err := os.MkdirAll(opts.PinDir, 0o700); err != nil {
		return nil, fmt.Errorf("open bpf lb: %w", err)
	}
	lb := &LB{opts: opts}
	spec, err := loadLb()
	if err != nil {
		return nil, fmt.Errorf("open bpf lb: %w", err)
	}
	err = spec.LoadAndAssign(&lb.objs, &ebpf.CollectionOptions{
		Maps: ebpf.MapOptions{PinPath: opts.PinDir},
	})
	if errors.Is(err, ebpf.ErrMapIncompatible) {
		return nil, fmt.Errorf("open bpf lb: pinned maps in %s have an older layout; remove them (switchyard daemon --cleanup): %w", opts.PinDir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open bpf lb: load programs: %w", err)
	}
	if err := lb.attach(); err != nil {
		lb.objs.Close()
		return nil, fmt.Errorf("open bpf lb: %w", err)
	}
	if lb.st, err = restore(&lb.objs); err != nil {
		lb.objs.Close()
		return nil, fmt.Errorf("open bpf lb: restore: %w", err)
	}
	return lb, nil
}

// attach makes every hook's pinned link run the freshly loaded program,
// first re-pinning any map whose pin was removed behind our back (the
// maps live on while we hold them; a restarted loader must find them).
func (lb *LB) attach() error {
	cgID, err := cgroupID(lb.opts.Cgroup)
	if err != nil {
		return err
	}
	if err := lb.repin(); err != nil {
		return err
	}
	for _, h := range hooks {
		if err := lb.attachOne(h, cgID); err != nil {
			return fmt.Errorf("attach %s: %w", h.name, err)
		}
	}
	return nil
}

func (lb *LB) repin() error {
	if err := os.MkdirAll(lb.opts.PinDir, 0o700); err != nil {
		return err
	}
	m := &lb.objs.lbMaps
	for _, mp := range []*ebpf.Map{m.SyServices, m.SyBackends, m.SySlots, m.SyAffinity, m.SyRevnat, m.SySock, m.SyStats} {
		info, err := mp.Info()
		if err != nil {
			return fmt.Errorf("map info: %w", err)
		}
		path := filepath.Join(lb.opts.PinDir, info.Name)
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := mp.Unpin(); err != nil {
			return fmt.Errorf("re-pin %s: %w", info.Name, err)
		}
		if err := mp.Pin(path); err != nil {
			return fmt.Errorf("re-pin %s: %w", info.Name, err)
		}
	}
	return nil
}

func (lb *LB) attachOne(h hook, cgID uint64) error {
	pin := linkPin(lb.opts.PinDir, h.name)
	prog := h.prog(&lb.objs)
	old, err := link.LoadPinnedLink(pin, nil)
	if err == nil {
		defer old.Close()
		if linkCgroup(old) == cgID {
			return old.Update(prog)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	// First start, or the cgroup changed: attach anew, then detach the
	// old link (both run meanwhile; a translated address is not a service
	// address, so a socket is never translated twice).
	l, err := link.AttachCgroup(link.CgroupOptions{Path: lb.opts.Cgroup, Attach: h.attach, Program: prog})
	if err != nil {
		return err
	}
	defer l.Close()
	if old != nil {
		if err := old.Unpin(); err != nil {
			return err
		}
	}
	return l.Pin(pin)
}

func linkCgroup(l link.Link) uint64 {
	info, err := l.Info()
	if err != nil || info.Cgroup() == nil {
		return 0
	}
	return info.Cgroup().CgroupId
}

// cgroupID is the id the kernel reports for a cgroup v2 directory: its
// inode number.
func cgroupID(dir string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return 0, fmt.Errorf("cgroup %s: %w", dir, err)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return 0, fmt.Errorf("cgroup %s: %w", dir, err)
	}
	if fs.Type != unix.CGROUP2_SUPER_MAGIC {
		return 0, fmt.Errorf("%s is not a cgroup v2 directory", dir)
	}
	return st.Ino, nil
}

// Close releases the handles. Programs stay attached, maps stay pinned,
// and the kernel keeps translating with the last programmed table.
func (lb *LB) Close() error {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	var errs []error
	for p, it := range lb.iters {
		errs = append(errs, it.Close())
		delete(lb.iters, p)
	}
	errs = append(errs, lb.objs.Close())
	return errors.Join(errs...)
}

// Remove detaches the hooks pinned in pinDir and removes every pin and
// the directory. A missing directory is not an error. It needs no loaded
// LB, so `daemon --cleanup` can run it after a crash.
func Remove(pinDir string) error {
	entries, err := os.ReadDir(pinDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove bpf pins: %w", err)
	}
	var errs []error
	for _, h := range hooks {
		l, err := link.LoadPinnedLink(linkPin(pinDir, h.name), nil)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("load link %s: %w", h.name, err))
			continue
		}
		// Unpinning drops the last reference once we close: detached.
		errs = append(errs, l.Unpin(), l.Close())
	}
	for _, e := range entries {
		err := os.Remove(filepath.Join(pinDir, e.Name()))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(pinDir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove bpf pins in %s: %w", pinDir, err)
	}
	removeEmptyParent(pinDir)
	return nil
}

// removeEmptyParent removes the directory Open created above pinDir (by
// convention /sys/fs/bpf/switchyard) once its last node is gone; a
// parent that still holds pins, or that is the bpffs mount itself, stays.
func removeEmptyParent(pinDir string) {
	parent := filepath.Dir(filepath.Clean(pinDir))
	if parent == "/" || parent == bpffsRoot {
		return
	}
	_ = os.Remove(parent) // fails (and keeps it) unless empty
}

// bpffsRoot is where the BPF filesystem is mounted by convention.
const bpffsRoot = "/sys/fs/bpf"

// ensureBPFFS checks that dir lies on a bpffs mount, mounting one at
// /sys/fs/bpf when dir is under it and nothing is mounted there yet (the
// only change to the host's mounts the agent makes, as Cilium and
// systemd do).
func ensureBPFFS(dir string) error {
	p := filepath.Clean(dir)
	for {
		var fs unix.Statfs_t
		err := unix.Statfs(p, &fs)
		if err == nil {
			if fs.Type == unix.BPF_FS_MAGIC {
				return nil
			}
			break
		}
		if !errors.Is(err, unix.ENOENT) || p == "/" {
			return fmt.Errorf("statfs %s: %w", p, err)
		}
		p = filepath.Dir(p)
	}
	if p != bpffsRoot && p != "/sys/fs" && p != "/sys" {
		return fmt.Errorf("pin directory %s is not on a bpffs mount", dir)
	}
	if err := unix.Mount("bpffs", bpffsRoot, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("mount bpffs at %s: %w", bpffsRoot, err)
	}
	return nil
}
