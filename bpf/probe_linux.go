package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
)

// ErrUnsupported wraps every reason Probe gives.
var ErrUnsupported = errors.New("eBPF socket load-balancing not supported")

// Probe reports whether this kernel and process can run the
// load-balancer: it loads every program and map (unpinned) through the
// verifier, which checks each hook, helper (bpf_set_retval,
// bpf_sk_storage_get, bpf_get_netns_cookie) and the bpf_sock_destroy
// kfunc at once, and creates the socket iterator. The error names what
// failed. It needs the privileges the agent has (CAP_BPF, CAP_NET_ADMIN).
func Probe() error {
	if err := rlimit.RemoveMemlock(); err != nil {
		return fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	spec, err := loadLb()
	if err != nil {
		return fmt.Errorf("%w: parse objects: %v", ErrUnsupported, err)
	}
	for _, m := range spec.Maps {
		m.Pinning = ebpf.PinNone
	}
	var objs lbObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return fmt.Errorf("%w: load programs: %v", ErrUnsupported, err)
	}
	defer objs.Close()
	it, err := link.AttachIter(link.IterOptions{Program: objs.SyDestroyUdp})
	if err != nil {
		return fmt.Errorf("%w: UDP socket iterator: %v", ErrUnsupported, err)
	}
	return it.Close()
}
