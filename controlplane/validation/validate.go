package validation

import (
	"fmt"
	"net/netip"
	"reflect"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Options carries the cluster configuration that some rules depend on.
type Options struct {
	// ServiceCIDRs are the ranges a requested spec.clusterIP must fall in.
	// Empty skips the check.
	ServiceCIDRs []netip.Prefix
	// NodePortMin and NodePortMax bound requested node ports (and health
	// check node ports), inclusive. Zero means the Kubernetes default
	// 30000-32767.
	NodePortMin, NodePortMax int32
}

const (
	defaultNodePortMin = 30000
	defaultNodePortMax = 32767
)

// nodePortRange returns the effective node-port range.
func (o Options) nodePortRange() (lo, hi int32) {
	lo, hi = o.NodePortMin, o.NodePortMax
	if lo == 0 {
		lo = defaultNodePortMin
	}
	if hi == 0 {
		hi = defaultNodePortMax
	}
	return lo, hi
}

// Validate validates obj, a pointer to a k8s.io/api type. old is nil on
// create; on update it is the stored object, used for the immutable-field
// rules. Field paths and error types follow Kubernetes. Types without
// specific rules get metadata validation only.
func Validate(obj, old runtime.Object, opts Options) field.ErrorList {
	if isNil(obj) {
		return field.ErrorList{field.InternalError(rootPath, fmt.Errorf("nil object"))}
	}
	if isNil(old) {
		old = nil
	} else if reflect.TypeOf(old) != reflect.TypeOf(obj) {
		return field.ErrorList{field.InternalError(rootPath, fmt.Errorf("old object is a %T, not a %T", old, obj))}
	}
	errs := validateCreate(obj, old, opts)
	if old != nil {
		errs = append(errs, validateUpdate(obj, old)...)
	}
	return errs
}

// validateCreate runs the rules that apply to every write of obj. old is
// passed to the few rules that exempt values already stored.
func validateCreate(obj, old runtime.Object, opts Options) field.ErrorList {
	if r := rulesOf(obj); r.write != nil {
		return r.write(obj, old, opts)
	}
	return validateGenericMeta(obj)
}

// validateUpdate runs the update-only rules: metadata immutability and the
// per-type rules on what may change.
func validateUpdate(obj, old runtime.Object) field.ErrorList {
	errs := validateMetaUpdateOf(obj, old)
	if r := rulesOf(obj); r.update != nil {
		errs = append(errs, r.update(obj, old)...)
	}
	return errs
}

// ValidateStatusUpdate validates a write to the status subresource: the
// metadata may not be renamed or moved, and the status values that other
// components read (pod and host IPs, load-balancer ingress points) must be
// well formed.
func ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	if isNil(obj) || isNil(old) {
		return field.ErrorList{field.InternalError(rootPath, fmt.Errorf("status update needs the object and the old object"))}
	}
	if reflect.TypeOf(old) != reflect.TypeOf(obj) {
		return field.ErrorList{field.InternalError(rootPath, fmt.Errorf("old object is a %T, not a %T", old, obj))}
	}
	errs := validateMetaUpdateOf(obj, old)
	if r := rulesOf(obj); r.status != nil {
		errs = append(errs, r.status(obj, old)...)
	}
	return errs
}

// validateMetaUpdateOf validates metadata changes between any two objects.
func validateMetaUpdateOf(obj, old runtime.Object) field.ErrorList {
	m, err := meta.Accessor(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	om, err := meta.Accessor(old)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	return validateMetaUpdate(m, om)
}

// isNil reports whether o is nil or a typed nil pointer.
func isNil(o runtime.Object) bool {
	if o == nil {
		return true
	}
	v := reflect.ValueOf(o)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
