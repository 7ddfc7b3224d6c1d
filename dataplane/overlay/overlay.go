package overlay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"time"
)

// DefaultResyncInterval is how often Run re-converges without a trigger.
const DefaultResyncInterval = 10 * time.Second

// Config configures an Overlay.
type Config struct {
	Mode   Mode   // "" = ModeAuto
	Device string // "" = DefaultDevice
	Local  Local  // required: Name, IP (IPv4), PodCIDR (IPv4)
	Kernel Kernel // required
	// UplinkMTU is the MTU of the node IP's interface; 0 = ask the kernel.
	UplinkMTU int
	// TxChecksum is the VTEP's tx checksum offload: "" or ChecksumAuto,
	// ChecksumOn, ChecksumOff (see the package documentation).
	TxChecksum Checksum
	// ResyncInterval defaults to DefaultResyncInterval.
	ResyncInterval time.Duration
	Logger         *slog.Logger
}

// Overlay keeps one node's share of the pod network converged. Use New,
// Init, then SetPeers and Run (or Sync) from any goroutine.
type Overlay struct {
	cfg Config
	log *slog.Logger

	mtu int // pods' MTU, set by Init

	kick   chan struct{} // a pending Sync, for Run
	syncMu sync.Mutex    // one Sync at a time

	mu      sync.Mutex // guards the fields below
	vtep    VTEP       // set by Init and Sync in vxlan and auto modes
	peers   []Peer
	applied *State    // the last State applied, nil before the first
	skipped []Skipped // of the last Plan, to log changes only
}

// New validates cfg. It touches nothing.
func New(cfg Config) (*Overlay, error) {
	var err error
	if cfg.Mode, err = ParseMode(string(cfg.Mode)); err != nil {
		return nil, err
	}
	if cfg.Device == "" {
		cfg.Device = DefaultDevice
	}
	switch {
	case cfg.Kernel == nil:
		return nil, errors.New("overlay: no Kernel")
	case cfg.Local.Name == "":
		return nil, errors.New("overlay: no node name")
	case !cfg.Local.IP.Is4():
		return nil, fmt.Errorf("overlay: node IP %v: want an IPv4 address", cfg.Local.IP)
	case !cfg.Local.PodCIDR.IsValid() || !cfg.Local.PodCIDR.Addr().Is4():
		return nil, fmt.Errorf("overlay: pod CIDR %v: want an IPv4 prefix", cfg.Local.PodCIDR)
	case cfg.UplinkMTU != 0 && cfg.UplinkMTU < 68+Overhead:
		return nil, fmt.Errorf("overlay: uplink MTU %d: too small", cfg.UplinkMTU)
	}
	if cfg.TxChecksum, err = ParseChecksum(string(cfg.TxChecksum)); err != nil {
		return nil, err
	}
	cfg.Local.PodCIDR = cfg.Local.PodCIDR.Masked()
	if cfg.ResyncInterval <= 0 {
		cfg.ResyncInterval = DefaultResyncInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Overlay{
		cfg:  cfg,
		log:  cfg.Logger.With("component", "overlay", "mode", string(cfg.Mode)),
		kick: make(chan struct{}, 1),
	}, nil
}

// Init finds the uplink MTU and, in vxlan and auto modes, converges the
// VTEP; in route mode it removes a VTEP left from another mode.
func (o *Overlay) Init(ctx context.Context) error {
	mtu := o.cfg.UplinkMTU
	if mtu == 0 {
		var err error
		if mtu, err = o.cfg.Kernel.UplinkMTU(o.cfg.Local.IP); err != nil {
			return fmt.Errorf("overlay: uplink MTU: %w", err)
		}
	}
	if !o.cfg.Mode.usesVXLAN() {
		o.mtu = mtu
		if err := o.cfg.Kernel.RemoveVTEP(ctx, o.cfg.Device); err != nil {
			return fmt.Errorf("overlay: remove %s: %w", o.cfg.Device, err)
		}
		return nil
	}
	o.mtu = mtu - Overhead
	v, err := o.cfg.Kernel.EnsureVTEP(ctx, o.vtepConfig())
	if err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	o.mu.Lock()
	o.vtep = v
	o.mu.Unlock()
	o.log.Info("VTEP ready", "device", v.Name, "mac", v.MAC, "mtu", v.MTU, "local", o.cfg.Local.IP)
	return nil
}

func (o *Overlay) vtepConfig() VTEPConfig {
	return VTEPConfig{
		Name: o.cfg.Device, VNI: VNI, Port: Port, Local: o.cfg.Local.IP, MTU: o.mtu,
		MAC: VTEPMAC(o.cfg.Local.Name), Addr: netip.PrefixFrom(o.cfg.Local.PodCIDR.Addr(), 32),
		TxChecksum: o.cfg.TxChecksum.on(kernelRelease()),
	}
}

// MTU is the MTU pods get (after Init).
func (o *Overlay) MTU() int { return o.mtu }

// Mode is the configured mode.
func (o *Overlay) Mode() Mode { return o.cfg.Mode }

// VTEPMAC is the MAC to publish in MACAnnotation; nil in route mode.
func (o *Overlay) VTEPMAC() net.HardwareAddr {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.vtep.MAC)
}

