package cli

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/restmapper"

	"github.com/switchyard-net/switchyard/controlplane/resources"
)

// servedGroups is the discovery of the switchyard API server, built from
// the same table the server uses.
func servedGroups() []*restmapper.APIGroupResources {
	var groups []*restmapper.APIGroupResources
	for _, gv := range resources.GroupVersions() {
		g := &restmapper.APIGroupResources{
			Group: metav1.APIGroup{
				Name:             gv.Group,
				Versions:         []metav1.GroupVersionForDiscovery{{GroupVersion: gv.String(), Version: gv.Version}},
				PreferredVersion: metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version},
			},
			VersionedResources: map[string][]metav1.APIResource{},
		}
		for _, r := range resources.ForGroupVersion(gv) {
			g.VersionedResources[gv.Version] = append(g.VersionedResources[gv.Version], metav1.APIResource{
				Name: r.GVR.Resource, SingularName: r.Singular, Namespaced: r.Namespaced, Kind: r.Kind,
				ShortNames: r.ShortNames, Verbs: metav1.Verbs{"create", "delete", "get", "list", "patch", "update", "watch"},
			})
			if r.Status {
				g.VersionedResources[gv.Version] = append(g.VersionedResources[gv.Version], metav1.APIResource{
					Name: r.GVR.Resource + "/status", Namespaced: r.Namespaced, Kind: r.Kind,
				})
			}
		}
		groups = append(groups, g)
	}
	return groups
}

func TestResolverResource(t *testing.T) {
	r := NewResolver(servedGroups())
	tests := []struct {
		arg        string
		want       string // resource.group
		namespaced bool
	}{
		{"svc", "services", true},
		{"service", "services", true},
		{"services", "services", true},
		{"Service", "services", true},
		{"SVC", "services", true},
		{"po", "pods", true},
		{"pod", "pods", true},
		{"no", "nodes", false},
		{"nodes", "nodes", false},
		{"ns", "namespaces", false},
		{"namespace", "namespaces", false},
		{"cm", "configmaps", true},
		{"ing", "ingresses.networking.k8s.io", true},
		{"ingress", "ingresses.networking.k8s.io", true},
		{"ingresses.networking.k8s.io", "ingresses.networking.k8s.io", true},
		{"ingress.networking.k8s.io", "ingresses.networking.k8s.io", true},
		{"ingresses.v1.networking.k8s.io", "ingresses.networking.k8s.io", true},
		{"ing.networking.k8s.io", "ingresses.networking.k8s.io", true},
		{"ingressclass", "ingressclasses.networking.k8s.io", false},
		{"IngressClass", "ingressclasses.networking.k8s.io", false},
		{"ep", "endpoints", true},
		{"eps", "endpointslices.discovery.k8s.io", true},
		{"endpoints", "endpoints", true},
		{"sa", "serviceaccounts", true},
		{"endpointslice", "endpointslices.discovery.k8s.io", true},
		{"EndpointSlice", "endpointslices.discovery.k8s.io", true},
		{"endpointslices.discovery.k8s.io", "endpointslices.discovery.k8s.io", true},
		{"leases", "leases.coordination.k8s.io", true},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			m, err := r.Resource(tt.arg)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Resource.GroupResource().String(); got != tt.want {
				t.Errorf("resource %q, want %q", got, tt.want)
			}
			if namespaced(m) != tt.namespaced {
				t.Errorf("namespaced %v, want %v", namespaced(m), tt.namespaced)
			}
		})
	}
	for _, bad := range []string{"", "cronjobs", "svc.batch", "ingresses.apps", "foo/bar"} {
		if _, err := r.Resource(bad); err == nil || !strings.Contains(err.Error(), "the server doesn't have a resource type") {
			t.Errorf("Resource(%q): error %v", bad, err)
		}
	}
}

// A server that serves the legacy Endpoints keeps `ep` for them, like
// kubectl against a real cluster.
func TestResolverPrefersServedEndpoints(t *testing.T) {
	groups := servedGroups()
	groups[0].VersionedResources["v1"] = append(groups[0].VersionedResources["v1"],
		metav1.APIResource{Name: "endpoints", SingularName: "endpoints", Namespaced: true, Kind: "Endpoints", ShortNames: []string{"ep"}})
	r := NewResolver(groups)
	for _, arg := range []string{"ep", "endpoints"} {
		m, err := r.Resource(arg)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Resource.GroupResource().String(); got != "endpoints" {
			t.Errorf("%s → %s, want endpoints", arg, got)
		}
	}
}

func TestResolverKind(t *testing.T) {
	r := NewResolver(servedGroups())
	m, err := r.Kind(schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Resource.Resource != "ingresses" || !namespaced(m) {
		t.Errorf("mapping %+v", m)
	}
	if got := kindString(m.GroupVersionKind); got != "ingress.networking.k8s.io" {
		t.Errorf("kindString %q", got)
	}
	_, err = r.Kind(schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "CronJob"})
	if err == nil || !strings.Contains(err.Error(), `no matches for kind "CronJob" in version "batch/v1"`) {
		t.Errorf("unknown kind: error %v", err)
	}
}
