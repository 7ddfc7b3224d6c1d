package validation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The apps/v1 rules follow Kubernetes' pkg/apis/apps/validation and the
// selector-immutability rule of the apps/v1 registry strategies.

func validateDeployment(d *appsv1.Deployment) field.ErrorList {
	errs := validateMeta(&d.ObjectMeta, namespaced, nameIsDNSSubdomain)
	p := specPath
	spec := &d.Spec
	errs = append(errs, validateReplicas(spec.Replicas, p.Child("replicas"))...)
	sel, selErrs := validateWorkloadSelector(spec.Selector, "deployment", p.Child("selector"))
	errs = append(errs, selErrs...)
	errs = append(errs, validateReplicaTemplate(&spec.Template, sel, "ReplicaSet", p.Child("template"))...)
	errs = append(errs, validateDeploymentStrategy(&spec.Strategy, p.Child("strategy"))...)
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), p.Child("minReadySeconds"))...)
	if spec.RevisionHistoryLimit != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*spec.RevisionHistoryLimit), p.Child("revisionHistoryLimit"))...)
	}
	if pds := spec.ProgressDeadlineSeconds; pds != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*pds), p.Child("progressDeadlineSeconds"))...)
		if *pds <= spec.MinReadySeconds {
			errs = append(errs, field.Invalid(p.Child("progressDeadlineSeconds"), *pds, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func validateDeploymentUpdate(d, old *appsv1.Deployment) field.ErrorList {
	return immutable(d.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))
}

func validateDeploymentStatus(d, old *appsv1.Deployment) field.ErrorList {
	st, p := &d.Status, statusPath
	errs := nonNegative(p, map[string]int64{
		"observedGeneration": st.ObservedGeneration, "replicas": int64(st.Replicas),
		"updatedReplicas": int64(st.UpdatedReplicas), "readyReplicas": int64(st.ReadyReplicas),
		"availableReplicas": int64(st.AvailableReplicas), "unavailableReplicas": int64(st.UnavailableReplicas),
	})
	errs = append(errs, replicaCounts(p, st.Replicas, st.ReadyReplicas, st.AvailableReplicas, map[string]int32{"updatedReplicas": st.UpdatedReplicas})...)
	return append(errs, validateCollisionCount(st.CollisionCount, old.Status.CollisionCount)...)
}

func validateDeploymentStrategy(s *appsv1.DeploymentStrategy, p *field.Path) field.ErrorList {
	switch s.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			return field.ErrorList{field.Forbidden(p.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")}
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		ru := s.RollingUpdate
		if ru == nil {
			return field.ErrorList{field.Required(p.Child("rollingUpdate"), "this should be defaulted and never be nil")}
		}
		rp := p.Child("rollingUpdate")
		maxUnavailable, maxSurge := intOrZero(ru.MaxUnavailable), intOrZero(ru.MaxSurge)
		errs := validateIntOrPercent(maxUnavailable, rp.Child("maxUnavailable"))
		errs = append(errs, validateIntOrPercent(maxSurge, rp.Child("maxSurge"))...)
		if intOrPercentValue(maxUnavailable) == 0 && intOrPercentValue(maxSurge) == 0 {
			errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), maxUnavailable.String(), "may not be 0 when `maxSurge` is 0"))
		}
		return append(errs, notOver100Percent(maxUnavailable, rp.Child("maxUnavailable"))...)
	case "":
		return field.ErrorList{field.Required(p.Child("type"), "")}
	default:
		return field.ErrorList{field.NotSupported(p.Child("type"), s.Type,
			[]appsv1.DeploymentStrategyType{appsv1.RecreateDeploymentStrategyType, appsv1.RollingUpdateDeploymentStrategyType})}
	}
	return nil
}

