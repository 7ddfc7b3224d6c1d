package controlplane

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// The default/kubernetes Service: how pods reach the API. Its ClusterIP is
// the first address of the service CIDR, port 443 (https) leads to the API
// port of every live control plane. As kube-apiserver's lease endpoint
// reconciler does, each control plane holds a Lease in kube-system naming
// its address and renews it; the Service's Endpoints and EndpointSlice list
// the addresses of the unexpired leases, so a control plane that stops
// renewing drops out within apiLeaseDuration.
const (
	KubernetesServiceName = "kubernetes"
	// apiLeaseLabel marks the control planes' address leases.
	apiLeaseLabel = "switchyard.dev/apiserver-endpoint"
	// apiLeaseDuration is how long an unrenewed address stays listed.
	apiLeaseDuration = 3 * systemObjectsInterval
)

// kubernetesClusterIP is the first address of the service CIDR.
func (cp *ControlPlane) kubernetesClusterIP() netip.Addr {
	return cp.cfg.ServiceCIDR.Masked().Addr().Next()
}

// advertised is the address and port pods reach this control plane's API
// at: the listen address when it is a routable one, the node IP when it
// listens on every address. A control plane bound to loopback has none
// (loopback cannot be an endpoint).
func (cp *ControlPlane) advertised() (netip.AddrPort, bool) {
	if cp.listener == nil {
		return netip.AddrPort{}, false
	}
	ap, err := netip.ParseAddrPort(cp.listener.Addr().String())
	if err != nil {
		return netip.AddrPort{}, false
	}
	a := ap.Addr().Unmap()
	if a.IsUnspecified() && cp.cfg.NodeIP.IsValid() {
		a = cp.cfg.NodeIP.Unmap()
	}
	if a.IsLoopback() || a.IsUnspecified() || a.IsLinkLocalUnicast() {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, ap.Port()), true
}

func (cp *ControlPlane) kubernetesService() *corev1.Service {
	port := 6443
	if _, p, err := net.SplitHostPort(cp.cfg.APIAddr); err == nil {
		if n, err := strconv.Atoi(p); err == nil {
			port = n
		}
	}
	if ap, ok := cp.advertised(); ok {
		port = int(ap.Port())
	}
	ip := cp.kubernetesClusterIP().String()
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: KubernetesServiceName, Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"},
		},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: ip, ClusterIPs: []string{ip},
			Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt(port)}},
		},
	}
}

// ensureKubernetesService creates the Service when it is missing, renews
// this control plane's address lease and writes the Endpoints and
// EndpointSlice from the live leases.
func (cp *ControlPlane) ensureKubernetesService(ctx context.Context, client kubernetes.Interface) error {
	svcs := client.CoreV1().Services(metav1.NamespaceDefault)
	if _, err := svcs.Get(ctx, KubernetesServiceName, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		_, err = svcs.Create(ctx, cp.kubernetesService(), metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create Service default/%s: %w", KubernetesServiceName, err)
		}
	} else if err != nil {
		return fmt.Errorf("get Service default/%s: %w", KubernetesServiceName, err)
	}
	if ap, ok := cp.advertised(); ok {
		if err := renewAPILease(ctx, client, ap, time.Now()); err != nil {
			return err
		}
	}
	addrs, err := liveAPIAddresses(ctx, client, time.Now())
	if err != nil {
		return err
	}
	return writeKubernetesEndpoints(ctx, client, addrs)
}

func apiLeaseName(ap netip.AddrPort) string {
	sum := sha256.Sum256([]byte(ap.String()))
	return fmt.Sprintf("apiserver-%x", sum[:8])
}

// renewAPILease creates or renews the Lease that says ap serves the API.
func renewAPILease(ctx context.Context, client kubernetes.Interface, ap netip.AddrPort, now time.Time) error {
	leases := client.CoordinationV1().Leases(metav1.NamespaceSystem)
	name := apiLeaseName(ap)
	secs := int32(apiLeaseDuration / time.Second)
	holder := ap.String()
	renew := metav1.NewMicroTime(now)
	l, err := leases.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		l = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceSystem, Labels: map[string]string{apiLeaseLabel: "true"}},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, RenewTime: &renew, AcquireTime: &renew},
		}
		if _, err := leases.Create(ctx, l, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create api lease: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get api lease: %w", err)
	}
	l = l.DeepCopy()
	l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime = &holder, &secs, &renew
	if _, err := leases.Update(ctx, l, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
		return fmt.Errorf("renew api lease: %w", err)
	}
	return nil
}

// releaseAPILease removes this control plane's address at shutdown, so the
// Service stops routing to it at once.
func (cp *ControlPlane) releaseAPILease(client kubernetes.Interface) {
	ap, ok := cp.advertised()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := client.CoordinationV1().Leases(metav1.NamespaceSystem).Delete(ctx, apiLeaseName(ap), metav1.DeleteOptions{})
	if err == nil {
		addrs, lerr := liveAPIAddresses(ctx, client, time.Now())
		if lerr == nil {
			err = writeKubernetesEndpoints(ctx, client, addrs)
		}
	}
	if err != nil && !apierrors.IsNotFound(err) {
		cp.log.Debug("release api lease", "err", err)
	}
}

