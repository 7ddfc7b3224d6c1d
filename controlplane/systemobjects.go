package controlplane

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Names of the objects the control plane keeps in place.
const (
	// DNSServiceName is the cluster DNS Service in kube-system. Its
	// ClusterIP is the daemon's --dns-ip, answered on every node by that
	// node's DNS server, so it carries ProxyNameLabel and has no selector.
	DNSServiceName = "kube-dns"
	// ProxyNameLabel on a Service tells the service load-balancers to
	// leave it alone (as kube-proxy does for any value).
	ProxyNameLabel = "service.kubernetes.io/service-proxy-name"
	// IngressClassName is the class the ingress proxy serves.
	IngressClassName = "switchyard"
	// IngressController is the IngressClass's spec.controller.
	IngressController = "switchyard.dev/ingress"
	// systemObjectsInterval is how often missing objects are recreated.
	systemObjectsInterval = 30 * time.Second
)

// dnsService is the kube-dns Service for the cluster DNS address.
func (cp *ControlPlane) dnsService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:      DNSServiceName,
			Namespace: "kube-system",
			Labels: map[string]string{
				"k8s-app":                       "kube-dns",
				"kubernetes.io/name":            "CoreDNS",
				"kubernetes.io/cluster-service": "true",
				ProxyNameLabel:                  "switchyard-node-local-dns",
			},
		},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: cp.cfg.DNSIP.String(),
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP},
			},
		},
	}
}

func ingressClass() *networkingv1.IngressClass {
	return &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        IngressClassName,
			Annotations: map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"},
		},
		Spec: networkingv1.IngressClassSpec{Controller: IngressController},
	}
}

// keepSystemObjects keeps the default/kubernetes Service and its endpoints
// (see apiendpoints.go), and creates the kube-dns Service (when a DNS
// address is configured) and the switchyard IngressClass when missing, at
// start and then every systemObjectsInterval, until ctx ends. Objects a
// user changed are left as they are; deleted ones come back.
func (cp *ControlPlane) keepSystemObjects(ctx context.Context, client kubernetes.Interface) {
	defer cp.releaseAPILease(client)
	for {
		if err := cp.ensureSystemObjects(ctx, client); err != nil && ctx.Err() == nil {
			cp.log.Warn("system objects", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(systemObjectsInterval):
		}
	}
}

func (cp *ControlPlane) ensureSystemObjects(ctx context.Context, client kubernetes.Interface) error {
	if err := cp.ensureKubernetesService(ctx, client); err != nil {
		return err
	}
	if cp.cfg.DNSIP.IsValid() {
		_, err := client.CoreV1().Services("kube-system").Create(ctx, cp.dnsService(), metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create Service kube-system/%s: %w", DNSServiceName, err)
		}
	}
	_, err := client.NetworkingV1().IngressClasses().Create(ctx, ingressClass(), metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create IngressClass %s: %w", IngressClassName, err)
	}
	return nil
}