func validateReplicaSet(rs *appsv1.ReplicaSet) field.ErrorList {
	errs := validateMeta(&rs.ObjectMeta, namespaced, nameIsDNSSubdomain)
	p := specPath
	errs = append(errs, validateReplicas(rs.Spec.Replicas, p.Child("replicas"))...)
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(rs.Spec.MinReadySeconds), p.Child("minReadySeconds"))...)
	// Kubernetes reports an empty ReplicaSet selector with the deployment
	// wording (the two share the rule).
	sel, selErrs := validateWorkloadSelector(rs.Spec.Selector, "deployment", p.Child("selector"))
	errs = append(errs, selErrs...)
	return append(errs, validateReplicaTemplate(&rs.Spec.Template, sel, "ReplicaSet", p.Child("template"))...)
}

func validateReplicaSetUpdate(rs, old *appsv1.ReplicaSet) field.ErrorList {
	return immutable(rs.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))
}

func validateReplicaSetStatus(rs *appsv1.ReplicaSet) field.ErrorList {
	st, p := &rs.Status, statusPath
	errs := nonNegative(p, map[string]int64{
		"replicas": int64(st.Replicas), "fullyLabeledReplicas": int64(st.FullyLabeledReplicas),
		"readyReplicas": int64(st.ReadyReplicas), "availableReplicas": int64(st.AvailableReplicas),
		"observedGeneration": st.ObservedGeneration,
	})
	return append(errs, replicaCounts(p, st.Replicas, st.ReadyReplicas, st.AvailableReplicas, map[string]int32{"fullyLabeledReplicas": st.FullyLabeledReplicas})...)
}

func validateDaemonSet(ds *appsv1.DaemonSet) field.ErrorList {
	errs := validateMeta(&ds.ObjectMeta, namespaced, nameIsDNSSubdomain)
	p := specPath
	spec := &ds.Spec
	sel, selErrs := validateWorkloadSelector(spec.Selector, "daemonset", p.Child("selector"))
	errs = append(errs, selErrs...)
	errs = append(errs, validateReplicaTemplate(&spec.Template, sel, "DaemonSet", p.Child("template"))...)
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), p.Child("minReadySeconds"))...)
	errs = append(errs, validateDaemonSetStrategy(&spec.UpdateStrategy, p.Child("updateStrategy"))...)
	if spec.RevisionHistoryLimit != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*spec.RevisionHistoryLimit), p.Child("revisionHistoryLimit"))...)
	}
	return errs
}

func validateDaemonSetUpdate(ds, old *appsv1.DaemonSet) field.ErrorList {
	return immutable(ds.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))
}

