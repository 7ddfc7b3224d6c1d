package controlplane

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/switchyard-net/switchyard/controlplane/store"
	"github.com/switchyard-net/switchyard/ipam"
)

// allocRepair releases ClusterIPs and node ports whose Service no longer
// holds them: leaks from a crash between allocation and the write of the
// Service. Like Kubernetes' repair controllers it releases a value only
// after seeing it leaked on two consecutive runs, so it never races a
// create that has allocated but not yet stored its Service.
type allocRepair struct {
	store *store.Store
	ips   *ipam.ServiceIPs
	ports *ipam.NodePorts
	log   *slog.Logger

	mu      sync.Mutex
	suspect map[string]bool // "ip/10.96.0.5", "port/TCP/30080" seen leaked last run
}

func newAllocRepair(st *store.Store, ips *ipam.ServiceIPs, ports *ipam.NodePorts, log *slog.Logger) *allocRepair {
	return &allocRepair{store: st, ips: ips, ports: ports, log: log.With("component", "alloc-repair"), suspect: map[string]bool{}}
}

func (a *allocRepair) Name() string { return "service-allocation-repair" }

// Repair compares the allocators with the stored Services.
func (a *allocRepair) Repair(ctx context.Context) error {
	held, err := a.heldByServices(ctx)
	if err != nil {
		return err
	}
	ips, err := a.ips.List(ctx)
	if err != nil {
		return fmt.Errorf("list service IPs: %w", err)
	}
	ports, err := a.ports.List(ctx)
	if err != nil {
		return fmt.Errorf("list node ports: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	next := map[string]bool{}
	// Release only if the owner seen in this listing still holds the
	// value, so a concurrent repairer working from an older listing never
	// frees a value just handed to a new Service.
	for ip, owner := range ips {
		key := "ip/" + ip.String()
		if !held[key] {
			a.leaked(ctx, key, next, func() error { return a.ips.ReleaseIfOwner(ctx, ip, owner) })
		}
	}
	for pp, owner := range ports {
		key := "port/" + pp
		if !held[key] {
			proto, port := splitPort(pp)
			a.leaked(ctx, key, next, func() error { return a.ports.ReleaseIfOwner(ctx, proto, port, owner) })
		}
	}
	a.suspect = next
	return nil
}

func (a *allocRepair) leaked(ctx context.Context, key string, next map[string]bool, release func() error) {
	if !a.suspect[key] {
		next[key] = true
		return
	}
	if err := release(); err != nil {
		a.log.Warn("release leaked allocation", "what", key, "err", err)
		next[key] = true
		return
	}
	a.log.Info("released leaked allocation", "what", key)
}

func (a *allocRepair) heldByServices(ctx context.Context) (map[string]bool, error) {
	kvs, _, err := a.store.List(ctx, "/registry/core/services/", 0)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	held := map[string]bool{}
	for _, kv := range kvs {
		var svc corev1.Service
		if err := json.Unmarshal(kv.Value, &svc); err != nil {
			continue
		}
		if ip, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil {
			held["ip/"+ip.String()] = true
		}
		for _, p := range svc.Spec.Ports {
			if p.NodePort != 0 {
				held[fmt.Sprintf("port/%s/%d", p.Protocol, p.NodePort)] = true
			}
		}
		if svc.Spec.HealthCheckNodePort != 0 {
			held[fmt.Sprintf("port/TCP/%d", svc.Spec.HealthCheckNodePort)] = true
		}
	}
	return held, nil
}

func splitPort(s string) (string, int32) {
	proto, num, _ := strings.Cut(s, "/")
	var p int32
	fmt.Sscan(num, &p)
	return proto, p
}
