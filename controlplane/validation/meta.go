package validation

import (
	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	rootPath = field.NewPath("")
	metaPath = field.NewPath("metadata")
)

// nameFunc checks a name (prefix: a generateName that gets a suffix).
type nameFunc = apivalidation.ValidateNameFunc

// Name rules per kind, as Kubernetes names them.
var (
	nameIsDNSSubdomain nameFunc = apivalidation.NameIsDNSSubdomain
	nameIsDNSLabel     nameFunc = apivalidation.NameIsDNSLabel
	// serviceName: DNS-1123 label (Kubernetes' relaxed service-name rule).
	serviceName nameFunc = apivalidation.NameIsDNSLabel
)

// scope says where an object lives, for the metadata.namespace rule.
type scope int

const (
	namespaced scope = iota // namespace required
	cluster                 // namespace forbidden
	anyScope                // unknown kind: namespace checked only if set
)

// validateMeta validates the metadata of an object on every write. A
// missing name is allowed when generateName is set: the server generates it.
func validateMeta(m metav1.Object, sc scope, nameFn nameFunc) field.ErrorList {
	var errs field.ErrorList
	if gn := m.GetGenerateName(); gn != "" {
		for _, msg := range nameFn(gn, true) {
			errs = append(errs, field.Invalid(metaPath.Child("generateName"), gn, msg))
		}
	}
	switch name := m.GetName(); {
	case name != "":
		for _, msg := range nameFn(name, false) {
			errs = append(errs, field.Invalid(metaPath.Child("name"), name, msg))
		}
	case m.GetGenerateName() == "":
		errs = append(errs, field.Required(metaPath.Child("name"), "name or generateName is required"))
	}
	errs = append(errs, validateNamespaceField(m.GetNamespace(), sc)...)
	errs = append(errs, apivalidation.ValidateNonnegativeField(m.GetGeneration(), metaPath.Child("generation"))...)
	errs = append(errs, metav1validation.ValidateLabels(m.GetLabels(), metaPath.Child("labels"))...)
	errs = append(errs, apivalidation.ValidateAnnotations(m.GetAnnotations(), metaPath.Child("annotations"))...)
	errs = append(errs, apivalidation.ValidateOwnerReferences(m.GetOwnerReferences(), metaPath.Child("ownerReferences"))...)
	errs = append(errs, apivalidation.ValidateFinalizers(m.GetFinalizers(), metaPath.Child("finalizers"))...)
	return errs
}

func validateNamespaceField(ns string, sc scope) field.ErrorList {
	p := metaPath.Child("namespace")
	switch {
	case sc == namespaced && ns == "":
		return field.ErrorList{field.Required(p, "")}
	case sc == cluster && ns != "":
		return field.ErrorList{field.Forbidden(p, "not allowed on this type")}
	}
	var errs field.ErrorList
	if ns != "" {
		for _, msg := range apivalidation.ValidateNamespaceName(ns, false) {
			errs = append(errs, field.Invalid(p, ns, msg))
		}
	}
	return errs
}

// validateGenericMeta validates the metadata of a kind without own rules.
func validateGenericMeta(obj runtime.Object) field.ErrorList {
	m, err := meta.Accessor(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(metaPath, err)}
	}
	return validateMeta(m, anyScope, nameIsDNSSubdomain)
}

// validateMetaUpdate validates what may change in metadata on update. The
// server owns uid and creationTimestamp; they are compared only when the
// update carries them.
func validateMetaUpdate(m, old metav1.Object) field.ErrorList {
	var errs field.ErrorList
	if old.GetDeletionTimestamp() != nil {
		errs = append(errs, apivalidation.ValidateNoNewFinalizers(m.GetFinalizers(), old.GetFinalizers(), metaPath.Child("finalizers"))...)
	}
	errs = append(errs, immutable(m.GetName(), old.GetName(), metaPath.Child("name"))...)
	errs = append(errs, immutable(m.GetNamespace(), old.GetNamespace(), metaPath.Child("namespace"))...)
	if m.GetUID() != "" && old.GetUID() != "" {
		errs = append(errs, immutable(m.GetUID(), old.GetUID(), metaPath.Child("uid"))...)
	}
	if ct, oct := m.GetCreationTimestamp(), old.GetCreationTimestamp(); !ct.IsZero() && !oct.IsZero() {
		errs = append(errs, immutable(ct, oct, metaPath.Child("creationTimestamp"))...)
	}
	return errs
}

// immutable reports a change of a field that may not change, with the
// Kubernetes wording.
func immutable(v, old any, p *field.Path) field.ErrorList {
	return apivalidation.ValidateImmutableField(v, old, p)
}
