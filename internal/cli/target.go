package cli

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/switchyard-net/switchyard/internal/cli/manifest"
)

// DefaultNamespace is where namespaced objects go when neither the
// manifest nor -n names a namespace.
const DefaultNamespace = "default"

// target is one object a command acts on.
type target struct {
	mapping   *meta.RESTMapping
	namespace string // empty for cluster-scoped resources
	name      string
	source    string                     // manifest file, empty for command-line names
	obj       *unstructured.Unstructured // the manifest's object, nil for command-line names
}

// display names the target like kubectl's -o name: service/web.
func (t target) display() string {
	return kindString(t.mapping.GroupVersionKind) + "/" + t.name
}

func (t target) client(d dynamic.Interface) dynamic.ResourceInterface {
	ri := d.Resource(t.mapping.Resource)
	if namespaced(t.mapping) {
		return ri.Namespace(t.namespace)
	}
	return ri
}

// manifestTarget resolves a manifest's object and settles its namespace:
// the manifest's, else flagNamespace, else "default" for namespaced kinds
// (a manifest namespace that differs from a given flagNamespace is an
// error, as in kubectl); none for cluster-scoped ones. It updates the
// object's metadata.namespace to match.
func manifestTarget(r *Resolver, it manifest.Item, flagNamespace string) (target, error) {
	obj := it.Object
	m, err := r.Kind(obj.GroupVersionKind())
	if err != nil {
		return target{}, fmt.Errorf("resource mapping not found for name: %q namespace: %q from %q: %w",
			obj.GetName(), obj.GetNamespace(), it.Source, err)
	}
	t := target{mapping: m, name: obj.GetName(), source: it.Source, obj: obj}
	if t.name == "" {
		return target{}, fmt.Errorf("%s from %q: resource name may not be empty (generateName is not supported)",
			kindString(m.GroupVersionKind), it.Source)
	}
	if !namespaced(m) {
		obj.SetNamespace("")
		return t, nil
	}
	if t.namespace, err = objectNamespace(obj.GetNamespace(), flagNamespace); err != nil {
		return target{}, fmt.Errorf("%s from %q: %w", t.display(), it.Source, err)
	}
	obj.SetNamespace(t.namespace)
	return t, nil
}

// objectNamespace picks a namespaced object's namespace.
func objectNamespace(manifestNS, flagNS string) (string, error) {
	switch {
	case manifestNS != "" && flagNS != "" && manifestNS != flagNS:
		return "", fmt.Errorf("the namespace from the provided object %q does not match the namespace %q. You must pass '--namespace=%s' to perform this operation", manifestNS, flagNS, manifestNS)
	case manifestNS != "":
		return manifestNS, nil
	case flagNS != "":
		return flagNS, nil
	}
	return DefaultNamespace, nil
}
