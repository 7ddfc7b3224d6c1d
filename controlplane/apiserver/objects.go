package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/switchyard-net/switchyard/controlplane/resources"
	"github.com/switchyard-net/switchyard/controlplane/store"
)

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", mediaJSON)
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// encodeStored is the etcd value of obj: JSON with apiVersion and kind and
// without resourceVersion (the etcd revision is the resourceVersion). A
// view's object is stored in the kind of the resource it is a view of.
func encodeStored(res resources.Resource, obj runtime.Object) ([]byte, error) {
	if v := res.StoredAs; v != nil {
		obj, res = v.ToStored(obj), *v.Of
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	rv := m.GetResourceVersion()
	m.SetResourceVersion("")
	defer m.SetResourceVersion(rv)
	obj.GetObjectKind().SetGroupVersionKind(res.GVK())
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", res.Kind, err)
	}
	return b, nil
}

// decodeStored turns a stored value into a typed object carrying its
// resourceVersion.
func decodeStored(res resources.Resource, kv store.KV) (runtime.Object, error) {
	obj := res.Storage().New()
	if err := json.Unmarshal(kv.Value, obj); err != nil {
		return nil, fmt.Errorf("decode stored %s %s: %w", res.Kind, kv.Key, err)
	}
	if v := res.StoredAs; v != nil {
		obj = v.FromStored(obj)
	}
	obj.GetObjectKind().SetGroupVersionKind(res.GVK())
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	m.SetResourceVersion(strconv.FormatInt(kv.Revision, 10))
	return obj, nil
}

// newList builds a typed list of items at revision rev.
func newList(res resources.Resource, items []runtime.Object, rev int64, cont string) (runtime.Object, error) {
	for _, it := range items {
		// Items in a list carry no apiVersion/kind, as in Kubernetes.
		it.GetObjectKind().SetGroupVersionKind(schemaEmpty)
	}
	list := res.NewList()
	if err := meta.SetList(list, items); err != nil {
		return nil, fmt.Errorf("build %s: %w", res.ListKind, err)
	}
	lm, err := meta.ListAccessor(list)
	if err != nil {
		return nil, err
	}
	lm.SetResourceVersion(strconv.FormatInt(rev, 10))
	lm.SetContinue(cont)
	list.GetObjectKind().SetGroupVersionKind(res.GVR.GroupVersion().WithKind(res.ListKind))
	return list, nil
}

func objectMeta(obj runtime.Object) metav1.Object {
	m, err := meta.Accessor(obj)
	if err != nil {
		panic(fmt.Sprintf("apiserver: %T has no object metadata", obj))
	}
	return m
}

// parseRV parses a resourceVersion; "" and "0" are 0.
func parseRV(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid resourceVersion %q", s)
	}
	return v, nil
}

func metaExtractList(list runtime.Object) ([]runtime.Object, error) {
	return meta.ExtractList(list)
}

type runtimeObject = runtime.Object

func resourceByKind(gvk schema.GroupVersionKind) (resources.Resource, bool) {
	return resources.ByKind(gvk)
}
