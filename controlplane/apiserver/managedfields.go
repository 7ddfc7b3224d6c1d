package apiserver

import (
	"bytes"
	"fmt"
	"net/http"
	"sync"
	"unicode"
	"unicode/utf8"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/switchyard-net/switchyard/controlplane/resources"
	"github.com/switchyard-net/switchyard/controlplane/validation"
)

// Field management (managedFields) is apimachinery's: one
// managedfields.FieldManager per kind and subresource, over a type
// converter built from the served OpenAPI models, records who set which
// field on every create, update and patch ("Update" entries) and merges
// server-side apply requests ("Apply" entries), detecting conflicts between
// managers. Nothing here merges objects by hand.

// fieldManagers builds the field managers lazily and keeps them; they are
// safe for concurrent use once built.
type fieldManagers struct {
	tc managedfields.TypeConverter
	mu sync.Mutex
	m  map[fieldManagerKey]*managedfields.FieldManager
}

type fieldManagerKey struct {
	gvk         schema.GroupVersionKind
	subresource string
}

func newFieldManagers(tc managedfields.TypeConverter) *fieldManagers {
	return &fieldManagers{tc: tc, m: map[fieldManagerKey]*managedfields.FieldManager{}}
}

// forResource returns the field manager of res's kind written through
// subresource ("" for the main resource, "status", or "scale" for the
// autoscaling/v1 Scale view).
func (f *fieldManagers) forResource(res resources.Resource, subresource string) (*managedfields.FieldManager, error) {
	gvk := res.GVK()
	if subresource == "scale" {
		gvk = scaleGVK
	}
	key := fieldManagerKey{gvk, subresource}
	f.mu.Lock()
	defer f.mu.Unlock()
	if fm, ok := f.m[key]; ok {
		return fm, nil
	}
	fm, err := managedfields.NewDefaultFieldManager(f.tc, scheme.Scheme, defaulter{}, scheme.Scheme,
		gvk, gvk.GroupVersion(), subresource, resetFields(res, gvk.GroupVersion(), subresource))
	if err != nil {
		return nil, fmt.Errorf("field manager for %s %s: %w", gvk, subresource, err)
	}
	f.m[key] = fm
	return fm, nil
}

// resetFields are the fields a write through subresource does not change
// (the server resets them), so no manager comes to own them by writing
// them there: the status on the main resource of kinds with /status, and
// the spec and labels (annotations too unless the kind lets its status
// writers set them) on /status. As the kinds' ResetFieldsStrategy in
// kube-apiserver.
func resetFields(res resources.Resource, gv schema.GroupVersion, subresource string) map[fieldpath.APIVersion]fieldpath.Filter {
	var set *fieldpath.Set
	switch {
	case subresource == "status":
		set = fieldpath.NewSet(fieldpath.MakePathOrDie("spec"), fieldpath.MakePathOrDie("metadata", "labels"))
		if !res.StatusAnnotations {
			set.Insert(fieldpath.MakePathOrDie("metadata", "annotations"))
		}
	case subresource == "" && res.Status:
		set = fieldpath.NewSet(fieldpath.MakePathOrDie("status"))
	case subresource == "scale":
		set = fieldpath.NewSet(fieldpath.MakePathOrDie("status"))
	default:
		return nil
	}
	return map[fieldpath.APIVersion]fieldpath.Filter{fieldpath.APIVersion(gv.String()): fieldpath.NewExcludeSetFilter(set)}
}

// defaulter applies the server's defaults to the result of an apply merge,
// as kube-apiserver's scheme defaulter does.
type defaulter struct{}

func (defaulter) Default(obj runtime.Object) { validation.Default(obj) }

// track records a create, update or non-apply patch by info.Manager in
// obj's managedFields, old being the stored object (an empty one on
// create). Requests whose manager is not set (apply, which records its own
// entry, and the server's internal writes) are not tracked. As
// kube-apiserver, a failure to track never fails the write: the stored
// managedFields are kept.
func (s *Server) track(info requestInfo, obj, old runtime.Object) runtime.Object {
	if info.Manager == "" {
		return obj
	}
	fm, err := s.fields.forResource(info.Resource, info.Subresource)
	if err != nil {
		s.log.Error("managedFields not tracked", "resource", info.Resource.GVR, "err", err)
		return obj
	}
	return fm.UpdateNoErrors(old, obj, info.Manager)
}

// unchanged says obj stores as the same bytes as old.
func (s *Server) unchanged(info requestInfo, obj, old runtime.Object) bool {
	a, err := encodeStored(info.Resource, obj)
	if err != nil {
		return false
	}
	b, err := encodeStored(info.Resource, old)
	return err == nil && bytes.Equal(a, b)
}

// fieldManagerOf is the manager of a write: the fieldManager parameter,
// else the User-Agent up to its first "/" (printable characters, at most
// 128 bytes), as kube-apiserver derives it. A bad fieldManager is a 422 on
// the request's options kind (CreateOptions, UpdateOptions, PatchOptions).
func fieldManagerOf(r *http.Request, optionsKind string) (string, error) {
	m := r.URL.Query().Get("fieldManager")
	if errs := metav1validation.ValidateFieldManager(m, field.NewPath("fieldManager")); len(errs) > 0 {
		return "", apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: optionsKind}, "", errs)
	}
	if m != "" {
		return m, nil
	}
	return prefixFromUserAgent(r.UserAgent()), nil
}

// fieldManagerMaxLength is kube-apiserver's limit on a manager's name.
const fieldManagerMaxLength = 128

func prefixFromUserAgent(ua string) string {
	var buf bytes.Buffer
	for _, r := range ua {
		if r == '/' {
			break
		}
		if !unicode.IsPrint(r) {
			continue
		}
		if buf.Len()+utf8.RuneLen(r) > fieldManagerMaxLength {
			break
		}
		buf.WriteRune(r)
	}
	return buf.String()
}

// scaleReplicasPaths maps the workload's replicas (spec.replicas in every
// served kind with /scale) to the Scale's spec.replicas, for
// apimachinery's ScaleHandler, which converts managedFields between them.
func scaleReplicasPaths(res resources.Resource) managedfields.ResourcePathMappings {
	return managedfields.ResourcePathMappings{
		res.GVR.GroupVersion().String(): fieldpath.MakePathOrDie("spec", "replicas"),
	}
}
