package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/switchyard-net/switchyard/controlplane/lbipam"
	"github.com/switchyard-net/switchyard/ipam"
)

var serviceGK = corev1.SchemeGroupVersion.WithKind("Service").GroupKind()

// serviceOwner names a Service in the allocators, so the repair loop can
// tell live allocations from leaked ones.
func serviceOwner(svc *corev1.Service) string {
	return svc.Namespace + "/" + svc.Name + "/" + string(svc.UID)
}

func needsClusterIP(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP != corev1.ClusterIPNone
}

func needsNodePorts(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		return true
	case corev1.ServiceTypeLoadBalancer:
		return svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts
	}
	return false
}

func needsHealthCheckPort(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer &&
		svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

// fillAllocated copies values allocated to old into an update that left
// them unset, as Kubernetes does, so a PUT or apply without clusterIP or
// nodePort keeps them.
func fillAllocated(svc, old *corev1.Service) {
	if needsClusterIP(svc) && needsClusterIP(old) && svc.Spec.ClusterIP == "" {
		svc.Spec.ClusterIP = old.Spec.ClusterIP
		svc.Spec.ClusterIPs = append([]string(nil), old.Spec.ClusterIPs...)
		if svc.Spec.IPFamilyPolicy == nil {
			svc.Spec.IPFamilyPolicy = old.Spec.IPFamilyPolicy
		}
		if len(svc.Spec.IPFamilies) == 0 {
			svc.Spec.IPFamilies = old.Spec.IPFamilies
		}
	}
	if needsNodePorts(svc) {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort != 0 {
				continue
			}
			for _, op := range old.Spec.Ports {
				if op.NodePort != 0 && op.Protocol == p.Protocol && (op.Port == p.Port || (op.Name != "" && op.Name == p.Name)) {
					p.NodePort = op.NodePort
					break
				}
			}
		}
	}
	if needsHealthCheckPort(svc) && svc.Spec.HealthCheckNodePort == 0 {
		svc.Spec.HealthCheckNodePort = old.Spec.HealthCheckNodePort
	}
}

// serviceAllocs is the set of values a Service holds in the allocators.
type serviceAllocs struct {
	ip    netip.Addr
	ports map[string]int32 // "TCP/30080" -> port
}

func allocsOf(svc *corev1.Service) serviceAllocs {
	a := serviceAllocs{ports: map[string]int32{}}
	if needsClusterIP(svc) {
		a.ip, _ = netip.ParseAddr(svc.Spec.ClusterIP)
	}
	if needsNodePorts(svc) {
		for _, p := range svc.Spec.Ports {
			if p.NodePort != 0 {
				a.ports[portKey(string(p.Protocol), p.NodePort)] = p.NodePort
			}
		}
	}
	if needsHealthCheckPort(svc) && svc.Spec.HealthCheckNodePort != 0 {
		a.ports[portKey("TCP", svc.Spec.HealthCheckNodePort)] = svc.Spec.HealthCheckNodePort
	}
	return a
}

func portKey(proto string, port int32) string { return fmt.Sprintf("%s/%d", proto, port) }

// allocateService reserves what svc needs and old (nil on create) does not
// hold yet. undo releases what this call reserved (on a failed write);
// releaseOld frees what old held and svc no longer does (after a successful
// write).
func (s *Server) allocateService(ctx context.Context, svc, old *corev1.Service) (undo, releaseOld func(), err error) {
	if s.cfg.ServiceIPs == nil || s.cfg.NodePorts == nil {
		return nil, nil, apierrors.NewServiceUnavailable("service allocators are not configured")
	}
	if err := s.checkLoadBalancerIP(ctx, svc, old); err != nil {
		return nil, nil, err
	}
	held := serviceAllocs{ports: map[string]int32{}}
	if old != nil {
		held = allocsOf(old)
	}
	var got []func()
	undo = func() {
		for _, f := range got {
			f()
		}
	}
	if err := s.allocateClusterIP(ctx, svc, held, &got); err != nil {
		undo()
		return nil, nil, err
	}
	if err := s.allocateNodePorts(ctx, svc, held, &got); err != nil {
		undo()
		return nil, nil, err
	}
	releaseOld = func() { s.releaseExcept(context.WithoutCancel(ctx), held, allocsOf(svc)) }
	return undo, releaseOld, nil
}

func (s *Server) allocateClusterIP(ctx context.Context, svc *corev1.Service, held serviceAllocs, got *[]func()) error {
	if !needsClusterIP(svc) {
		return nil
	}
	owner := serviceOwner(svc)
	if svc.Spec.ClusterIP == "" {
		ip, err := s.cfg.ServiceIPs.Allocate(ctx, owner)
		if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP: %w", err))
		}
		svc.Spec.ClusterIP = ip.String()
		svc.Spec.ClusterIPs = []string{ip.String()}
		s.defaultFamilies(svc, ip)
		*got = append(*got, func() { _ = s.cfg.ServiceIPs.Release(context.Background(), ip) })
		return nil
	}
	ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil || ip == held.ip {
		return nil // validation reported a bad IP; an unchanged one is held already
	}
	if err := s.cfg.ServiceIPs.AllocateSpecific(ctx, ip, owner); err != nil {
		return clusterIPError(svc, s.cfg.ServiceIPs.CIDR(), err)
	}
	s.defaultFamilies(svc, ip)
	*got = append(*got, func() { _ = s.cfg.ServiceIPs.Release(context.Background(), ip) })
	return nil
}

