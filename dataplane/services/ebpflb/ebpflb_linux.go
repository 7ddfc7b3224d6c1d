package ebpflb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/switchyard-net/switchyard/bpf"
	"github.com/switchyard-net/switchyard/dataplane/services"
)

var _ services.Backend = (*Backend)(nil)

// Backend is the eBPF services.Backend. Its methods are safe for
// concurrent use (they are serialized).
type Backend struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	lb     *bpf.LB // nil after Cleanup until the next Sync
	closed bool
	// last holds the ports programmed, by name, and ptrs the same ports
	// by pointer with the number of socket-level frontends each got: an
	// unchanged port is found by its pointer alone, which at 50,000
	// ports is several times cheaper than hashing its name.
	last  map[services.PortName]*services.ServicePort
	ptrs  map[*services.ServicePort]int
	rules int // socket-level frontends programmed (sum over ptrs)
	// valid is false when the next Sync must compare with the kernel.
	valid bool
}

// New loads the programs, reusing maps pinned by an earlier run, and
// attaches the hooks to cfg.Cgroup; the kernel keeps translating with
// what was pinned until the first Sync reconciles it.
func New(cfg Config) (*Backend, error) {
	if cfg.Cgroup == "" || cfg.PinDir == "" {
		return nil, errors.New("ebpflb: Config.Cgroup and Config.PinDir are required")
	}
	b := &Backend{cfg: cfg, log: cfg.Logger}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if err := b.open(); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Backend) open() error {
	lb, err := bpf.Open(bpf.Options{PinDir: b.cfg.PinDir, Cgroup: b.cfg.Cgroup})
	if err != nil {
		return fmt.Errorf("ebpflb: %w", err)
	}
	b.lb = lb
	return nil
}

// Name is "ebpf".
func (b *Backend) Name() string { return "ebpf" }

// Sync programs the socket-level part of st (ClusterIPs, external and
// load-balancer IPs reached from local sockets) and hands st in full to
// the inner backend. A connection translated at connect() carries the
// backend address from its first packet, so it never meets the inner
// backend's ClusterIP rules; traffic from elsewhere still does.
func (b *Backend) Sync(ctx context.Context, st *services.State) (services.SyncResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return services.SyncResult{}, errors.New("ebpflb: backend closed")
	}
	if st == nil {
		st = &services.State{}
	}
	res, err := b.syncSockets(st)
	if err != nil {
		b.valid = false
		return res, err
	}
	if b.cfg.Inner != nil {
		inner, err := b.cfg.Inner.Sync(ctx, st)
		if err != nil {
			return res, fmt.Errorf("ebpflb: inner %s backend: %w", b.cfg.Inner.Name(), err)
		}
		res.Full = res.Full || inner.Full
		res.Rules += inner.Rules
	}
	return res, nil
}

func (b *Backend) syncSockets(st *services.State) (services.SyncResult, error) {
	full := !b.valid || b.lb == nil
	res := services.SyncResult{Full: full}
	if b.lb == nil {
		if err := b.open(); err != nil {
			return res, err
		}
	}
	if full {
		if err := b.lb.Reattach(); err != nil {
			return res, fmt.Errorf("ebpflb: reattach hooks: %w", err)
		}
		b.last, b.ptrs, b.rules = map[services.PortName]*services.ServicePort{}, map[*services.ServicePort]int{}, 0
	}
	var errs []error
	seen := 0 // ports of st already in b.last
	for name, sp := range st.Ports {
		if _, ok := b.ptrs[sp]; ok {
			seen++
			continue
		}
		if old := b.last[name]; old != nil {
			seen++
			b.rules -= b.ptrs[old]
			delete(b.ptrs, old)
			delete(b.last, name)
		}
		changed, frontends, err := b.program(name, sp)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		b.last[name], b.ptrs[sp] = sp, frontends
		b.rules += frontends
		if changed {
			res.PortsChanged++
		}
	}
	n, err := b.deleteGone(st, full, seen)
	res.PortsChanged += n
	errs = append(errs, err)
	res.Rules = b.rules
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("ebpflb: %w", err)
	}
	b.valid = true
	return res, nil
}

// program upserts the socket-level part of one port, or deletes it when
// the port has none (any more).
func (b *Backend) program(name services.PortName, sp *services.ServicePort) (changed bool, frontends int, err error) {
	svc, ok := socketService(sp)
	if !ok {
		return false, 0, b.lb.Delete(name.String())
	}
	changed, err = b.lb.Upsert(name.String(), svc)
	return changed, len(svc.Frontends), err
}

// deleteGone deletes the ports programmed before and absent from st. An
// incremental sync looks only when st lacks some port of b.last; a full
// one also deletes what the LB knows by name from before a failure, and
// prunes the services restored from pins that st did not adopt.
func (b *Backend) deleteGone(st *services.State, full bool, seen int) (int, error) {
	var errs []error
	n := 0
	if !full && seen < len(b.last) {
		for name, old := range b.last {
			if _, ok := st.Ports[name]; ok {
				continue
			}
			errs = append(errs, b.lb.Delete(name.String()))
			b.rules -= b.ptrs[old]
			delete(b.ptrs, old)
			delete(b.last, name)
			n++
		}
	}
	if full {
		want := make(map[string]bool, len(st.Ports))
		for name := range st.Ports {
			want[name.String()] = true
		}
		for _, name := range b.lb.Names() {
			if !want[name] {
				errs = append(errs, b.lb.Delete(name))
				n++
			}
		}
		pruned, err := b.lb.PruneUnclaimed()
		errs = append(errs, err)
		n += pruned
	}
	return n, errors.Join(errs...)
}

// Drifted reports whether a hook was detached or the inner backend
// drifted. (The maps are only written by this process: checking them
// entry by entry every few seconds would cost more than it finds.)
func (b *Backend) Drifted(ctx context.Context) (bool, error) {
	b.mu.Lock()
	lb := b.lb
	b.mu.Unlock()
	if lb == nil {
		return true, nil
	}
	if _, err := lb.Hooks(); err != nil {
		if errors.Is(err, bpf.ErrDetached) {
			b.log.Warn("socket hook detached", "err", err)
			return true, nil
		}
		return false, fmt.Errorf("ebpflb: %w", err)
	}
	if b.cfg.Inner != nil {
		return b.cfg.Inner.Drifted(ctx)
	}
	return false, nil
}

// Cleanup detaches the hooks, removes the pins and cleans the inner
// backend. A later Sync loads and attaches again.
func (b *Backend) Cleanup(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	if b.lb != nil {
		errs = append(errs, b.lb.Close())
		b.lb = nil
	}
	errs = append(errs, bpf.Remove(b.cfg.PinDir))
	if b.cfg.Inner != nil {
		errs = append(errs, b.cfg.Inner.Cleanup(ctx))
	}
	b.valid, b.last, b.ptrs = false, nil, nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ebpflb: cleanup: %w", err)
	}
	return nil
}

// Close releases handles; the hooks stay attached and keep translating.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	var errs []error
	if b.lb != nil {
		errs = append(errs, b.lb.Close())
		b.lb = nil
	}
	if b.cfg.Inner != nil {
		errs = append(errs, b.cfg.Inner.Close())
	}
	return errors.Join(errs...)
}

// RemovePins detaches the hooks pinned in pinDir and removes the pins,
// without loading anything: `switchyard daemon --cleanup` and `sandbox
// down` call it.
func RemovePins(pinDir string) error {
	if err := bpf.Remove(pinDir); err != nil {
		return fmt.Errorf("ebpflb: %w", err)
	}
	return nil
}
