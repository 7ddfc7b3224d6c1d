package validation

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// fieldRef paths a container may read through the downward API
// (labels['k'] and annotations['k'] are checked apart).
var supportedEnvFieldPaths = []string{"metadata.name", "metadata.namespace", "metadata.uid",
	"spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"}

// Resources a resourceFieldRef may name (hugepages-<size> are checked
// apart), as Kubernetes' validContainerResourceFieldPathExpressions.
var supportedResourceFields = []string{"limits.cpu", "limits.ephemeral-storage", "limits.memory",
	"requests.cpu", "requests.ephemeral-storage", "requests.memory"}

// Divisors a resourceFieldRef may use, by resource.
var (
	cpuDivisors    = []string{"1m", "1"}
	memoryDivisors = []string{"1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"}
)

const envSourceMsg = "may not have more than one field specified at a time"

func validateEnv(vars []corev1.EnvVar, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ev := range vars {
		idx := p.Index(i)
		if ev.Name == "" {
			errs = append(errs, field.Required(idx.Child("name"), ""))
		} else {
			errs = append(errs, invalid(idx.Child("name"), ev.Name, validation.IsRelaxedEnvVarName(ev.Name))...)
		}
		if ev.ValueFrom != nil {
			errs = append(errs, validateEnvVarSource(ev, idx.Child("valueFrom"))...)
		}
	}
	return errs
}

func validateEnvVarSource(ev corev1.EnvVar, p *field.Path) field.ErrorList {
	vf := ev.ValueFrom
	set := setPointerFields(reflectValue(vf))
	switch {
	case len(set) == 0:
		return field.ErrorList{field.Invalid(p, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`")}
	case len(set) > 1:
		return field.ErrorList{field.Invalid(p, "", envSourceMsg)}
	case ev.Value != "":
		return field.ErrorList{field.Invalid(p, "", "may not be specified when `value` is not empty")}
	}
	switch {
	case vf.FieldRef != nil:
		return validateFieldPath(vf.FieldRef, supportedEnvFieldPaths, p.Child("fieldRef"))
	case vf.ConfigMapKeyRef != nil:
		return validateKeyRef(vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key, p.Child("configMapKeyRef"))
	case vf.SecretKeyRef != nil:
		return validateKeyRef(vf.SecretKeyRef.Name, vf.SecretKeyRef.Key, p.Child("secretKeyRef"))
	case vf.ResourceFieldRef != nil:
		return validateResourceFieldRef(vf.ResourceFieldRef, p.Child("resourceFieldRef"))
	}
	return nil
}

// validateResourceFieldRef checks the resource name and that the divisor
// is one Kubernetes allows for it.
func validateResourceFieldRef(rf *corev1.ResourceFieldSelector, p *field.Path) field.ErrorList {
	rp := p.Child("resource")
	if rf.Resource == "" {
		return field.ErrorList{field.Required(rp, "")}
	}
	_, name, _ := strings.Cut(rf.Resource, ".")
	huge := strings.HasPrefix(name, corev1.ResourceHugePagesPrefix) &&
		(strings.HasPrefix(rf.Resource, "limits.") || strings.HasPrefix(rf.Resource, "requests."))
	if !huge && !slices.Contains(supportedResourceFields, rf.Resource) {
		return field.ErrorList{field.NotSupported(rp, rf.Resource, supportedResourceFields)}
	}
	if rf.Divisor.IsZero() {
		return nil // defaults to 1
	}
	allowed, what := memoryDivisors, "1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei"
	if name == "cpu" {
		allowed, what = cpuDivisors, "1m and 1"
	}
	for _, d := range allowed {
		if q := resource.MustParse(d); q.Cmp(rf.Divisor) == 0 {
			return nil
		}
	}
	return field.ErrorList{field.Invalid(p.Child("divisor"), rf.Divisor.String(),
		fmt.Sprintf("only divisor's values %s are supported with the %s resource", what, name))}
}

// validateFieldPath checks a downward API field against the paths
// supported where it is used (env or volume files).
func validateFieldPath(fr *corev1.ObjectFieldSelector, supported []string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if fr.APIVersion == "" {
		errs = append(errs, field.Required(p.Child("apiVersion"), ""))
	}
	fp := p.Child("fieldPath")
	if fr.FieldPath == "" {
		return append(errs, field.Required(fp, ""))
	}
	for _, prefix := range []string{"metadata.labels['", "metadata.annotations['"} {
		if key, ok := strings.CutPrefix(fr.FieldPath, prefix); ok && strings.HasSuffix(key, "']") {
			return append(errs, validateQualifiedName(strings.TrimSuffix(key, "']"), fp)...)
		}
	}
	if slices.Contains(supported, fr.FieldPath) {
		return errs
	}
	return append(errs, field.NotSupported(fp, fr.FieldPath, supported))
}

func validateKeyRef(name, key string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		errs = append(errs, validateDNSSubdomain(name, p.Child("name"))...)
	}
	if key == "" {
		return append(errs, field.Required(p.Child("key"), ""))
	}
	return append(errs, invalid(p.Child("key"), key, validation.IsConfigMapKey(key))...)
}

func validateEnvFrom(sources []corev1.EnvFromSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, s := range sources {
		idx := p.Index(i)
		if s.Prefix != "" {
			errs = append(errs, invalid(idx.Child("prefix"), s.Prefix, validation.IsRelaxedEnvVarName(s.Prefix))...)
		}
		switch {
		case s.ConfigMapRef != nil && s.SecretRef != nil:
			errs = append(errs, field.Invalid(idx, "", envSourceMsg))
		case s.ConfigMapRef != nil:
			errs = append(errs, validateRefName(s.ConfigMapRef.Name, idx.Child("configMapRef", "name"))...)
		case s.SecretRef != nil:
			errs = append(errs, validateRefName(s.SecretRef.Name, idx.Child("secretRef", "name"))...)
		default:
			errs = append(errs, field.Invalid(idx, "", "must specify one of: `configMapRef` or `secretRef`"))
		}
	}
	return errs
}

func validateRefName(name string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	return validateDNSSubdomain(name, p)
}
