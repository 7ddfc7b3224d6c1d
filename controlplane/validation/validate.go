package validation

import (
	"fmt"
	"net/netip"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Options carries the cluster configuration that some rules depend on.
type Options struct {
	// ServiceCIDRs are the ranges a requested spec.clusterIP must fall in.
	// Empty skips the check.
	ServiceCIDRs []netip.Prefix
	// NodePortMin and NodePortMax bound requested node ports (and health
	// check node ports), inclusive. Zero means the Kubernetes default
	// 30000-32767.
	NodePortMin, NodePortMax int32
}

const (
	defaultNodePortMin = 30000
	defaultNodePortMax = 32767
)

// nodePortRange returns the effective node-port range.
func (o Options) nodePortRange() (lo, hi int32) {
	lo, hi = o.NodePortMin, o.NodePortMax
	if lo == 0 {
		lo = defaultNodePortMin
	}
	if hi == 0 {
		hi = defaultNodePortMax
	}
	return lo, hi
}

// Validate validates obj, a pointer to a k8s.io/api type. old is nil on
// create; on update it is the stored object, used for the immutable-field
// rules. Field paths and error types follow Kubernetes. Types without
// specific rules get metadata validation only.
func Validate(obj, old runtime.Object, opts Options) field.ErrorList {
	if isNil(obj) {
		return field.ErrorList{field.InternalError(rootPath, fmt.Errorf("nil object"))}
	}
	if isNil(old) {
		old = nil
	} else if reflect.TypeOf(old) != reflect.TypeOf(obj) {
		return field.ErrorList{field.InternalError(rootPath, fmt.Errorf("old object is a %T, not a %T", old, obj))}
	}
	errs := validateCreate(obj, old, opts)
	if old != nil {
		errs = append(errs, validateUpdate(obj, old)...)
	}
	return errs
}

// validateCreate runs the rules that apply to every write of obj. old is
// passed to the few rules that exempt values already stored.
func validateCreate(obj, old runtime.Object, opts Options) field.ErrorList {
	switch o := obj.(type) {
	case *corev1.Service:
		oldSvc, _ := old.(*corev1.Service)
		return validateService(o, oldSvc, opts)
	case *corev1.Pod:
		return validatePod(o)
	case *networkingv1.Ingress:
		return validateIngress(o)
	case *networkingv1.IngressClass:
		return validateIngressClass(o)
	case *discoveryv1.EndpointSlice:
		return validateEndpointSlice(o)
	case *corev1.Namespace:
		return validateNamespace(o)
	case *corev1.Node:
		return validateNode(o)
	case *corev1.ConfigMap:
		return validateConfigMap(o)
	case *corev1.Secret:
		return validateSecret(o)
	case *coordinationv1.Lease:
		return validateLease(o)
	case *corev1.Endpoints:
		return validateEndpointsObject(o)
	case *corev1.ServiceAccount:
		return validateServiceAccount(o)
	case *appsv1.Deployment:
		return validateDeployment(o)
	case *appsv1.ReplicaSet:
		return validateReplicaSet(o)
	case *appsv1.DaemonSet:
		return validateDaemonSet(o)
	}
	return validateGenericMeta(obj)
}

// validateUpdate runs the update-only rules: metadata immutability and the
// per-type rules on what may change.
func validateUpdate(obj, old runtime.Object) field.ErrorList {
	errs := validateMetaUpdateOf(obj, old)
	switch o := obj.(type) {
	case *corev1.Service:
		errs = append(errs, validateServiceUpdate(o, old.(*corev1.Service))...)
	case *corev1.Pod:
		errs = append(errs, validatePodUpdate(o, old.(*corev1.Pod))...)
	case *networkingv1.IngressClass:
		errs = append(errs, validateIngressClassUpdate(o, old.(*networkingv1.IngressClass))...)
	case *discoveryv1.EndpointSlice:
		errs = append(errs, validateEndpointSliceUpdate(o, old.(*discoveryv1.EndpointSlice))...)
	case *corev1.Node:
		errs = append(errs, validateNodeUpdate(o, old.(*corev1.Node))...)
	case *corev1.ConfigMap:
		errs = append(errs, validateConfigMapUpdate(o, old.(*corev1.ConfigMap))...)
	case *corev1.Secret:
		errs = append(errs, validateSecretUpdate(o, old.(*corev1.Secret))...)
	case *appsv1.Deployment:
		errs = append(errs, validateDeploymentUpdate(o, old.(*appsv1.Deployment))...)
	case *appsv1.ReplicaSet:
		errs = append(errs, validateReplicaSetUpdate(o, old.(*appsv1.ReplicaSet))...)
	case *appsv1.DaemonSet:
		errs = append(errs, validateDaemonSetUpdate(o, old.(*appsv1.DaemonSet))...)
	}
	return errs
}

// ValidateStatusUpdate validates a write to the status subresource: the
// metadata may not be renamed or moved, and the status values that other
// components read (pod and host IPs, load-balancer ingress points) must be
// well formed.
func ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	if isNil(obj) || isNil(old) {
		return field.ErrorList{field.InternalError(rootPath, fmt.Errorf("status update needs the object and the old object"))}
	}
	if reflect.TypeOf(old) != reflect.TypeOf(obj) {
		return field.ErrorList{field.InternalError(rootPath, fmt.Errorf("old object is a %T, not a %T", old, obj))}
	}
	errs := validateMetaUpdateOf(obj, old)
	switch o := obj.(type) {
	case *corev1.Pod:
		errs = append(errs, validatePodStatus(&o.Status)...)
	case *corev1.Service:
		errs = append(errs, validateLoadBalancerStatus(&o.Status.LoadBalancer, field.NewPath("status", "loadBalancer"))...)
	case *networkingv1.Ingress:
		errs = append(errs, validateIngressLoadBalancerStatus(&o.Status.LoadBalancer, field.NewPath("status", "loadBalancer"))...)
	case *corev1.Node:
		errs = append(errs, validateNodeStatus(&o.Status)...)
	case *appsv1.Deployment:
		errs = append(errs, validateDeploymentStatus(o, old.(*appsv1.Deployment))...)
	case *appsv1.ReplicaSet:
		errs = append(errs, validateReplicaSetStatus(o)...)
	case *appsv1.DaemonSet:
		errs = append(errs, validateDaemonSetStatus(o, old.(*appsv1.DaemonSet))...)
	}
	return errs
}

// validateMetaUpdateOf validates metadata changes between any two objects.
func validateMetaUpdateOf(obj, old runtime.Object) field.ErrorList {
	m, err := meta.Accessor(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	om, err := meta.Accessor(old)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	return validateMetaUpdate(m, om)
}

// isNil reports whether o is nil or a typed nil pointer.
func isNil(o runtime.Object) bool {
	if o == nil {
		return true
	}
	v := reflect.ValueOf(o)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