// SetPeers replaces the set of remote nodes and asks Run to converge.
func (o *Overlay) SetPeers(peers []Peer) {
	o.mu.Lock()
	o.peers = append([]Peer(nil), peers...)
	o.mu.Unlock()
	o.trigger()
}

func (o *Overlay) trigger() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// Sync converges the kernel to the current peers once. The VTEP is
// converged first (vxlan and auto), so a device deleted or changed behind
// the agent's back comes back.
func (o *Overlay) Sync(ctx context.Context) error {
	if o.mtu == 0 {
		return errors.New("overlay: Sync before Init")
	}
	o.syncMu.Lock()
	defer o.syncMu.Unlock()
	if o.cfg.Mode.usesVXLAN() {
		v, err := o.cfg.Kernel.EnsureVTEP(ctx, o.vtepConfig())
		if err != nil {
			return fmt.Errorf("overlay: %w", err)
		}
		o.mu.Lock()
		o.vtep = v
		o.mu.Unlock()
	}
	o.mu.Lock()
	peers := o.peers
	o.mu.Unlock()
	var onLinkErr error
	st, skipped := Plan(o.cfg.Local, o.cfg.Mode, o.cfg.Device, peers, func(ip netip.Addr) bool {
		ok, err := o.cfg.Kernel.OnLink(ip, o.cfg.Device)
		if err != nil {
			onLinkErr = errors.Join(onLinkErr, err)
		}
		return ok
	})
	if onLinkErr != nil {
		return fmt.Errorf("overlay: %w", onLinkErr)
	}
	if err := o.cfg.Kernel.Apply(ctx, st); err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	o.mu.Lock()
	changed := o.applied == nil || !reflect.DeepEqual(*o.applied, st)
	logSkips := !reflect.DeepEqual(o.skipped, skipped)
	o.applied, o.skipped = &st, skipped
	o.mu.Unlock()
	if changed {
		o.log.Info("overlay converged", "routes", len(st.Routes), "vxlanPeers", len(st.FDB), "skipped", len(skipped))
	}
	if logSkips {
		for _, s := range skipped {
			o.log.Warn("peer not reachable by the overlay", "peer", s.Peer, "reason", s.Reason)
		}
	}
	return nil
}

// Applied is the State of the last successful Sync.
func (o *Overlay) Applied() (State, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.applied == nil {
		return State{}, false
	}
	return *o.applied, true
}

// Run converges after each SetPeers, every ResyncInterval and whenever the
// kernel reports a deletion, until ctx ends. A failed Sync is retried after
// a second.
func (o *Overlay) Run(ctx context.Context) error {
	changes := o.cfg.Kernel.Changes(ctx)
	t := time.NewTicker(o.cfg.ResyncInterval)
	defer t.Stop()
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-o.kick:
		case <-t.C:
		case <-retry:
		case _, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
			// Let a burst of deletions (a flushed table) settle.
			time.Sleep(20 * time.Millisecond)
		}
		retry = nil
		if err := o.Sync(ctx); err != nil && ctx.Err() == nil {
			o.log.Error("overlay sync", "err", err)
			retry = time.After(time.Second)
		}
	}
}

// Remove deletes everything the overlay programmed: its routes, the
// VTEP with its entries.
func (o *Overlay) Remove(ctx context.Context) error {
	err := o.cfg.Kernel.Apply(ctx, State{})
	return errors.Join(err, o.cfg.Kernel.RemoveVTEP(ctx, o.cfg.Device))
}
