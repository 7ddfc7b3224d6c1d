package resources

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The apiextensions.k8s.io/v1 row: CustomResourceDefinitions, listed
// read-only for the Gateway API kinds the server serves built in. A
// cluster gets those kinds from CRDs, so tools (the Gateway API
// conformance suite, which reads the bundle version and channel from
// their annotations; kubectl get crd) look for them there. The server
// computes them from this table; nothing is stored and none can be
// created.

// WatchOnlyVerbs are the verbs of a computed resource that also answers
// watches.
var WatchOnlyVerbs = metav1.Verbs{"get", "list", "watch"}

var customResourceDefinitions = Resource{
	GVR: gvr("apiextensions.k8s.io", "v1", "customresourcedefinitions"), Kind: "CustomResourceDefinition",
	ListKind: "CustomResourceDefinitionList", Singular: "customresourcedefinition",
	ShortNames: []string{"crd", "crds"}, Categories: []string{"api-extensions"}, Verbs: WatchOnlyVerbs,
}

// CRDs is the apiextensions.k8s.io resource.
var CRDs = customResourceDefinitions

// GatewayCRDVersions returns, for each Gateway API resource (one CRD
// each, in the table's order), its served versions, the stored one first.
func GatewayCRDVersions() [][]Resource {
	var out [][]Resource
	for _, r := range All {
		if !IsGatewayAPI(r) || r.StoredAs != nil {
			continue
		}
		versions := []Resource{r}
		for _, v := range All {
			if v.StoredAs != nil && v.GVR.GroupResource() == r.GVR.GroupResource() {
				versions = append(versions, v)
			}
		}
		out = append(out, versions)
	}
	return out
}
