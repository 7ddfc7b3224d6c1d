package podnet

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Fake is an in-memory Dataplane for unit tests: it validates configs like
// the kernel one, remembers nodes and pods, and never touches the system.
// Safe for concurrent use.
type Fake struct {
	mu     sync.Mutex // guards the fields below
	bridge map[string]Node
	pods   map[string]fakePod // by netns name
	index  int
}

type fakePod struct {
	cfg PodConfig
	res PodResult
}

// NewFake returns an empty Fake.
func NewFake() *Fake {
	return &Fake{bridge: map[string]Node{}, pods: map[string]fakePod{}}
}

func (f *Fake) EnsureNode(ctx context.Context, cfg NodeConfig) (Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Node{}, fmt.Errorf("ensure node: %w", err)
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	gw := Gateway(cfg.PodCIDR)
	n := Node{Bridge: cfg.Bridge, BridgeIndex: 2, BridgeMAC: PodMAC(gw), Gateway: gw, PodCIDR: cfg.PodCIDR, MTU: cfg.MTU}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bridge[cfg.Bridge] = n
	return n, ctx.Err()
}

func (f *Fake) EnsurePod(ctx context.Context, cfg PodConfig) (PodResult, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return PodResult{}, fmt.Errorf("ensure pod: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	br, ok := f.bridge[cfg.Bridge]
	if !ok {
		return PodResult{}, fmt.Errorf("ensure pod %s: bridge %s not found (EnsureNode first)", cfg.NetNS, cfg.Bridge)
	}
	if cfg.MTU == 0 {
		cfg.MTU = br.MTU
	}
	if p, ok := f.pods[cfg.NetNS]; ok && p.cfg.HostVeth == cfg.HostVeth && p.cfg.IfName == cfg.IfName {
		p.cfg, p.res.Addr, p.res.Gateway, p.res.PodMAC = cfg, cfg.Addr, cfg.Gateway, cfg.MAC
		f.pods[cfg.NetNS] = p
		return p.res, nil
	}
	f.index++
	res := PodResult{
		NetNSPath:   filepath.Join(NetNSDir, cfg.NetNS),
		HostVeth:    cfg.HostVeth,
		HostVethMAC: net.HardwareAddr{0x0a, 0x59, 0, 0, byte(f.index >> 8), byte(f.index)},
		PodMAC:      cfg.MAC,
		IfIndex:     2,
		Addr:        cfg.Addr,
		Gateway:     cfg.Gateway,
	}
	f.pods[cfg.NetNS] = fakePod{cfg: cfg, res: res}
	return res, ctx.Err()
}

func (f *Fake) RemovePod(ctx context.Context, netnsName, hostVeth string) error {
	if err := checkNetNSName(netnsName); err != nil {
		return fmt.Errorf("remove pod: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.pods, netnsName)
	return ctx.Err()
}

func (f *Fake) WiredPods(prefix string) ([]Wired, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Wired
	for name, p := range f.pods {
		if strings.HasPrefix(name, prefix) {
			out = append(out, Wired{NetNS: name, IfName: p.cfg.IfName, Addr: p.cfg.Addr, HostVeth: p.cfg.HostVeth})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NetNS < out[j].NetNS })
	return out, nil
}

func (f *Fake) CheckPod(ctx context.Context, cfg PodConfig) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return fmt.Errorf("check pod: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pods[cfg.NetNS]
	switch {
	case !ok:
		return fmt.Errorf("check pod %s: %w: netns missing", cfg.NetNS, ErrNotWired)
	case p.cfg.HostVeth != cfg.HostVeth || p.cfg.Addr != cfg.Addr || p.cfg.Gateway != cfg.Gateway ||
		p.cfg.IfName != cfg.IfName || p.cfg.MAC.String() != cfg.MAC.String() || (cfg.MTU != 0 && cfg.MTU != p.cfg.MTU):
		return fmt.Errorf("check pod %s: %w: wired as %+v", cfg.NetNS, ErrNotWired, p.cfg)
	}
	return ctx.Err()
}
