package apiserver

import (
	"net/http"
	"runtime"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"

	"github.com/switchyard-net/switchyard/controlplane/resources"
)

// ServerVersion is what /version reports. The minor version decides which
// bundled kubectl the Debian kubectl dispatcher runs (see shared KUBECTL.md).
var serverVersion = version.Info{
	Major:      "1",
	Minor:      "32",
	GitVersion: "v1.32.0-switchyard",
	Platform:   runtime.GOOS + "/" + runtime.GOARCH,
	GoVersion:  runtime.Version(),
	Compiler:   runtime.Compiler,
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, serverVersion)
}

// discoveryAPI answers /api with the legacy APIVersions document. Clients
// asking for aggregated discovery fall back to the legacy documents when the
// Content-Type is plain JSON.
func (s *Server) discoveryAPI(w http.ResponseWriter, r *http.Request) {
	if s.aggregatedDiscovery(w, r, true) {
		return
	}
	writeJSON(w, http.StatusOK, &metav1.APIVersions{
		TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
		Versions: []string{"v1"},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{
			{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host},
		},
	})
}

func (s *Server) discoveryAPIs(w http.ResponseWriter, r *http.Request) {
	if s.aggregatedDiscovery(w, r, false) {
		return
	}
	list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	for _, gv := range resources.DiscoverableGroupVersions() {
		if gv.Group == "" {
			continue
		}
		list.Groups = append(list.Groups, apiGroup(gv))
	}
	writeJSON(w, http.StatusOK, list)
}

func apiGroup(gv schema.GroupVersion) metav1.APIGroup {
	v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
	return metav1.APIGroup{
		TypeMeta:         metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
		Name:             gv.Group,
		Versions:         []metav1.GroupVersionForDiscovery{v},
		PreferredVersion: v,
	}
}

// groupDiscovery answers /api/v1, /apis/GROUP and /apis/GROUP/VERSION.
// handled is false for paths that are not discovery documents.
func (s *Server) groupDiscovery(w http.ResponseWriter, r *http.Request) (handled bool) {
	segs := splitPath(r.URL.Path)
	switch {
	case len(segs) == 2 && segs[0] == "api":
		return s.writeResourceList(w, schema.GroupVersion{Version: segs[1]})
	case len(segs) == 3 && segs[0] == "apis":
		return s.writeResourceList(w, schema.GroupVersion{Group: segs[1], Version: segs[2]})
	case len(segs) == 2 && segs[0] == "apis":
		for _, gv := range resources.DiscoverableGroupVersions() {
			if gv.Group == segs[1] {
				g := apiGroup(gv)
				writeJSON(w, http.StatusOK, &g)
				return true
			}
		}
	}
	return false
}

func (s *Server) writeResourceList(w http.ResponseWriter, gv schema.GroupVersion) bool {
	res := resources.DiscoverableIn(gv)
	if len(res) == 0 {
		return false
	}
	list := &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: gv.String(),
	}
	for _, r := range res {
		list.APIResources = append(list.APIResources, resourceEntries(r)...)
	}
	writeJSON(w, http.StatusOK, list)
	return true
}

var allVerbs = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// verbs are the verbs discovery announces for r.
func verbs(r resources.Resource) metav1.Verbs {
	if r.Verbs != nil {
		return r.Verbs
	}
	return allVerbs
}

// subresource is a subresource as discovery announces it.
type subresource struct {
	name string
	// kind answers requests; an empty Group and Version: the resource's.
	kind  schema.GroupVersionKind
	verbs metav1.Verbs
}

// subresources lists r's subresources, for the legacy and the aggregated
// documents alike.
func subresources(r resources.Resource) []subresource {
	var out []subresource
	readWrite := metav1.Verbs{"get", "patch", "update"}
	if r.Status {
		out = append(out, subresource{name: "status", kind: schema.GroupVersionKind{Kind: r.Kind}, verbs: readWrite})
	}
	if r.Scale != nil {
		out = append(out, subresource{name: "scale", kind: schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}, verbs: readWrite})
	}
	if r.GVR == corev1.SchemeGroupVersion.WithResource("serviceaccounts") {
		out = append(out, subresource{name: "token", kind: schema.GroupVersionKind{Group: "authentication.k8s.io", Version: "v1", Kind: "TokenRequest"}, verbs: metav1.Verbs{"create"}})
	}
	if r.Binding {
		out = append(out, subresource{name: "binding", kind: schema.GroupVersionKind{Kind: "Binding"}, verbs: metav1.Verbs{"create"}})
	}
	return out
}

// resourceEntries are r's rows in a legacy APIResourceList: the resource,
// then one row per subresource.
func resourceEntries(r resources.Resource) []metav1.APIResource {
	main := metav1.APIResource{
		Name:         r.GVR.Resource,
		SingularName: r.Singular,
		Namespaced:   r.Namespaced,
		Kind:         r.Kind,
		Verbs:        verbs(r),
		ShortNames:   slices.Clone(r.ShortNames),
		Categories:   slices.Clone(r.Categories),
	}
	out := []metav1.APIResource{main}
	for _, sub := range subresources(r) {
		out = append(out, metav1.APIResource{
			Name: r.GVR.Resource + "/" + sub.name, Namespaced: r.Namespaced,
			Group: sub.kind.Group, Version: sub.kind.Version, Kind: sub.kind.Kind, Verbs: sub.verbs,
		})
	}
	return out
}
