package validation

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// fieldRef paths a container may read through the downward API
// (labels['k'] and annotations['k'] are checked apart).
var supportedEnvFieldPaths = []string{"metadata.annotations", "metadata.labels", "metadata.name",
	"metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
	"status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"}

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
		return validateFieldRef(vf.FieldRef, p.Child("fieldRef"))
	case vf.ConfigMapKeyRef != nil:
		return validateKeyRef(vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key, p.Child("configMapKeyRef"))
	case vf.SecretKeyRef != nil:
		return validateKeyRef(vf.SecretKeyRef.Name, vf.SecretKeyRef.Key, p.Child("secretKeyRef"))
	case vf.ResourceFieldRef != nil && vf.ResourceFieldRef.Resource == "":
		return field.ErrorList{field.Required(p.Child("resourceFieldRef", "resource"), "")}
	}
	return nil
}

func validateFieldRef(fr *corev1.ObjectFieldSelector, p *field.Path) field.ErrorList {
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
	for _, ok := range supportedEnvFieldPaths {
		if fr.FieldPath == ok {
			return errs
		}
	}
	return append(errs, field.NotSupported(fp, fr.FieldPath, supportedEnvFieldPaths))
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
