package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// LabelSkipMirror marks Endpoints that must not be mirrored back into
// EndpointSlices (the label Kubernetes' endpoints controller sets for its
// EndpointSliceMirroring); LabelEndpointsManagedBy marks those this
// controller derived from EndpointSlices, which it may delete.
const (
	LabelSkipMirror         = "endpointslice.kubernetes.io/skip-mirror"
	LabelEndpointsManagedBy = "endpoints.switchyard.dev/managed-by"
	endpointsManagedBy      = "endpoints-mirror.switchyard.dev"
)

// maxEndpointsAddresses caps one Endpoints object, as Kubernetes does
// (beyond it the object is truncated and annotated).
const maxEndpointsAddresses = 1000

// overCapacityAnnotation marks a truncated Endpoints object.
const overCapacityAnnotation = "endpoints.kubernetes.io/over-capacity"

// endpointsMirror keeps the legacy core/v1 Endpoints of every Service with
// a selector equal to what its EndpointSlices say, for clients that predate
// EndpointSlices: ready endpoints are addresses, not-ready ones that are not
// terminating are notReadyAddresses, endpoints with the same ports share a
// subset. Edits to these Endpoints are reverted. The other way round, as
// Kubernetes' EndpointSliceMirroring does, the Endpoints a user writes for
// a Service without a selector are mirrored into EndpointSlices, which is
// what the load-balancers read (Endpoints labelled skip-mirror, such as the
// control planes' kubernetes one, are not).
type endpointsMirror struct {
	client    kubernetes.Interface
	services  corelisters.ServiceLister
	slices    discoverylisters.EndpointSliceLister
	endpoints corelisters.EndpointsLister
	queue     *queue // of service keys
	log       *slog.Logger
}

func newEndpointsMirror(client kubernetes.Interface, f informers.SharedInformerFactory, log *slog.Logger) (*endpointsMirror, error) {
	c := &endpointsMirror{
		client:    client,
		services:  f.Core().V1().Services().Lister(),
		slices:    f.Discovery().V1().EndpointSlices().Lister(),
		endpoints: f.Core().V1().Endpoints().Lister(),
		log:       log.With("component", "endpoints-mirror"),
	}
	c.queue = newQueue("endpoints-mirror", c.log, c.sync)
	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandlerFuncs
	}{
		{f.Core().V1().Services().Informer(), c.queue.keyHandler()},
		{f.Core().V1().Endpoints().Informer(), c.queue.keyHandler()},
		{f.Discovery().V1().EndpointSlices().Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: c.sliceChanged, UpdateFunc: func(_, obj any) { c.sliceChanged(obj) }, DeleteFunc: c.sliceChanged}},
	}
	for _, x := range handlers {
		if _, err := x.inf.AddEventHandler(x.h); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *endpointsMirror) run(ctx context.Context) { c.queue.run(ctx, 2) }

func (c *endpointsMirror) sliceChanged(obj any) {
	s, ok := tombstone(obj).(*discovery.EndpointSlice)
	if ok && s.Labels[discovery.LabelServiceName] != "" {
		c.queue.Add(s.Namespace + "/" + s.Labels[discovery.LabelServiceName])
	}
}

func (c *endpointsMirror) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cur, err := c.endpoints.Endpoints(ns).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if apierrors.IsNotFound(err) {
		cur = nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) || (err == nil && !hasSelector(svc)) {
		// Only Endpoints this controller made go with their Service (or
		// its selector); others belong to whoever wrote them.
		if cur != nil && cur.Labels[LabelEndpointsManagedBy] == endpointsManagedBy {
			err := c.client.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete endpoints %s: %w", key, err)
			}
			cur = nil
		}
		// Endpoints a user wrote for a Service without a selector reach
		// the load-balancers as EndpointSlices.
		var want []*discovery.EndpointSlice
		if err == nil && cur != nil && cur.Labels[LabelSkipMirror] != "true" {
			want = mirroredSlices(svc, cur)
		}
		return c.writeMirroredSlices(ctx, ns, name, want)
	}
	if err != nil {
		return err
	}
	if err := c.writeMirroredSlices(ctx, ns, name, nil); err != nil {
		return err // a selector now: the Service's own slices take over
	}
	svcSlices, err := c.slices.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{discovery.LabelServiceName: name}))
	if err != nil {
		return err
	}
	want := desiredEndpoints(svc, svcSlices)
	switch {
	case cur == nil:
		_, err = c.client.CoreV1().Endpoints(ns).Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return errRetry // the cache is behind; the next sync updates it
		}
	case apiequality.Semantic.DeepEqual(cur.Subsets, want.Subsets) && maps.Equal(cur.Labels, want.Labels) &&
		cur.Annotations[overCapacityAnnotation] == want.Annotations[overCapacityAnnotation]:
		return nil
	default:
		upd := cur.DeepCopy()
		upd.Labels, upd.Subsets = want.Labels, want.Subsets
		if v, ok := want.Annotations[overCapacityAnnotation]; ok {
			if upd.Annotations == nil {
				upd.Annotations = map[string]string{}
			}
			upd.Annotations[overCapacityAnnotation] = v
		} else {
			delete(upd.Annotations, overCapacityAnnotation)
		}
		_, err = c.client.CoreV1().Endpoints(ns).Update(ctx, upd, metav1.UpdateOptions{})
	}
	if err != nil && !isTerminating(err) {
		return fmt.Errorf("write endpoints %s: %w", key, err)
	}
	return nil
}