func validateDaemonSetStrategy(s *appsv1.DaemonSetUpdateStrategy, p *field.Path) field.ErrorList {
	switch s.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
	case appsv1.RollingUpdateDaemonSetStrategyType:
		ru := s.RollingUpdate
		if ru == nil {
			return field.ErrorList{field.Required(p.Child("rollingUpdate"), "")}
		}
		rp := p.Child("rollingUpdate")
		maxUnavailable, maxSurge := intOrZero(ru.MaxUnavailable), intOrZero(ru.MaxSurge)
		errs := validateIntOrPercent(maxUnavailable, rp.Child("maxUnavailable"))
		errs = append(errs, validateIntOrPercent(maxSurge, rp.Child("maxSurge"))...)
		errs = append(errs, notOver100Percent(maxUnavailable, rp.Child("maxUnavailable"))...)
		errs = append(errs, notOver100Percent(maxSurge, rp.Child("maxSurge"))...)
		// A DaemonSet surges or takes nodes down, not both (one pod per node).
		hasUnavailable, hasSurge := intOrPercentValue(maxUnavailable) != 0, intOrPercentValue(maxSurge) != 0
		switch {
		case hasUnavailable && hasSurge:
			errs = append(errs, field.Invalid(rp.Child("maxSurge"), maxSurge.String(), "may not be set when maxUnavailable is non-zero"))
		case !hasUnavailable && !hasSurge:
			errs = append(errs, field.Required(rp.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
		}
		return errs
	case "":
		return field.ErrorList{field.Required(p.Child("type"), "")}
	default:
		return field.ErrorList{field.NotSupported(p.Child("type"), s.Type,
			[]appsv1.DaemonSetUpdateStrategyType{appsv1.OnDeleteDaemonSetStrategyType, appsv1.RollingUpdateDaemonSetStrategyType})}
	}
	return nil
}

func validateDaemonSetStatus(ds, old *appsv1.DaemonSet) field.ErrorList {
	st := &ds.Status
	errs := nonNegative(statusPath, map[string]int64{
		"currentNumberScheduled": int64(st.CurrentNumberScheduled), "numberMisscheduled": int64(st.NumberMisscheduled),
		"desiredNumberScheduled": int64(st.DesiredNumberScheduled), "numberReady": int64(st.NumberReady),
		"observedGeneration": st.ObservedGeneration, "updatedNumberScheduled": int64(st.UpdatedNumberScheduled),
		"numberAvailable": int64(st.NumberAvailable), "numberUnavailable": int64(st.NumberUnavailable),
	})
	return append(errs, validateCollisionCount(st.CollisionCount, old.Status.CollisionCount)...)
}

// validateWorkloadSelector checks a workload's selector: required, well
// formed and not empty (an empty selector would match every pod of the
// namespace). The parsed selector is nil when it cannot be used.
func validateWorkloadSelector(s *metav1.LabelSelector, kind string, p *field.Path) (labels.Selector, field.ErrorList) {
	if s == nil {
		return nil, field.ErrorList{field.Required(p, "")}
	}
	errs := metav1validation.ValidateLabelSelector(s, metav1validation.LabelSelectorValidationOptions{}, p)
	if len(s.MatchLabels)+len(s.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(p, s, "empty selector is invalid for "+kind))
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		if len(errs) == 0 {
			errs = append(errs, field.Invalid(p, s, "invalid label selector"))
		}
		return nil, errs
	}
	return sel, errs
}

// validateReplicaTemplate checks the pod template of a workload whose pods
// run forever: its labels must match the selector, the pod spec must be
// valid (as a pod's), restartPolicy must be Always and
// activeDeadlineSeconds unset.
func validateReplicaTemplate(t *corev1.PodTemplateSpec, sel labels.Selector, kind string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if sel != nil && !sel.Empty() && !sel.Matches(labels.Set(t.Labels)) {
		errs = append(errs, field.Invalid(p.Child("metadata", "labels"), t.Labels, "`selector` does not match template `labels`"))
	}
	errs = append(errs, validatePodTemplate(t, p)...)
	if rp := t.Spec.RestartPolicy; rp != "" && rp != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(p.Child("spec", "restartPolicy"), rp, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if t.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(p.Child("spec", "activeDeadlineSeconds"), fmt.Sprintf("activeDeadlineSeconds in %s is not Supported", kind)))
	}
	return errs
}

// validatePodTemplate checks a pod template's metadata and spec with the
// pod rules.
func validatePodTemplate(t *corev1.PodTemplateSpec, p *field.Path) field.ErrorList {
	mp := p.Child("metadata")
	errs := metav1validation.ValidateLabels(t.Labels, mp.Child("labels"))
	errs = append(errs, apivalidation.ValidateAnnotations(t.Annotations, mp.Child("annotations"))...)
	return append(errs, validatePodSpec(&t.Spec, p.Child("spec"))...)
}

func validateReplicas(r *int32, p *field.Path) field.ErrorList {
	if r == nil {
		return nil // defaulted to 1
	}
	return apivalidation.ValidateNonnegativeField(int64(*r), p)
}

func intOrZero(v *intstr.IntOrString) intstr.IntOrString {
	if v == nil {
		return intstr.FromInt32(0)
	}
	return *v
}

