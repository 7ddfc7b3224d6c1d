// Package resources is the one table of the API resources the switchyard
// control plane serves: each row holds a kind's names (discovery, OpenAPI,
// storage keys) and its behaviour on the server — what a create resets, how
// an update is prepared and when it is a new generation, which field
// selectors it answers, its /scale view, whether its deletion waits for a
// graceful termination or cascades to a namespace's content. The API
// server, discovery, OpenAPI and the printers all read it, so the HTTP
// handlers stay kind-agnostic and adding a kind means adding a row here.
//
// Defaults and validation rules live in controlplane/validation (one file
// per kind, reached through validation.Default and validation.Validate),
// table columns in internal/printers (which the CLI shares and so cannot
// import the control plane), and the cluster-wide allocations of Services
// in the API server, next to the allocators.
package resources

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
)

// Resource describes one served resource.
type Resource struct {
	GVR        schema.GroupVersionResource
	Kind       string
	ListKind   string
	Namespaced bool
	ShortNames []string
	// Singular is the lower-case singular name (discovery's singularName).
	Singular string
	// Status says the resource has a /status subresource: the main
	// resource then keeps the stored status on updates, and /status
	// changes nothing but the status.
	Status bool
	// StatusAnnotations lets a /status update change annotations too, as
	// Kubernetes' deployment status strategy does: the controller records
	// deployment.kubernetes.io/revision there without a new generation.
	StatusAnnotations bool
	// Categories as kubectl's "get all" uses them.
	Categories []string
	// Verbs are the verbs discovery announces; nil: every verb of a
	// stored kind.
	Verbs metav1.Verbs

	// Scale, when set, serves the /scale subresource (autoscaling/v1
	// Scale) over the kind's replicas and selector.
	Scale *Scale
	// Binding says the resource has a pods/binding-style subresource that
	// sets spec.nodeName once.
	Binding bool
	// Review says the kind is a create-only question answered by the
	// authorizer (SelfSubjectAccessReview and the like): nothing is stored,
	// and it has no list kind.
	Review bool
	// DeleteCascades says deleting an object of the kind terminates it and
	// then removes everything in it (a Namespace).
	DeleteCascades bool

	// PrepareCreate resets what a client may not set on create (the
	// status, mostly), after the server set uid, timestamps and generation.
	PrepareCreate func(obj runtime.Object)
	// PrepareUpdate adjusts an update of the main resource before defaults
	// run, knowing the stored object old.
	PrepareUpdate func(obj, old runtime.Object)
	// GenerationChanged says an update of the main resource starts a new
	// metadata.generation. Nil: a change of spec does.
	GenerationChanged func(obj, old runtime.Object) bool
	// Fields returns the field-selector labels of the kind other than
	// metadata.name and metadata.namespace, with obj's values. Called on an
	// empty object it lists the supported labels.
	Fields func(obj runtime.Object) fields.Set
	// GracefulDelete says a delete with opts must wait for a graceful
	// termination of that many seconds (a pod on a node), during which the
	// object stays, marked with its deletion timestamp.
	GracefulDelete func(obj runtime.Object, opts *metav1.DeleteOptions) (seconds int64, ok bool)

	// StoredAs, when set, makes the resource a second view of another
	// resource's objects (events.k8s.io/v1 Events of core v1 Events): they
	// are kept under that resource's keys in its kind and converted on
	// every read and write, so both views list, watch and change the same
	// objects.
	StoredAs *View
	// TTL says objects of the kind expire a while after their last write
	// (the API server's event TTL), as Kubernetes does for Events.
	TTL bool
}

// View converts between a resource's objects and those of the resource it
// is stored as.
type View struct {
	Of         *Resource
	ToStored   func(runtime.Object) runtime.Object
	FromStored func(runtime.Object) runtime.Object
}

// Storage returns the resource whose keys and kind hold r's objects: r
// itself, or the one it is a view of.
func (r Resource) Storage() Resource {
	if r.StoredAs != nil {
		return *r.StoredAs.Of
	}
	return r
}

// Scale reads and writes a workload's replicas for the /scale subresource.
type Scale struct {
	// Get returns the desired replicas, the current ones and the selector.
	Get func(obj runtime.Object) (spec, status int32, selector *metav1.LabelSelector)
	// Set writes the desired replicas into obj.
	Set func(obj runtime.Object, replicas int32)
}

