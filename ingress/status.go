package ingress

import (
	"context"
	"log/slog"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// statusWriter keeps status.loadBalancer.ingress of served Ingresses at
// the node's address, and clears it from Ingresses no longer served.
type statusWriter struct {
	client kubernetes.Interface
	node   string
	log    *slog.Logger
	addr   string // node InternalIP once known
}

func newStatusWriter(c kubernetes.Interface, node string, log *slog.Logger) *statusWriter {
	return &statusWriter{client: c, node: node, log: log}
}

// pending reports whether the node's address is still to be learnt
// (without a node name there is nothing to learn, and no status to write).
func (s *statusWriter) pending() bool { return s.addr == "" && s.node != "" }

func (s *statusWriter) nodeAddr(ctx context.Context) string {
	if s.addr != "" || s.node == "" {
		return s.addr
	}
	n, err := s.client.CoreV1().Nodes().Get(ctx, s.node, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			s.addr = a.Address
			return s.addr
		}
	}
	return ""
}

// sync updates what differs; failures are retried on the next rebuild
// (the status update itself triggers one only when it changed something).
func (s *statusWriter) sync(ctx context.Context, ours, all []*networkingv1.Ingress) {
	addr := s.nodeAddr(ctx)
	if addr == "" {
		return
	}
	want := []networkingv1.IngressLoadBalancerIngress{{IP: addr}}
	served := map[*networkingv1.Ingress]bool{}
	for _, ing := range ours {
		served[ing] = true
	}
	for _, ing := range all {
		var target []networkingv1.IngressLoadBalancerIngress
		switch {
		case served[ing]:
			target = want
		case slices.EqualFunc(ing.Status.LoadBalancer.Ingress, want, lbEqual):
			target = nil // ours before, not any more
		default:
			continue
		}
		if slices.EqualFunc(ing.Status.LoadBalancer.Ingress, target, lbEqual) {
			continue
		}
		up := ing.DeepCopy()
		up.Status.LoadBalancer.Ingress = target
		if _, err := s.client.NetworkingV1().Ingresses(ing.Namespace).UpdateStatus(ctx, up, metav1.UpdateOptions{}); err != nil {
			s.log.Debug("ingress status update", "ingress", ing.Namespace+"/"+ing.Name, "err", err)
		}
	}
}

func lbEqual(a, b networkingv1.IngressLoadBalancerIngress) bool {
	return a.IP == b.IP && a.Hostname == b.Hostname && len(a.Ports) == 0 && len(b.Ports) == 0
}