// validateIntOrPercent checks a non-negative integer or a percentage.
func validateIntOrPercent(v intstr.IntOrString, p *field.Path) field.ErrorList {
	switch v.Type {
	case intstr.String:
		return invalid(p, v.StrVal, validation.IsValidPercent(v.StrVal))
	case intstr.Int:
		return apivalidation.ValidateNonnegativeField(int64(v.IntValue()), p)
	}
	return field.ErrorList{field.Invalid(p, v.String(), "must be an integer or percentage (e.g '5%')")}
}

// percentOf returns the value of a valid percentage.
func percentOf(v intstr.IntOrString) (int, bool) {
	if v.Type != intstr.String || len(validation.IsValidPercent(v.StrVal)) > 0 {
		return 0, false
	}
	n, err := strconv.Atoi(v.StrVal[:len(v.StrVal)-1])
	return n, err == nil
}

func intOrPercentValue(v intstr.IntOrString) int {
	if n, ok := percentOf(v); ok {
		return n
	}
	return v.IntValue()
}

func notOver100Percent(v intstr.IntOrString, p *field.Path) field.ErrorList {
	if n, ok := percentOf(v); ok && n > 100 {
		return field.ErrorList{field.Invalid(p, v.StrVal, "must not be greater than 100%")}
	}
	return nil
}

// nonNegative reports each named count below zero, in name order.
func nonNegative(p *field.Path, counts map[string]int64) field.ErrorList {
	var errs field.ErrorList
	for _, name := range sortedKeys(counts) {
		errs = append(errs, apivalidation.ValidateNonnegativeField(counts[name], p.Child(name))...)
	}
	return errs
}

// replicaCounts checks the ordering of a workload's replica counts: none
// above status.replicas, available not above ready.
func replicaCounts(p *field.Path, replicas, ready, available int32, others map[string]int32) field.ErrorList {
	const msg = "cannot be greater than status.replicas"
	var errs field.ErrorList
	for _, name := range sortedKeys(others) {
		if others[name] > replicas {
			errs = append(errs, field.Invalid(p.Child(name), others[name], msg))
		}
	}
	if ready > replicas {
		errs = append(errs, field.Invalid(p.Child("readyReplicas"), ready, msg))
	}
	if available > replicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), available, msg))
	}
	if available > ready {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), available, "cannot be greater than readyReplicas"))
	}
	return errs
}

func validateCollisionCount(cc, old *int32) field.ErrorList {
	var errs field.ErrorList
	if cc != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*cc), statusPath.Child("collisionCount"))...)
	}
	if isDecremented(cc, old) {
		v := int32(0)
		if cc != nil {
			v = *cc
		}
		errs = append(errs, field.Invalid(statusPath.Child("collisionCount"), v, "cannot be decremented"))
	}
	return errs
}

// isDecremented says a counter went down or was dropped.
func isDecremented(v, old *int32) bool {
	return old != nil && (v == nil || *v < *old)
}

func validateControllerRevision(cr *appsv1.ControllerRevision) field.ErrorList {
	errs := validateMeta(&cr.ObjectMeta, namespaced, nameIsDNSSubdomain)
	if cr.Data.Raw == nil && cr.Data.Object == nil {
		errs = append(errs, field.Required(field.NewPath("data"), "data is mandatory"))
	}
	return append(errs, apivalidation.ValidateNonnegativeField(cr.Revision, field.NewPath("revision"))...)
}

// validateControllerRevisionUpdate: a revision is a snapshot; its data
// never changes (its revision number may, when a rollback reuses it).
func validateControllerRevisionUpdate(cr, old *appsv1.ControllerRevision) field.ErrorList {
	return immutable(compactJSON(cr.Data.Raw), compactJSON(old.Data.Raw), field.NewPath("data"))
}

// compactJSON is b without insignificant white space (b itself when it is
// not JSON), so re-encoded data compares equal.
func compactJSON(b []byte) string {
	var out bytes.Buffer
	if json.Compact(&out, b) != nil {
		return string(b)
	}
	return out.String()
}
