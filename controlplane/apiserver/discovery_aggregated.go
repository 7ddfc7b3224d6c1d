package apiserver

import (
	"encoding/json"
	"mime"
	"net/http"
	"slices"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/switchyard-net/switchyard/controlplane/resources"
)

// Aggregated discovery (KEP-3352): /api and /apis answer, when the client
// asks for it, one APIGroupDiscoveryList holding every group, version and
// resource, so clients such as kubectl need two requests instead of one
// per group-version. The document is built from the same rows and
// subresources as the legacy documents (discovery.go).

const discoveryGroup = "apidiscovery.k8s.io"

// aggregatedVersion returns the version of the aggregated discovery
// document the Accept header asks for before any plain JSON ("v2" or
// "v2beta1", whose JSON is the same), or "" for the legacy documents.
// Protobuf forms are skipped: kubectl lists the JSON forms after them.
func aggregatedVersion(accept string) string {
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || mt != mediaJSON {
			continue
		}
		if params["g"] == "" && params["as"] == "" {
			return "" // plain JSON preferred: the legacy documents
		}
		if params["g"] == discoveryGroup && params["as"] == "APIGroupDiscoveryList" &&
			(params["v"] == "v2" || params["v"] == "v2beta1") {
			return params["v"]
		}
	}
	return ""
}

// aggregatedDiscovery answers /api (core) or /apis (the named groups) with
// the aggregated document when the request asks for it, and reports
// whether it did.
func (s *Server) aggregatedDiscovery(w http.ResponseWriter, r *http.Request, core bool) bool {
	v := aggregatedVersion(r.Header.Get("Accept"))
	if v == "" {
		return false
	}
	list := aggregatedList(core)
	list.APIVersion = discoveryGroup + "/" + v
	w.Header().Set("Content-Type", mediaJSON+";g="+discoveryGroup+";v="+v+";as=APIGroupDiscoveryList")
	w.Header().Set("Vary", "Accept")
	w.WriteHeader(http.StatusOK)
	if err := json.NewEncoder(w).Encode(list); err != nil {
		s.log.Debug("write aggregated discovery", "err", err)
	}
	return true
}

// aggregatedList is the document of the core group (core) or of the
// named groups, versions in the order the rows list them.
func aggregatedList(core bool) *apidiscoveryv2.APIGroupDiscoveryList {
	list := &apidiscoveryv2.APIGroupDiscoveryList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList"}}
	for _, gv := range resources.DiscoverableGroupVersions() {
		if (gv.Group == "") != core {
			continue
		}
		i := slices.IndexFunc(list.Items, func(g apidiscoveryv2.APIGroupDiscovery) bool { return g.Name == gv.Group })
		if i < 0 {
			list.Items = append(list.Items, apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: gv.Group}})
			i = len(list.Items) - 1
		}
		list.Items[i].Versions = append(list.Items[i].Versions, versionDiscovery(gv))
	}
	return list
}

func versionDiscovery(gv schema.GroupVersion) apidiscoveryv2.APIVersionDiscovery {
	v := apidiscoveryv2.APIVersionDiscovery{Version: gv.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
	for _, r := range resources.DiscoverableIn(gv) {
		v.Resources = append(v.Resources, resourceDiscovery(r))
	}
	return v
}

func resourceDiscovery(r resources.Resource) apidiscoveryv2.APIResourceDiscovery {
	scope := apidiscoveryv2.ScopeCluster
	if r.Namespaced {
		scope = apidiscoveryv2.ScopeNamespace
	}
	gvk := r.GVK()
	d := apidiscoveryv2.APIResourceDiscovery{
		Resource:         r.GVR.Resource,
		ResponseKind:     &metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
		Scope:            scope,
		SingularResource: r.Singular,
		Verbs:            verbs(r),
		ShortNames:       slices.Clone(r.ShortNames),
		Categories:       slices.Clone(r.Categories),
	}
	for _, sub := range subresources(r) {
		k := sub.kind
		if k.Group == "" && k.Version == "" {
			k.Group, k.Version = gvk.Group, gvk.Version
		}
		d.Subresources = append(d.Subresources, apidiscoveryv2.APISubresourceDiscovery{
			Subresource:  sub.name,
			ResponseKind: &metav1.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind},
			Verbs:        sub.verbs,
		})
	}
	return d
}