// desiredEndpoints is the Endpoints object the slices of svc describe.
func desiredEndpoints(svc *corev1.Service, svcSlices []*discovery.EndpointSlice) *corev1.Endpoints {
	lbls := map[string]string{}
	maps.Copy(lbls, svc.Labels)
	lbls[LabelSkipMirror] = "true"
	lbls[LabelEndpointsManagedBy] = endpointsManagedBy
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace, Labels: lbls}}

	type subset struct {
		ports           []corev1.EndpointPort
		ready, notReady map[string]corev1.EndpointAddress
	}
	byPorts := map[string]*subset{}
	for _, s := range svcSlices {
		if s.AddressType == discovery.AddressTypeFQDN {
			continue // Endpoints hold IPs only
		}
		ports := endpointPorts(s.Ports)
		k := endpointsPortsKey(ports)
		ss := byPorts[k]
		if ss == nil {
			ss = &subset{ports: ports, ready: map[string]corev1.EndpointAddress{}, notReady: map[string]corev1.EndpointAddress{}}
			byPorts[k] = ss
		}
		for _, e := range s.Endpoints {
			if len(e.Addresses) == 0 {
				continue
			}
			a := corev1.EndpointAddress{IP: e.Addresses[0], NodeName: e.NodeName, TargetRef: e.TargetRef}
			if e.Hostname != nil {
				a.Hostname = *e.Hostname
			}
			ready := e.Conditions.Ready == nil || *e.Conditions.Ready
			terminating := e.Conditions.Terminating != nil && *e.Conditions.Terminating
			switch {
			case ready:
				ss.ready[a.IP] = a
			case !terminating:
				ss.notReady[a.IP] = a
			}
		}
	}
	total := 0
	for _, k := range slices.Sorted(maps.Keys(byPorts)) {
		ss := byPorts[k]
		out := corev1.EndpointSubset{Ports: ss.ports}
		out.Addresses, total = takeAddresses(ss.ready, total)
		out.NotReadyAddresses, total = takeAddresses(ss.notReady, total)
		if len(out.Addresses)+len(out.NotReadyAddresses) > 0 {
			ep.Subsets = append(ep.Subsets, out)
		}
	}
	if total > maxEndpointsAddresses {
		ep.Annotations = map[string]string{overCapacityAnnotation: "truncated"}
	}
	return ep
}

// takeAddresses returns the addresses sorted by IP, without those beyond
// the cap given the count so far, and the new count (which keeps counting
// past the cap).
func takeAddresses(m map[string]corev1.EndpointAddress, count int) ([]corev1.EndpointAddress, int) {
	var out []corev1.EndpointAddress
	for _, ip := range slices.SortedFunc(maps.Keys(m), compareIPs) {
		if count < maxEndpointsAddresses {
			out = append(out, m[ip])
		}
		count++
	}
	return out, count
}

func compareIPs(a, b string) int {
	x, errX := netip.ParseAddr(a)
	y, errY := netip.ParseAddr(b)
	if errX != nil || errY != nil {
		return strings.Compare(a, b)
	}
	return x.Compare(y)
}

