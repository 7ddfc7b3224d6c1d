package bpf

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/cgroup"
	"github.com/switchyard-net/switchyard/internal/netns"
)

// destroyBatch is the capacity of the sy_destroy filter map.
const destroyBatch = 4096

// destroySockets destroys the connected sockets of proto that connect4
// translated to one of the backend ids, in every network namespace a
// process of the cgroup lives in. A socket iterator only walks the
// namespace of the task that opens it, so the loader enters each one.
func (lb *LB) destroySockets(proto Proto, ids []uint32) error {
	it, err := lb.iterator(proto)
	if err != nil {
		return fmt.Errorf("destroy %v sockets: %w", proto, err)
	}
	namespaces, err := cgroupNetNS(lb.opts.Cgroup)
	if err != nil {
		return fmt.Errorf("destroy %v sockets: %w", proto, err)
	}
	for len(ids) > 0 {
		n := min(len(ids), destroyBatch)
		if err := lb.destroyIn(it, ids[:n], namespaces); err != nil {
			return fmt.Errorf("destroy %v sockets: %w", proto, err)
		}
		ids = ids[n:]
	}
	return nil
}

// iterator attaches the socket iterator of proto on first use.
func (lb *LB) iterator(proto Proto) (*link.Iter, error) {
	if it := lb.iters[proto]; it != nil {
		return it, nil
	}
	prog := lb.objs.SyDestroyUdp
	if proto == TCP {
		prog = lb.objs.SyDestroyTcp
	}
	it, err := link.AttachIter(link.IterOptions{Program: prog})
	if err != nil {
		return nil, fmt.Errorf("attach iterator: %w", err)
	}
	if lb.iters == nil {
		lb.iters = map[Proto]*link.Iter{}
	}
	lb.iters[proto] = it
	return it, nil
}

func (lb *LB) destroyIn(it *link.Iter, ids []uint32, namespaces []string) error {
	marks := make([]uint8, len(ids))
	if err := putAll(lb.objs.SyDestroy, ids, marks); err != nil {
		return fmt.Errorf("fill filter: %w", err)
	}
	defer deleteAll(lb.objs.SyDestroy, ids)
	var errs []error
	for _, ns := range namespaces {
		err := netns.Do(ns, func() error {
			r, err := it.Open()
			if err != nil {
				return err
			}
			defer r.Close()
			_, err = io.Copy(io.Discard, r)
			return err
		})
		// A namespace whose last process exited meanwhile is fine.
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("netns %s: %w", ns, err))
		}
	}
	return errors.Join(errs...)
}

// cgroupNetNS lists one /proc/<pid>/ns/net path per distinct network
// namespace among the processes of dir and its descendants, plus the
// caller's own namespace.
func cgroupNetNS(dir string) ([]string, error) {
	dirs, err := cgroup.Dirs(dir)
	if err != nil {
		return nil, err
	}
	seen := map[[2]uint64]bool{}
	var paths []string
	add := func(p string) {
		var st unix.Stat_t
		if unix.Stat(p, &st) != nil {
			return // the process is gone
		}
		key := [2]uint64{st.Dev, st.Ino}
		if !seen[key] {
			seen[key] = true
			paths = append(paths, p)
		}
	}
	add("/proc/self/ns/net")
	for _, d := range dirs {
		for _, pid := range cgroup.Procs(d) {
			add("/proc/" + strconv.Itoa(pid) + "/ns/net")
		}
	}
	return paths, nil
}
