package cli

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/restmapper"
)

// Resolver maps what users type (svc, services, service, ingress.networking.k8s.io)
// and what manifests declare (apiVersion + kind) to the server's resources.
// It is built once from discovery and safe for concurrent use.
type Resolver struct {
	mapper meta.RESTMapper
	// short maps each discovery shortName to its resource.
	short map[string][]schema.GroupResource
}

// aliases are tried when a name matches nothing the server serves. Older
// switchyard servers serve EndpointSlices but not the legacy Endpoints;
// against them the Endpoints names lead to EndpointSlices (DESIGN.md: `get
// ep` works). Servers that serve Endpoints answer `get ep` with them.
var aliases = map[string]string{
	"ep":        "endpointslices.discovery.k8s.io",
	"endpoints": "endpointslices.discovery.k8s.io",
	"eps":       "endpointslices.discovery.k8s.io",
}

// NewResolver builds a Resolver from discovery documents, as returned by
// restmapper.GetAPIGroupResources.
func NewResolver(groups []*restmapper.APIGroupResources) *Resolver {
	r := &Resolver{mapper: restmapper.NewDiscoveryRESTMapper(groups), short: map[string][]schema.GroupResource{}}
	for _, g := range groups {
		for _, resources := range g.VersionedResources {
			for _, res := range resources {
				if strings.Contains(res.Name, "/") {
					continue // a subresource
				}
				gr := schema.GroupResource{Group: g.Group.Name, Resource: res.Name}
				for _, s := range res.ShortNames {
					if !containsGR(r.short[s], gr) {
						r.short[s] = append(r.short[s], gr)
					}
				}
			}
		}
	}
	return r
}

func containsGR(list []schema.GroupResource, gr schema.GroupResource) bool {
	for _, x := range list {
		if x == gr {
			return true
		}
	}
	return false
}

// Resource resolves a resource argument: a plural, singular or short name,
// or the kind, optionally qualified as NAME.GROUP or NAME.VERSION.GROUP,
// case-insensitively.
func (r *Resolver) Resource(arg string) (*meta.RESTMapping, error) {
	name := strings.ToLower(strings.TrimSpace(arg))
	if name != "" {
		if m, err := r.resource(name); err == nil {
			return m, nil
		}
		if alias, ok := aliases[name]; ok {
			if m, err := r.resource(alias); err == nil {
				return m, nil
			}
		}
	}
	return nil, fmt.Errorf("the server doesn't have a resource type %q", arg)
}

func (r *Resolver) resource(name string) (*meta.RESTMapping, error) {
	full, gr := schema.ParseResourceArg(name)
	if full != nil {
		if m, err := r.mappingFor(*full); err == nil {
			return m, nil
		}
	}
	return r.mappingFor(r.expandShort(gr).WithVersion(""))
}

// expandShort replaces a short name with the resource it stands for, like
// kubectl's shortcut expander; a short name with a group must match it.
func (r *Resolver) expandShort(gr schema.GroupResource) schema.GroupResource {
	for _, full := range r.short[gr.Resource] {
		if gr.Group == "" || gr.Group == full.Group {
			return full
		}
	}
	return gr
}

func (r *Resolver) mappingFor(partial schema.GroupVersionResource) (*meta.RESTMapping, error) {
	gvr, err := r.mapper.ResourceFor(partial)
	if err != nil {
		return nil, err
	}
	gvk, err := r.mapper.KindFor(gvr)
	if err != nil {
		return nil, err
	}
	return r.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
}

// Kind resolves a manifest's apiVersion and kind. The error for a kind the
// server does not serve is meta's NoKindMatchError ("no matches for kind").
func (r *Resolver) Kind(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	return r.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
}

// kindString is how kubectl names a kind in messages: the lower-case kind,
// then ".group" outside the core group (service, ingress.networking.k8s.io).
func kindString(gvk schema.GroupVersionKind) string {
	if gvk.Group == "" {
		return strings.ToLower(gvk.Kind)
	}
	return strings.ToLower(gvk.Kind) + "." + gvk.Group
}

// namespaced reports whether a mapping's resource lives in namespaces.
func namespaced(m *meta.RESTMapping) bool {
	return m.Scope.Name() == meta.RESTScopeNameNamespace
}
