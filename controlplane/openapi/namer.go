package openapi

import (
	"cmp"
	"reflect"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/util"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// extensionGVK marks a definition (a list of GVKs) or an operation (one GVK)
// with the kinds it is about; kubectl maps a GVK to its schema through it.
const extensionGVK = "x-kubernetes-group-version-kind"

// namer names definitions like kube-apiserver's DefinitionNamer: by the
// types' OpenAPI model names (io.k8s.api.core.v1.Service), and adds the GVK
// extension to every type the scheme registers as a kind of a served
// group-version. It is read-only after newNamer.
type namer struct {
	gvks map[string][]metav1.GroupVersionKind // by definition name
}

// newNamer indexes the kinds of the schemes that belong to one of served.
func newNamer(served []schema.GroupVersion, schemes ...*runtime.Scheme) *namer {
	n := &namer{gvks: map[string][]metav1.GroupVersionKind{}}
	for _, s := range schemes {
		for gvk, t := range s.AllKnownTypes() {
			if !slices.Contains(served, gvk.GroupVersion()) {
				continue
			}
			name := definitionName(util.GetCanonicalTypeName(reflect.New(t).Interface()))
			n.gvks[name] = append(n.gvks[name], metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind})
		}
	}
	for _, l := range n.gvks {
		slices.SortFunc(l, compareGVK)
	}
	return n
}

// name is common.Config's GetDefinitionName: the definition name of a type
// name from the generated code, with the GVK extension for kinds.
func (n *namer) name(typeName string) (string, spec.Extensions) {
	name := definitionName(typeName)
	gvks, ok := n.gvks[name]
	if !ok {
		return name, nil
	}
	return name, spec.Extensions{extensionGVK: gvks}
}

// definitionName turns a Go type path (k8s.io/api/core/v1.Service) into a
// definition name (io.k8s.api.core.v1.Service) by reversing the domain.
// Model names, already in that form, are returned unchanged.
func definitionName(typeName string) string {
	if !strings.Contains(typeName, "/") {
		return typeName
	}
	return util.ToRESTFriendlyName(typeName)
}

func compareGVK(a, b metav1.GroupVersionKind) int {
	return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Version, b.Version), cmp.Compare(a.Kind, b.Kind))
}