// GVK returns the resource's group, version and kind.
func (r Resource) GVK() schema.GroupVersionKind {
	return r.GVR.GroupVersion().WithKind(r.Kind)
}

// New returns an empty object of the resource's kind.
func (r Resource) New() runtime.Object {
	obj, err := scheme.Scheme.New(r.GVK())
	if err != nil {
		panic("resources: kind not in client-go scheme: " + r.Kind)
	}
	return obj
}

// NewList returns an empty list of the resource's kind.
func (r Resource) NewList() runtime.Object {
	obj, err := scheme.Scheme.New(r.GVR.GroupVersion().WithKind(r.ListKind))
	if err != nil {
		panic("resources: list kind not in client-go scheme: " + r.ListKind)
	}
	return obj
}

// FieldSet returns the field-selector labels and values of obj, an object
// of r's kind: metadata.name, metadata.namespace and the kind's own.
func (r Resource) FieldSet(obj runtime.Object, name, namespace string) fields.Set {
	set := fields.Set{"metadata.name": name, "metadata.namespace": namespace}
	if r.Fields != nil {
		for k, v := range r.Fields(obj) {
			set[k] = v
		}
	}
	return set
}

// SupportsField says r answers field selectors on label.
func (r Resource) SupportsField(label string) bool {
	if label == "metadata.name" || label == "metadata.namespace" {
		return true
	}
	if r.Fields == nil {
		return false
	}
	_, ok := r.Fields(r.New())[label]
	return ok
}

func gvr(group, version, resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: group, Version: version, Resource: resource}
}

// typed adapts a function of one kind to the table's untyped hooks.
func typed[T runtime.Object](f func(T)) func(runtime.Object) {
	return func(obj runtime.Object) { f(obj.(T)) }
}

func typed2[T runtime.Object, R any](f func(T, T) R) func(obj, old runtime.Object) R {
	return func(obj, old runtime.Object) R { return f(obj.(T), old.(T)) }
}

func fieldsOf[T runtime.Object](f func(T) fields.Set) func(runtime.Object) fields.Set {
	return func(obj runtime.Object) fields.Set { return f(obj.(T)) }
}

// All lists every served resource. Callers must not modify it.
var All = []Resource{
	namespaces, nodes, pods, services, endpoints, secrets, configMaps, serviceAccounts, endpointSlices,
	ingresses, ingressClasses, networkPolicies, leases, events, eventsV1,
	deployments, replicaSets, daemonSets, controllerRevisions,
	roles, roleBindings, clusterRoles, clusterRoleBindings,
	selfSubjectAccessReviews, subjectAccessReviews, selfSubjectRulesReviews, selfSubjectReviews,
	// Gateway API: the stored v1 rows first, so discovery prefers v1.
	gatewayClasses, gateways, httpRoutes, grpcRoutes, referenceGrants,
	gatewayClassesV1beta1, gatewaysV1beta1, httpRoutesV1beta1, referenceGrantsV1beta1,
}

// GroupVersions returns the served group-versions in a stable order, the
// core group ("" / v1) first.
func GroupVersions() []schema.GroupVersion { return groupVersionsOf(All) }

func groupVersionsOf(rs []Resource) []schema.GroupVersion {
	var out []schema.GroupVersion
	for _, r := range rs {
		if gv := r.GVR.GroupVersion(); !slices.Contains(out, gv) {
			out = append(out, gv)
		}
	}
	return out
}

// ForGroupVersion returns the resources of one group-version.
func ForGroupVersion(gv schema.GroupVersion) []Resource { return inGroupVersion(All, gv) }

func inGroupVersion(rs []Resource, gv schema.GroupVersion) []Resource {
	var out []Resource
	for _, r := range rs {
		if r.GVR.GroupVersion() == gv {
			out = append(out, r)
		}
	}
	return out
}

// Lookup finds a resource by group-version and plural name.
func Lookup(gv schema.GroupVersion, plural string) (Resource, bool) {
	for _, r := range All {
		if r.GVR.GroupVersion() == gv && r.GVR.Resource == plural {
			return r, true
		}
	}
	return Resource{}, false
}

// ByKind finds a resource by group-version-kind.
func ByKind(gvk schema.GroupVersionKind) (Resource, bool) {
	for _, r := range All {
		if r.GVK() == gvk {
			return r, true
		}
	}
	return Resource{}, false
}
