package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/switchyard-net/switchyard/dataplane/overlay"
	"github.com/switchyard-net/switchyard/dataplane/podnet"
)

// overlayNodeIP is the overlay's local address: Config.NodeIP, else the
// first global IPv4 address of the node namespace.
func (a *Agent) overlayNodeIP() (netip.Addr, bool) {
	if a.cfg.NodeIP.IsValid() {
		return a.cfg.NodeIP, true
	}
	return internalIP()
}

// initOverlay converges the overlay's device for the node's pod CIDR and
// returns the overlay, or nil when there is none: no overlay kernel (a
// fake dataplane) or no node IP (a sandbox node with only lo: its pods
// only reach this node).
func (a *Agent) initOverlay(ctx context.Context, podCIDR netip.Prefix) (*overlay.Overlay, error) {
	k := a.cfg.OverlayKernel
	if _, onKernel := a.dp.(podnet.Kernel); k == nil && onKernel {
		nl, err := overlay.NewNetlink("")
		if err != nil {
			return nil, err
		}
		a.cfg.OverlayKernel, k = nl, nl
	}
	if k == nil {
		return nil, nil
	}
	ip, ok := a.overlayNodeIP()
	if !ok {
		a.log.Warn("no node IP (no global IPv4 address, no --node-ip): the pod network stays on this node")
		return nil, nil
	}
	ov, err := overlay.New(overlay.Config{
		Mode: a.cfg.Overlay, Local: overlay.Local{Name: a.cfg.NodeName, IP: ip, PodCIDR: podCIDR},
		Kernel: k, TxChecksum: a.cfg.OverlayTxChecksum, Logger: a.cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	if err := ov.Init(ctx); err != nil {
		return nil, err
	}
	return ov, nil
}

// runOverlay publishes the VTEP MAC on the Node and drives the overlay
// from an informer on all Nodes until ctx ends; wg counts its goroutines.
func (a *Agent) runOverlay(ctx context.Context, ov *overlay.Overlay, wg *sync.WaitGroup) {
	factory := informers.NewSharedInformerFactory(a.cfg.Client, 0)
	nodes := factory.Core().V1().Nodes()
	kick := make(chan struct{}, 1)
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(old, cur any) { poke() },
		DeleteFunc: func(any) { poke() },
	})
	factory.Start(ctx.Done())
	wg.Add(3)
	go func() {
		defer wg.Done()
		factory.Shutdown()
	}()
	go func() {
		defer wg.Done()
		ov.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		a.publishVTEPMAC(ctx, ov)
		if !cache.WaitForCacheSync(ctx.Done(), nodes.Informer().HasSynced) {
			return
		}
		for {
			list, err := nodes.Lister().List(labels.Everything())
			if err == nil {
				ov.SetPeers(a.peers(list))
			}
			select {
			case <-ctx.Done():
				return
			case <-kick:
			}
		}
	}()
}

// peers converts Nodes to overlay peers.
func (a *Agent) peers(nodes []*corev1.Node) []overlay.Peer {
	out := make([]overlay.Peer, 0, len(nodes))
	for _, n := range nodes {
		if n.Name == a.cfg.NodeName {
			continue
		}
		out = append(out, peerOf(n))
	}
	return out
}

// peerOf is what the overlay needs of a Node: its InternalIP, pod CIDR and
// VTEP MAC. Missing or malformed fields stay zero; Plan skips the peer
// and says why.
func peerOf(n *corev1.Node) overlay.Peer {
	p := overlay.Peer{Name: n.Name}
	for _, addr := range n.Status.Addresses {
		if ip, err := netip.ParseAddr(addr.Address); err == nil && addr.Type == corev1.NodeInternalIP && ip.Is4() {
			p.IP = ip
			break
		}
	}
	cidr := n.Spec.PodCIDR
	if cidr == "" && len(n.Spec.PodCIDRs) > 0 {
		cidr = n.Spec.PodCIDRs[0]
	}
	if pfx, err := netip.ParsePrefix(cidr); err == nil {
		p.PodCIDR = pfx.Masked()
	}
	if mac, err := overlay.ParseMAC(n.Annotations[overlay.MACAnnotation]); err == nil {
		p.MAC = mac
	}
	return p
}

// publishVTEPMAC sets (vxlan, auto) or removes (route) the VTEP MAC
// annotation on this Node, retrying until it succeeds or ctx ends.
func (a *Agent) publishVTEPMAC(ctx context.Context, ov *overlay.Overlay) {
	var val any // nil removes the key in a merge patch
	if mac := ov.VTEPMAC(); mac != nil {
		val = mac.String()
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{overlay.MACAnnotation: val}}})
	for {
		_, err := a.cfg.Client.CoreV1().Nodes().Patch(ctx, a.cfg.NodeName, types.MergePatchType, patch, metav1.PatchOptions{})
		if err == nil {
			return
		}
		a.log.Warn("publish VTEP MAC", "err", fmt.Errorf("patch node %s: %w", a.cfg.NodeName, err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}
