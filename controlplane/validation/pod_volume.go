package validation

import (
	"fmt"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxVolumeFileMode is the largest file mode a volume item may ask for.
const maxVolumeFileMode int32 = 0o777

// fieldRef paths a downwardAPI volume file may show (labels['k'] and
// annotations['k'] are checked apart), as Kubernetes'
// validVolumeDownwardAPIFieldPathExpressions.
var supportedVolumeFieldPaths = []string{"metadata.annotations", "metadata.labels",
	"metadata.name", "metadata.namespace", "metadata.uid"}

var supportedEmptyDirMedia = []corev1.StorageMedium{corev1.StorageMediumDefault, corev1.StorageMediumMemory}

// validateVolumeContents checks the sources the node mounts itself:
// configMap, secret, emptyDir, downwardAPI and projected.
func validateVolumeContents(vs *corev1.VolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case vs.ConfigMap != nil:
		cp := p.Child("configMap")
		errs = append(errs, validateMode(vs.ConfigMap.DefaultMode, cp.Child("defaultMode"))...)
		errs = append(errs, validateKeyItems(vs.ConfigMap.Items, cp.Child("items"), map[string]bool{})...)
	case vs.Secret != nil:
		sp := p.Child("secret")
		errs = append(errs, validateMode(vs.Secret.DefaultMode, sp.Child("defaultMode"))...)
		errs = append(errs, validateKeyItems(vs.Secret.Items, sp.Child("items"), map[string]bool{})...)
	case vs.EmptyDir != nil:
		if m := vs.EmptyDir.Medium; !slices.Contains(supportedEmptyDirMedia, m) {
			errs = append(errs, field.NotSupported(p.Child("emptyDir", "medium"), m, []string{"", "Memory"}))
		}
	case vs.DownwardAPI != nil:
		dp := p.Child("downwardAPI")
		errs = append(errs, validateMode(vs.DownwardAPI.DefaultMode, dp.Child("defaultMode"))...)
		errs = append(errs, validateDownwardItems(vs.DownwardAPI.Items, dp.Child("items"), map[string]bool{})...)
	case vs.Projected != nil:
		errs = append(errs, validateProjected(vs.Projected, p.Child("projected"))...)
	}
	return errs
}

func validateProjected(pv *corev1.ProjectedVolumeSource, p *field.Path) field.ErrorList {
	errs := validateMode(pv.DefaultMode, p.Child("defaultMode"))
	paths := map[string]bool{} // one file namespace across all sources
	for i := range pv.Sources {
		src, sp := &pv.Sources[i], p.Child("sources").Index(i)
		set := setPointerFields(reflectValue(src))
		if len(set) != 1 {
			errs = append(errs, field.Forbidden(sp, "may not specify more than 1 volume type per source"))
			if len(set) == 0 {
				continue
			}
		}
		switch {
		case src.ConfigMap != nil:
			cp := sp.Child("configMap")
			errs = append(errs, validateRefName(src.ConfigMap.Name, cp.Child("name"))...)
			errs = append(errs, validateKeyItems(src.ConfigMap.Items, cp.Child("items"), paths)...)
		case src.Secret != nil:
			cp := sp.Child("secret")
			errs = append(errs, validateRefName(src.Secret.Name, cp.Child("name"))...)
			errs = append(errs, validateKeyItems(src.Secret.Items, cp.Child("items"), paths)...)
		case src.DownwardAPI != nil:
			errs = append(errs, validateDownwardItems(src.DownwardAPI.Items, sp.Child("downwardAPI", "items"), paths)...)
		case src.ServiceAccountToken != nil:
			tp := sp.Child("serviceAccountToken")
			tok := src.ServiceAccountToken
			errs = append(errs, validateItemPath(tok.Path, tp.Child("path"), paths)...)
			if e := tok.ExpirationSeconds; e != nil && *e < 600 {
				errs = append(errs, field.Invalid(tp.Child("expirationSeconds"), *e, "may not specify a duration less than 10 minutes"))
			}
		default:
			errs = append(errs, field.NotSupported(sp, set[0], []string{"configMap", "downwardAPI", "secret", "serviceAccountToken"}))
		}
	}
	return errs
}

func validateKeyItems(items []corev1.KeyToPath, p *field.Path, paths map[string]bool) field.ErrorList {
	var errs field.ErrorList
	for i, it := range items {
		ip := p.Index(i)
		if it.Key == "" {
			errs = append(errs, field.Required(ip.Child("key"), ""))
		} else {
			errs = append(errs, invalid(ip.Child("key"), it.Key, validation.IsConfigMapKey(it.Key))...)
		}
		errs = append(errs, validateItemPath(it.Path, ip.Child("path"), paths)...)
		errs = append(errs, validateMode(it.Mode, ip.Child("mode"))...)
	}
	return errs
}

func validateDownwardItems(items []corev1.DownwardAPIVolumeFile, p *field.Path, paths map[string]bool) field.ErrorList {
	var errs field.ErrorList
	for i := range items {
		it, ip := &items[i], p.Index(i)
		errs = append(errs, validateItemPath(it.Path, ip.Child("path"), paths)...)
		errs = append(errs, validateMode(it.Mode, ip.Child("mode"))...)
		switch {
		case it.FieldRef != nil && it.ResourceFieldRef != nil:
			errs = append(errs, field.Invalid(ip, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		case it.FieldRef != nil:
			errs = append(errs, validateFieldPath(it.FieldRef, supportedVolumeFieldPaths, ip.Child("fieldRef"))...)
		case it.ResourceFieldRef != nil:
			rp := ip.Child("resourceFieldRef")
			if it.ResourceFieldRef.ContainerName == "" {
				errs = append(errs, field.Required(rp.Child("containerName"), ""))
			}
			errs = append(errs, validateResourceFieldRef(it.ResourceFieldRef, rp)...)
		default:
			errs = append(errs, field.Required(ip, "one of fieldRef and resourceFieldRef is required"))
		}
	}
	return errs
}

// validateItemPath: a relative path without '..' elements, unique within
// the volume.
func validateItemPath(pth string, p *field.Path, paths map[string]bool) field.ErrorList {
	errs := validateLocalDescendingPath(pth, p)
	if pth == "" {
		return append(field.ErrorList{field.Required(p, "")}, errs...)
	}
	if paths[path.Clean(pth)] {
		errs = append(errs, field.Duplicate(p, pth))
	}
	paths[path.Clean(pth)] = true
	return errs
}

// validateLocalDescendingPath: not absolute, no '..' element.
func validateLocalDescendingPath(pth string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(pth) {
		errs = append(errs, field.Invalid(p, pth, "must be a relative path"))
	}
	for _, elem := range strings.Split(pth, "/") {
		if elem == ".." {
			errs = append(errs, field.Invalid(p, pth, "must not contain '..'"))
			break
		}
	}
	return errs
}

func validateMode(m *int32, p *field.Path) field.ErrorList {
	if m != nil && (*m < 0 || *m > maxVolumeFileMode) {
		return field.ErrorList{field.Invalid(p, *m, fmt.Sprintf("must be a number between 0 and 0%o (octal), both inclusive", maxVolumeFileMode))}
	}
	return nil
}
