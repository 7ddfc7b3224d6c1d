// Package resources is the one table of the API resources the switchyard
// control plane serves. The API server, discovery, OpenAPI and the printers
// all read it, so adding a kind means adding one row here.
package resources

import (
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
	// Status says the resource has a /status subresource.
	Status bool
	// Scale says the resource has a /scale subresource (autoscaling/v1
	// Scale over spec.replicas and the selector).
	Scale bool
	// Categories as kubectl's "get all" uses them.
	Categories []string
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

func gvr(group, version, resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: group, Version: version, Resource: resource}
}

// All lists every served resource. Callers must not modify it.
var All = []Resource{
	{GVR: gvr("", "v1", "namespaces"), Kind: "Namespace", ListKind: "NamespaceList", Singular: "namespace", ShortNames: []string{"ns"}, Status: true},
	{GVR: gvr("", "v1", "nodes"), Kind: "Node", ListKind: "NodeList", Singular: "node", ShortNames: []string{"no"}, Status: true},
	{GVR: gvr("", "v1", "pods"), Kind: "Pod", ListKind: "PodList", Singular: "pod", Namespaced: true, ShortNames: []string{"po"}, Status: true, Categories: []string{"all"}},
	{GVR: gvr("", "v1", "services"), Kind: "Service", ListKind: "ServiceList", Singular: "service", Namespaced: true, ShortNames: []string{"svc"}, Status: true, Categories: []string{"all"}},
	{GVR: gvr("", "v1", "secrets"), Kind: "Secret", ListKind: "SecretList", Singular: "secret", Namespaced: true},
	{GVR: gvr("", "v1", "configmaps"), Kind: "ConfigMap", ListKind: "ConfigMapList", Singular: "configmap", Namespaced: true, ShortNames: []string{"cm"}},
	{GVR: gvr("discovery.k8s.io", "v1", "endpointslices"), Kind: "EndpointSlice", ListKind: "EndpointSliceList", Singular: "endpointslice", Namespaced: true},
	{GVR: gvr("networking.k8s.io", "v1", "ingresses"), Kind: "Ingress", ListKind: "IngressList", Singular: "ingress", Namespaced: true, ShortNames: []string{"ing"}, Status: true},
	{GVR: gvr("networking.k8s.io", "v1", "ingressclasses"), Kind: "IngressClass", ListKind: "IngressClassList", Singular: "ingressclass"},
	{GVR: gvr("coordination.k8s.io", "v1", "leases"), Kind: "Lease", ListKind: "LeaseList", Singular: "lease", Namespaced: true},
	{GVR: gvr("apps", "v1", "deployments"), Kind: "Deployment", ListKind: "DeploymentList", Singular: "deployment", Namespaced: true, ShortNames: []string{"deploy"}, Status: true, Scale: true, Categories: []string{"all"}},
	{GVR: gvr("apps", "v1", "replicasets"), Kind: "ReplicaSet", ListKind: "ReplicaSetList", Singular: "replicaset", Namespaced: true, ShortNames: []string{"rs"}, Status: true, Scale: true, Categories: []string{"all"}},
	{GVR: gvr("apps", "v1", "daemonsets"), Kind: "DaemonSet", ListKind: "DaemonSetList", Singular: "daemonset", Namespaced: true, ShortNames: []string{"ds"}, Status: true, Categories: []string{"all"}},
}

// GroupVersions returns the served group-versions in a stable order, the
// core group ("" / v1) first.
func GroupVersions() []schema.GroupVersion {
	var out []schema.GroupVersion
	seen := map[schema.GroupVersion]bool{}
	for _, r := range All {
		gv := r.GVR.GroupVersion()
		if !seen[gv] {
			seen[gv] = true
			out = append(out, gv)
		}
	}
	return out
}

// ForGroupVersion returns the resources of one group-version.
func ForGroupVersion(gv schema.GroupVersion) []Resource {
	var out []Resource
	for _, r := range All {
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
