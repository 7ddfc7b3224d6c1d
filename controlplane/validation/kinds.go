package validation

import (
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
)

// rules are one kind's defaults and validation. Every hook is optional: a
// kind without write rules gets metadata validation only.
type rules struct {
	// defaults fills defaults in place (create and update).
	defaults func(obj runtime.Object)
	// write checks every write; old is the stored object on update and
	// nil on create (for the few rules that exempt stored values).
	write func(obj, old runtime.Object, opts Options) field.ErrorList
	// update checks what an update may change, after the metadata rules.
	update func(obj, old runtime.Object) field.ErrorList
	// status checks a write to the status subresource.
	status func(obj, old runtime.Object) field.ErrorList
}

// kinds holds the rules of each kind with its own, keyed by the object's
// pointer type: adding a kind's rules means adding a row here.
var kinds = map[reflect.Type]rules{
	reflect.TypeFor[*corev1.Service](): {
		defaults: on(defaultService),
		write: func(obj, old runtime.Object, opts Options) field.ErrorList {
			oldSvc, _ := old.(*corev1.Service)
			return validateService(obj.(*corev1.Service), oldSvc, opts)
		},
		update: pair(validateServiceUpdate),
		status: func(obj, _ runtime.Object) field.ErrorList {
			return validateLoadBalancerStatus(&obj.(*corev1.Service).Status.LoadBalancer, field.NewPath("status", "loadBalancer"))
		},
	},
	reflect.TypeFor[*corev1.Pod](): {
		defaults: on(defaultPod), write: check(validatePod), update: pair(validatePodUpdate),
		status: func(obj, _ runtime.Object) field.ErrorList { return validatePodStatus(&obj.(*corev1.Pod).Status) },
	},
	reflect.TypeFor[*networkingv1.Ingress](): {
		// Kubernetes defaults nothing here; pathType in particular is required.
		write: check(validateIngress),
		status: func(obj, _ runtime.Object) field.ErrorList {
			return validateIngressLoadBalancerStatus(&obj.(*networkingv1.Ingress).Status.LoadBalancer, field.NewPath("status", "loadBalancer"))
		},
	},
	reflect.TypeFor[*networkingv1.IngressClass](): {
		defaults: on(defaultIngressClass), write: check(validateIngressClass), update: pair(validateIngressClassUpdate),
	},
	reflect.TypeFor[*networkingv1.NetworkPolicy](): {defaults: on(defaultNetworkPolicy), write: check(validateNetworkPolicy)},
	reflect.TypeFor[*discoveryv1.EndpointSlice](): {
		defaults: on(defaultEndpointSlice), write: check(validateEndpointSlice), update: pair(validateEndpointSliceUpdate),
	},
	reflect.TypeFor[*corev1.Namespace](): {defaults: on(defaultNamespace), write: check(validateNamespace)},
	reflect.TypeFor[*corev1.Node](): {
		defaults: on(defaultNode), write: check(validateNode), update: pair(validateNodeUpdate),
		status: func(obj, _ runtime.Object) field.ErrorList { return validateNodeStatus(&obj.(*corev1.Node).Status) },
	},
	reflect.TypeFor[*corev1.ConfigMap](): {write: check(validateConfigMap), update: pair(validateConfigMapUpdate)},
	reflect.TypeFor[*corev1.Secret](): {
		defaults: on(defaultSecret), write: check(validateSecret), update: pair(validateSecretUpdate),
	},
	reflect.TypeFor[*coordinationv1.Lease](): {write: check(validateLease)},
	reflect.TypeFor[*rbacv1.Role]():          {write: check(validateRole)},
	reflect.TypeFor[*rbacv1.ClusterRole]():   {write: check(validateClusterRole)},
	reflect.TypeFor[*rbacv1.RoleBinding]():   {write: check(validateRoleBinding), update: pair(validateRoleBindingUpdate)},
	reflect.TypeFor[*rbacv1.ClusterRoleBinding](): {
		write: check(validateClusterRoleBinding), update: pair(validateClusterRoleBindingUpdate),
	},
	reflect.TypeFor[*corev1.Endpoints]():      {defaults: on(defaultEndpointsObject), write: check(validateEndpointsObject)},
	reflect.TypeFor[*corev1.ServiceAccount](): {write: check(validateServiceAccount)},
	reflect.TypeFor[*appsv1.Deployment](): {
		defaults: on(defaultDeployment), write: check(validateDeployment), update: pair(validateDeploymentUpdate),
		status: pair(validateDeploymentStatus),
	},
	reflect.TypeFor[*appsv1.ReplicaSet](): {
		defaults: on(defaultReplicaSet), write: check(validateReplicaSet), update: pair(validateReplicaSetUpdate),
		status: func(obj, _ runtime.Object) field.ErrorList { return validateReplicaSetStatus(obj.(*appsv1.ReplicaSet)) },
	},
	reflect.TypeFor[*appsv1.ControllerRevision](): {
		write: check(validateControllerRevision), update: pair(validateControllerRevisionUpdate),
	},
	reflect.TypeFor[*corev1.Event]():   {write: check(validateCoreEvent)},
	reflect.TypeFor[*eventsv1.Event](): {write: check(validateEventsV1Event)},
	reflect.TypeFor[*appsv1.DaemonSet](): {
		defaults: on(defaultDaemonSet), write: check(validateDaemonSet), update: pair(validateDaemonSetUpdate),
		status: pair(validateDaemonSetStatus),
	},
	reflect.TypeFor[*gatewayv1.GatewayClass](): {
		write: check(validateGatewayClass), update: pair(validateGatewayClassUpdate),
	},
	reflect.TypeFor[*gatewayv1.Gateway]():        {defaults: on(defaultGateway), write: check(validateGateway)},
	reflect.TypeFor[*gatewayv1.HTTPRoute]():      {defaults: on(defaultHTTPRoute), write: check(validateHTTPRoute)},
	reflect.TypeFor[*gatewayv1.GRPCRoute]():      {defaults: on(defaultGRPCRoute), write: check(validateGRPCRoute)},
	reflect.TypeFor[*gatewayv1.ReferenceGrant](): {write: check(validateReferenceGrant)},
	// The v1beta1 kinds are the v1 structs under another name.
	reflect.TypeFor[*gatewayv1beta1.GatewayClass](): {
		write: check(func(g *gatewayv1beta1.GatewayClass) field.ErrorList {
			return validateGatewayClass((*gatewayv1.GatewayClass)(g))
		}),
		update: pair(func(g, old *gatewayv1beta1.GatewayClass) field.ErrorList {
			return validateGatewayClassUpdate((*gatewayv1.GatewayClass)(g), (*gatewayv1.GatewayClass)(old))
		}),
	},
	reflect.TypeFor[*gatewayv1beta1.Gateway](): {
		defaults: on(func(g *gatewayv1beta1.Gateway) { defaultGateway((*gatewayv1.Gateway)(g)) }),
		write:    check(func(g *gatewayv1beta1.Gateway) field.ErrorList { return validateGateway((*gatewayv1.Gateway)(g)) }),
	},
	reflect.TypeFor[*gatewayv1beta1.HTTPRoute](): {
		defaults: on(func(r *gatewayv1beta1.HTTPRoute) { defaultHTTPRoute((*gatewayv1.HTTPRoute)(r)) }),
		write:    check(func(r *gatewayv1beta1.HTTPRoute) field.ErrorList { return validateHTTPRoute((*gatewayv1.HTTPRoute)(r)) }),
	},
	reflect.TypeFor[*gatewayv1beta1.ReferenceGrant](): {
		write: check(func(g *gatewayv1beta1.ReferenceGrant) field.ErrorList {
			return validateReferenceGrant((*gatewayv1.ReferenceGrant)(g))
		}),
	},
}

// rulesOf returns the rules of obj's kind (zero rules for other kinds).
func rulesOf(obj runtime.Object) rules { return kinds[reflect.TypeOf(obj)] }

// Adapters from a kind's typed functions to the table's hooks.

func on[T runtime.Object](f func(T)) func(runtime.Object) {
	return func(obj runtime.Object) { f(obj.(T)) }
}

func check[T runtime.Object](f func(T) field.ErrorList) func(obj, old runtime.Object, opts Options) field.ErrorList {
	return func(obj, _ runtime.Object, _ Options) field.ErrorList { return f(obj.(T)) }
}

func pair[T runtime.Object](f func(obj, old T) field.ErrorList) func(obj, old runtime.Object) field.ErrorList {
	return func(obj, old runtime.Object) field.ErrorList { return f(obj.(T), old.(T)) }
}
