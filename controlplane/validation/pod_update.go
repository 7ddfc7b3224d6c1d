package validation

import (
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// updatablePodSpecFields names, in Kubernetes' words, what a pod update
// may change.
var updatablePodSpecFields = []string{
	"`spec.containers[*].image`",
	"`spec.initContainers[*].image`",
	"`spec.activeDeadlineSeconds`",
	"`spec.tolerations` (only additions to existing tolerations)",
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
}

// validatePodUpdate checks that a pod update changes only images, the
// active deadline (set or lowered), tolerations (added), and scheduling
// gates (removed). Anything else is a Forbidden error on spec, with a diff.
func validatePodUpdate(pod, old *corev1.Pod) field.ErrorList {
	for _, c := range []struct {
		cs, old []corev1.Container
		name    string
	}{{pod.Spec.Containers, old.Spec.Containers, "containers"}, {pod.Spec.InitContainers, old.Spec.InitContainers, "initContainers"}} {
		if len(c.cs) != len(c.old) {
			return field.ErrorList{field.Forbidden(specPath.Child(c.name), "pod updates may not add or remove containers")}
		}
	}
	errs := validateImageUpdates(pod.Spec.Containers, specPath.Child("containers"))
	errs = append(errs, validateImageUpdates(pod.Spec.InitContainers, specPath.Child("initContainers"))...)
	if e := validateActiveDeadlineUpdate(pod.Spec.ActiveDeadlineSeconds, old.Spec.ActiveDeadlineSeconds); len(e) > 0 {
		return append(errs, e...)
	}
	errs = append(errs, validateOnlyAddedTolerations(pod.Spec.Tolerations, old.Spec.Tolerations, specPath.Child("tolerations"))...)
	errs = append(errs, validateOnlyRemovedGates(pod.Spec.SchedulingGates, old.Spec.SchedulingGates, specPath.Child("schedulingGates"))...)
	if apiequality.Semantic.DeepEqual(pod.Spec, old.Spec) {
		return errs
	}
	munged := mungePodSpec(&pod.Spec, &old.Spec)
	if !apiequality.Semantic.DeepEqual(*munged, old.Spec) {
		errs = append(errs, field.Forbidden(specPath, fmt.Sprintf("pod updates may not change fields other than %s\n%v",
			strings.Join(updatablePodSpecFields, ","), specDiff(old.Spec, *munged))))
	}
	return errs
}

func validateImageUpdates(cs []corev1.Container, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, c := range cs {
		// An empty image is already reported by the create rules.
		if strings.TrimSpace(c.Image) != c.Image {
			errs = append(errs, field.Invalid(p.Index(i).Child("image"), c.Image, "must not have leading or trailing whitespace"))
		}
	}
	return errs
}

// validateActiveDeadlineUpdate: the deadline may be set, or lowered, but
// not raised or removed.
func validateActiveDeadlineUpdate(ads, old *int64) field.ErrorList {
	p := specPath.Child("activeDeadlineSeconds")
	switch {
	case ads == nil && old != nil:
		return field.ErrorList{field.Invalid(p, ads, "must not update from a positive integer to nil value")}
	case ads == nil:
		return nil
	case *ads < 0 || *ads > math.MaxInt32:
		return field.ErrorList{field.Invalid(p, *ads, validation.InclusiveRangeError(0, math.MaxInt32))}
	case old != nil && *old < *ads:
		return field.ErrorList{field.Invalid(p, *ads, "must be less than or equal to previous value")}
	}
	return nil
}

// validateOnlyAddedTolerations: every old toleration is still there, with
// at most its tolerationSeconds changed.
func validateOnlyAddedTolerations(ts, old []corev1.Toleration, p *field.Path) field.ErrorList {
	for _, o := range old {
		found := false
		for _, t := range ts {
			o.TolerationSeconds = t.TolerationSeconds
			if reflect.DeepEqual(o, t) {
				found = true
				break
			}
		}
		if !found {
			return field.ErrorList{field.Forbidden(p, "existing toleration can not be modified except its tolerationSeconds")}
		}
	}
	return nil
}

func validateOnlyRemovedGates(gates, old []corev1.PodSchedulingGate, p *field.Path) field.ErrorList {
	have := map[string]bool{}
	for _, g := range old {
		have[g.Name] = true
	}
	for _, g := range gates {
		if !have[g.Name] {
			return field.ErrorList{field.Forbidden(p, fmt.Sprintf("only deletion is allowed, but found new scheduling gate '%s'", g.Name))}
		}
	}
	return nil
}

// mungePodSpec returns a copy of spec with the fields an update may change
// reset to their old values.
func mungePodSpec(spec, old *corev1.PodSpec) *corev1.PodSpec {
	m := spec.DeepCopy()
	for i := range m.Containers {
		m.Containers[i].Image = old.Containers[i].Image
	}
	for i := range m.InitContainers {
		m.InitContainers[i].Image = old.InitContainers[i].Image
	}
	m.ActiveDeadlineSeconds = old.ActiveDeadlineSeconds
	m.Tolerations = old.Tolerations
	m.SchedulingGates = old.SchedulingGates
	if g, og := m.TerminationGracePeriodSeconds, old.TerminationGracePeriodSeconds; og != nil && *og < 0 && g != nil && *g == 1 {
		m.TerminationGracePeriodSeconds = og
	}
	return m
}

// specDiff renders the difference for the error message; a diff failure
// must not fail validation.
func specDiff(old, spec corev1.PodSpec) (diff string) {
	defer func() {
		if recover() != nil {
			diff = ""
		}
	}()
	return cmp.Diff(old, spec)
}