func endpointPorts(ports []discovery.EndpointPort) []corev1.EndpointPort {
	out := make([]corev1.EndpointPort, 0, len(ports))
	for _, p := range ports {
		ep := corev1.EndpointPort{Protocol: corev1.ProtocolTCP, AppProtocol: p.AppProtocol}
		if p.Name != nil {
			ep.Name = *p.Name
		}
		if p.Port != nil {
			ep.Port = *p.Port
		}
		if p.Protocol != nil {
			ep.Protocol = *p.Protocol
		}
		if ep.Port == 0 {
			continue // a port the pods do not expose: not an Endpoints port
		}
		out = append(out, ep)
	}
	slices.SortFunc(out, func(a, b corev1.EndpointPort) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func endpointsPortsKey(ports []corev1.EndpointPort) string {
	var b strings.Builder
	for _, p := range ports {
		fmt.Fprintf(&b, "%s/%d/%s;", p.Name, p.Port, p.Protocol)
	}
	return b.String()
}

// mirroringManagedBy marks the EndpointSlices mirrored from user-written
// Endpoints (Kubernetes' EndpointSliceMirroring controller's value).
const mirroringManagedBy = "endpointslicemirroring-controller.k8s.io"

// mirroredSlices are the EndpointSlices of a Service without a selector
// whose Endpoints a user wrote: one per subset and address family, ready
// addresses ready, not-ready ones not.
func mirroredSlices(svc *corev1.Service, ep *corev1.Endpoints) []*discovery.EndpointSlice {
	var out []*discovery.EndpointSlice
	for i, ss := range ep.Subsets {
		for _, fam := range []discovery.AddressType{discovery.AddressTypeIPv4, discovery.AddressTypeIPv6} {
			s := &discovery.EndpointSlice{
				ObjectMeta: metav1.ObjectMeta{
					Name: fmt.Sprintf("%s-mirror-%d", svc.Name, i), Namespace: svc.Namespace,
					Labels: map[string]string{discovery.LabelServiceName: svc.Name, discovery.LabelManagedBy: mirroringManagedBy},
				},
				AddressType: fam,
			}
			if fam == discovery.AddressTypeIPv6 {
				s.Name += "-v6"
			}
			for _, p := range ss.Ports {
				s.Ports = append(s.Ports, discovery.EndpointPort{Name: pointerTo(p.Name), Port: pointerTo(p.Port),
					Protocol: pointerTo(p.Protocol), AppProtocol: p.AppProtocol})
			}
			add := func(addrs []corev1.EndpointAddress, ready bool) {
				for _, a := range addrs {
					ip, err := netip.ParseAddr(a.IP)
					if err != nil || ip.Unmap().Is4() != (fam == discovery.AddressTypeIPv4) {
						continue
					}
					e := discovery.Endpoint{Addresses: []string{a.IP}, NodeName: a.NodeName, TargetRef: a.TargetRef,
						Conditions: discovery.EndpointConditions{Ready: pointerTo(ready), Serving: pointerTo(ready), Terminating: pointerTo(false)}}
					if a.Hostname != "" {
						e.Hostname = pointerTo(a.Hostname)
					}
					s.Endpoints = append(s.Endpoints, e)
				}
			}
			add(ss.Addresses, true)
			add(ss.NotReadyAddresses, false)
			if len(s.Endpoints) > 0 {
				out = append(out, s)
			}
		}
	}
	return out
}

// writeMirroredSlices makes the mirrored slices of a Service equal want.
func (c *endpointsMirror) writeMirroredSlices(ctx context.Context, ns, svc string, want []*discovery.EndpointSlice) error {
	have, err := c.slices.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{
		discovery.LabelServiceName: svc, discovery.LabelManagedBy: mirroringManagedBy}))
	if err != nil {
		return err
	}
	api := c.client.DiscoveryV1().EndpointSlices(ns)
	byName := map[string]*discovery.EndpointSlice{}
	for _, s := range have {
		byName[s.Name] = s
	}
	for _, s := range want {
		cur, ok := byName[s.Name]
		delete(byName, s.Name)
		switch {
		case !ok:
			_, err = api.Create(ctx, s, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return errRetry
			}
		case cur.AddressType == s.AddressType && apiequality.Semantic.DeepEqual(cur.Endpoints, s.Endpoints) &&
			apiequality.Semantic.DeepEqual(cur.Ports, s.Ports):
			continue
		case cur.AddressType != s.AddressType: // immutable: replace
			if err = api.Delete(ctx, cur.Name, metav1.DeleteOptions{}); err == nil {
				return errRetry
			}
		default:
			upd := cur.DeepCopy()
			upd.Endpoints, upd.Ports = s.Endpoints, s.Ports
			_, err = api.Update(ctx, upd, metav1.UpdateOptions{})
		}
		if err != nil && !isTerminating(err) {
			return fmt.Errorf("write endpointslice %s/%s: %w", ns, s.Name, err)
		}
	}
	for name := range byName {
		if err := api.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete endpointslice %s/%s: %w", ns, name, err)
		}
	}
	return nil
}

func pointerTo[T any](v T) *T { return &v }
