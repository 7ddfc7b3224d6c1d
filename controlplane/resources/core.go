package resources

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/switchyard-net/switchyard/controlplane/validation"
)

// The core/v1, discovery, networking and coordination rows.

var namespaces = Resource{
	GVR: gvr("", "v1", "namespaces"), Kind: "Namespace", ListKind: "NamespaceList", Singular: "namespace",
	ShortNames: []string{"ns"}, Status: true, DeleteCascades: true,
	PrepareCreate: typed(func(ns *corev1.Namespace) {
		ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
	}),
	Fields: fieldsOf(func(ns *corev1.Namespace) fields.Set {
		return fields.Set{"status.phase": string(ns.Status.Phase)}
	}),
}

var nodes = Resource{
	GVR: gvr("", "v1", "nodes"), Kind: "Node", ListKind: "NodeList", Singular: "node",
	ShortNames: []string{"no"}, Status: true,
	Fields: fieldsOf(func(n *corev1.Node) fields.Set {
		return fields.Set{"spec.unschedulable": strconv.FormatBool(n.Spec.Unschedulable)}
	}),
}

var pods = Resource{
	GVR: gvr("", "v1", "pods"), Kind: "Pod", ListKind: "PodList", Singular: "pod", Namespaced: true,
	ShortNames: []string{"po"}, Status: true, Categories: []string{"all"}, Binding: true,
	PrepareCreate: typed(func(p *corev1.Pod) {
		p.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: qosClass(p)}
		if p.Spec.NodeName != "" {
			SetPodScheduled(p)
		}
	}),
	Fields: fieldsOf(func(p *corev1.Pod) fields.Set {
		return fields.Set{
			"spec.nodeName":            p.Spec.NodeName,
			"spec.restartPolicy":       string(p.Spec.RestartPolicy),
			"spec.schedulerName":       p.Spec.SchedulerName,
			"spec.serviceAccountName":  p.Spec.ServiceAccountName,
			"spec.hostNetwork":         strconv.FormatBool(p.Spec.HostNetwork),
			"status.phase":             string(p.Status.Phase),
			"status.podIP":             p.Status.PodIP,
			"status.nominatedNodeName": p.Status.NominatedNodeName,
		}
	}),
	GracefulDelete: podGrace,
}

var services = Resource{
	GVR: gvr("", "v1", "services"), Kind: "Service", ListKind: "ServiceList", Singular: "service", Namespaced: true,
	ShortNames: []string{"svc"}, Status: true, Categories: []string{"all"},
	PrepareCreate: typed(func(s *corev1.Service) { s.Status = corev1.ServiceStatus{} }),
	// Drop values the new type does not use before defaulting, as
	// Kubernetes' service strategy does.
	PrepareUpdate: func(obj, old runtime.Object) {
		validation.PrepareServiceUpdate(obj.(*corev1.Service), old.(*corev1.Service))
	},
	Fields: fieldsOf(func(s *corev1.Service) fields.Set {
		return fields.Set{"spec.clusterIP": s.Spec.ClusterIP, "spec.type": string(s.Spec.Type)}
	}),
}

var secrets = Resource{
	GVR: gvr("", "v1", "secrets"), Kind: "Secret", ListKind: "SecretList", Singular: "secret", Namespaced: true,
	Fields: fieldsOf(func(s *corev1.Secret) fields.Set { return fields.Set{"type": string(s.Type)} }),
}

var configMaps = Resource{
	GVR: gvr("", "v1", "configmaps"), Kind: "ConfigMap", ListKind: "ConfigMapList", Singular: "configmap", Namespaced: true,
	ShortNames: []string{"cm"},
}

var endpointSlices = Resource{
	GVR: gvr("discovery.k8s.io", "v1", "endpointslices"), Kind: "EndpointSlice", ListKind: "EndpointSliceList",
	Singular: "endpointslice", Namespaced: true,
}

var ingresses = Resource{
	GVR: gvr("networking.k8s.io", "v1", "ingresses"), Kind: "Ingress", ListKind: "IngressList", Singular: "ingress",
	Namespaced: true, ShortNames: []string{"ing"}, Status: true,
}

var ingressClasses = Resource{
	GVR: gvr("networking.k8s.io", "v1", "ingressclasses"), Kind: "IngressClass", ListKind: "IngressClassList",
	Singular: "ingressclass",
}

var networkPolicies = Resource{
	GVR: gvr("networking.k8s.io", "v1", "networkpolicies"), Kind: "NetworkPolicy", ListKind: "NetworkPolicyList",
	Singular: "networkpolicy", Namespaced: true, ShortNames: []string{"netpol"},
}

var leases = Resource{
	GVR: gvr("coordination.k8s.io", "v1", "leases"), Kind: "Lease", ListKind: "LeaseList", Singular: "lease", Namespaced: true,
}

// SetPodScheduled marks a pod's PodScheduled condition true, as binding
// it to a node does.
func SetPodScheduled(p *corev1.Pod) {
	for i, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			p.Status.Conditions[i].Status = corev1.ConditionTrue
			return
		}
	}
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
		Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now(),
	})
}

// qosClass follows Kubernetes: Guaranteed when every container has equal
// cpu and memory requests and limits, BestEffort when none has any.
func qosClass(p *corev1.Pod) corev1.PodQOSClass {
	any, guaranteed := false, true
	for _, c := range p.Spec.Containers {
		if len(c.Resources.Requests) > 0 || len(c.Resources.Limits) > 0 {
			any = true
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			l, okL := c.Resources.Limits[r]
			q, okR := c.Resources.Requests[r]
			if !okL || (okR && q.Cmp(l) != 0) {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// podGrace says a pod must terminate gracefully: it runs on a node and no
// zero grace period was asked for. The node agent deletes it with grace 0
// once its processes have stopped.
func podGrace(obj runtime.Object, opts *metav1.DeleteOptions) (int64, bool) {
	pod := obj.(*corev1.Pod)
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return 0, false
	}
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	if opts.GracePeriodSeconds != nil {
		grace = *opts.GracePeriodSeconds
	}
	if grace <= 0 {
		return 0, false
	}
	if pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil && grace >= *pod.DeletionGracePeriodSeconds {
		return *pod.DeletionGracePeriodSeconds, true // already terminating: nothing to shorten
	}
	return grace, true
}

// Endpoints are the pre-EndpointSlice view of a Service's endpoints, kept
// for older clients: the control plane mirrors the EndpointSlices of
// every Service with a selector into them (and reverts edits).
var endpoints = Resource{
	GVR: gvr("", "v1", "endpoints"), Kind: "Endpoints", ListKind: "EndpointsList", Singular: "endpoints",
	Namespaced: true, ShortNames: []string{"ep"},
}

var serviceAccounts = Resource{
	GVR: gvr("", "v1", "serviceaccounts"), Kind: "ServiceAccount", ListKind: "ServiceAccountList",
	Singular: "serviceaccount", Namespaced: true, ShortNames: []string{"sa"},
}