// liveAPIAddresses lists the addresses of unexpired API leases, sorted.
func liveAPIAddresses(ctx context.Context, client kubernetes.Interface, now time.Time) ([]netip.AddrPort, error) {
	list, err := client.CoordinationV1().Leases(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(labels.Set{apiLeaseLabel: "true"}).String()})
	if err != nil {
		return nil, fmt.Errorf("list api leases: %w", err)
	}
	var out []netip.AddrPort
	for _, l := range list.Items {
		s := l.Spec
		if s.HolderIdentity == nil || s.RenewTime == nil || s.LeaseDurationSeconds == nil {
			continue
		}
		if now.After(s.RenewTime.Add(time.Duration(*s.LeaseDurationSeconds) * time.Second)) {
			continue
		}
		if ap, err := netip.ParseAddrPort(*s.HolderIdentity); err == nil && !slices.Contains(out, ap) {
			out = append(out, ap)
		}
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return out, nil
}

// writeKubernetesEndpoints makes the kubernetes Endpoints and EndpointSlice
// list addrs (one port per address family's first port: control planes
// share the API port in practice; each address keeps its own otherwise).
func writeKubernetesEndpoints(ctx context.Context, client kubernetes.Interface, addrs []netip.AddrPort) error {
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: KubernetesServiceName, Namespace: metav1.NamespaceDefault,
		Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}}}
	byPort := map[uint16][]corev1.EndpointAddress{}
	for _, ap := range addrs {
		byPort[ap.Port()] = append(byPort[ap.Port()], corev1.EndpointAddress{IP: ap.Addr().String()})
	}
	for _, port := range slices.Sorted(maps.Keys(byPort)) {
		ep.Subsets = append(ep.Subsets, corev1.EndpointSubset{Addresses: byPort[port],
			Ports: []corev1.EndpointPort{{Name: "https", Port: int32(port), Protocol: corev1.ProtocolTCP}}})
	}
	if err := writeEndpointsObject(ctx, client, ep); err != nil {
		return err
	}
	for _, fam := range []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6} {
		if err := writeKubernetesSlice(ctx, client, fam, addrs); err != nil {
			return err
		}
	}
	return nil
}

func writeEndpointsObject(ctx context.Context, client kubernetes.Interface, want *corev1.Endpoints) error {
	eps := client.CoreV1().Endpoints(metav1.NamespaceDefault)
	cur, err := eps.Get(ctx, want.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = eps.Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = nil // another control plane was first; the next round converges
		}
	case err != nil:
	case apiequality.Semantic.DeepEqual(cur.Subsets, want.Subsets):
		return nil
	default:
		upd := cur.DeepCopy()
		upd.Subsets = want.Subsets
		_, err = eps.Update(ctx, upd, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("write Endpoints default/%s: %w", want.Name, err)
	}
	return nil
}

// writeKubernetesSlice keeps one EndpointSlice per address family; a
// family without addresses has none.
func writeKubernetesSlice(ctx context.Context, client kubernetes.Interface, fam discoveryv1.AddressType, addrs []netip.AddrPort) error {
	name := KubernetesServiceName
	if fam == discoveryv1.AddressTypeIPv6 {
		name += "-ipv6"
	}
	var want []discoveryv1.Endpoint
	port := int32(0)
	for _, ap := range addrs {
		if ap.Addr().Is4() != (fam == discoveryv1.AddressTypeIPv4) {
			continue
		}
		if port == 0 {
			port = int32(ap.Port())
		}
		want = append(want, discoveryv1.Endpoint{Addresses: []string{ap.Addr().String()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptrTo(true), Serving: ptrTo(true), Terminating: ptrTo(false)}})
	}
	slices := client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault)
	cur, err := slices.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if len(want) == 0 {
			return nil
		}
		s := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceDefault, Labels: map[string]string{discoveryv1.LabelServiceName: KubernetesServiceName}},
			AddressType: fam, Endpoints: want,
			Ports: []discoveryv1.EndpointPort{{Name: ptrTo("https"), Port: &port, Protocol: ptrTo(corev1.ProtocolTCP)}},
		}
		if _, err := slices.Create(ctx, s, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create EndpointSlice default/%s: %w", name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get EndpointSlice default/%s: %w", name, err)
	}
	if len(want) == 0 {
		err := slices.Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete EndpointSlice default/%s: %w", name, err)
		}
		return nil
	}
	wantPorts := []discoveryv1.EndpointPort{{Name: ptrTo("https"), Port: &port, Protocol: ptrTo(corev1.ProtocolTCP)}}
	if apiequality.Semantic.DeepEqual(cur.Endpoints, want) && apiequality.Semantic.DeepEqual(cur.Ports, wantPorts) {
		return nil
	}
	upd := cur.DeepCopy()
	upd.Endpoints, upd.Ports = want, wantPorts
	if _, err := slices.Update(ctx, upd, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
		return fmt.Errorf("update EndpointSlice default/%s: %w", name, err)
	}
	return nil
}

func ptrTo[T any](v T) *T { return &v }