func (s *Server) defaultFamilies(svc *corev1.Service, ip netip.Addr) {
	if len(svc.Spec.ClusterIPs) == 0 {
		svc.Spec.ClusterIPs = []string{ip.String()}
	}
	if len(svc.Spec.IPFamilies) == 0 {
		fam := corev1.IPv4Protocol
		if ip.Is6() {
			fam = corev1.IPv6Protocol
		}
		svc.Spec.IPFamilies = []corev1.IPFamily{fam}
	}
	if svc.Spec.IPFamilyPolicy == nil {
		p := corev1.IPFamilyPolicySingleStack
		svc.Spec.IPFamilyPolicy = &p
	}
}

func clusterIPError(svc *corev1.Service, cidr netip.Prefix, err error) error {
	path := field.NewPath("spec", "clusterIPs").Index(0)
	var fe *field.Error
	switch {
	case errors.Is(err, ipam.ErrInUse):
		fe = field.Invalid(path, svc.Spec.ClusterIP, "provided IP is already allocated")
	case errors.Is(err, ipam.ErrOutOfRange):
		fe = field.Invalid(path, svc.Spec.ClusterIP, fmt.Sprintf("provided IP is not in the valid range. The range of valid IPs is %s", cidr))
	default:
		return apierrors.NewInternalError(fmt.Errorf("allocate clusterIP %s: %w", svc.Spec.ClusterIP, err))
	}
	return apierrors.NewInvalid(serviceGK, svc.Name, field.ErrorList{fe})
}

func (s *Server) allocateNodePorts(ctx context.Context, svc *corev1.Service, held serviceAllocs, got *[]func()) error {
	owner := serviceOwner(svc)
	take := func(path *field.Path, proto string, port *int32) error {
		if *port != 0 {
			if _, ok := held.ports[portKey(proto, *port)]; ok {
				return nil
			}
			if err := s.cfg.NodePorts.AllocateSpecific(ctx, proto, *port, owner); err != nil {
				return nodePortError(svc, path, *port, err)
			}
		} else {
			p, err := s.cfg.NodePorts.Allocate(ctx, proto, owner)
			if err != nil {
				return apierrors.NewInternalError(fmt.Errorf("failed to allocate a nodePort: %w", err))
			}
			*port = p
		}
		proto, p := proto, *port
		*got = append(*got, func() { _ = s.cfg.NodePorts.Release(context.Background(), proto, p) })
		return nil
	}
	if needsNodePorts(svc) {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if err := take(field.NewPath("spec", "ports").Index(i).Child("nodePort"), string(p.Protocol), &p.NodePort); err != nil {
				return err
			}
		}
	}
	if needsHealthCheckPort(svc) {
		return take(field.NewPath("spec", "healthCheckNodePort"), "TCP", &svc.Spec.HealthCheckNodePort)
	}
	return nil
}

func nodePortError(svc *corev1.Service, path *field.Path, port int32, err error) error {
	var fe *field.Error
	switch {
	case errors.Is(err, ipam.ErrInUse):
		fe = field.Invalid(path, port, "provided port is already allocated")
	case errors.Is(err, ipam.ErrOutOfRange):
		fe = field.Invalid(path, port, "provided port is not in the valid range")
	default:
		return apierrors.NewInternalError(fmt.Errorf("allocate nodePort %d: %w", port, err))
	}
	return apierrors.NewInvalid(serviceGK, svc.Name, field.ErrorList{fe})
}

// releaseExcept frees what held has and keep does not.
func (s *Server) releaseExcept(ctx context.Context, held, keep serviceAllocs) {
	if held.ip.IsValid() && held.ip != keep.ip {
		if err := s.cfg.ServiceIPs.Release(ctx, held.ip); err != nil {
			s.log.Warn("release clusterIP", "ip", held.ip, "err", err)
		}
	}
	for k, port := range held.ports {
		if _, ok := keep.ports[k]; ok {
			continue
		}
		proto := k[:len(k)-len(fmt.Sprint(port))-1]
		if err := s.cfg.NodePorts.Release(ctx, proto, port); err != nil {
			s.log.Warn("release nodePort", "port", k, "err", err)
		}
	}
}

// checkLoadBalancerIP refuses a spec.loadBalancerIP outside the
// load-balancer pool or held by another Service (lbipam.CheckRequested).
// Two concurrent requests for one address both pass here; the lbipam
// controller gives it to one and tells the other with an event.
func (s *Server) checkLoadBalancerIP(ctx context.Context, svc, old *corev1.Service) error {
	if s.cfg.LBPool.Empty() {
		return nil
	}
	fe := lbipam.CheckRequested(s.cfg.LBPool, svc, old, nil)
	if fe == nil && svc.Spec.LoadBalancerIP != "" && (old == nil || old.Spec.LoadBalancerIP != svc.Spec.LoadBalancerIP || old.Spec.Type != svc.Spec.Type) {
		kvs, _, err := s.cfg.Store.List(ctx, "/registry/core/services/", 0)
		if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("list services: %w", err))
		}
		others := make([]*corev1.Service, 0, len(kvs))
		for _, kv := range kvs {
			var o corev1.Service
			if json.Unmarshal(kv.Value, &o) == nil {
				others = append(others, &o)
			}
		}
		fe = lbipam.CheckRequested(s.cfg.LBPool, svc, old, others)
	}
	if fe != nil {
		return apierrors.NewInvalid(serviceGK, svc.Name, field.ErrorList{fe})
	}
	return nil
}
