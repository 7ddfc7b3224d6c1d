package validation

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	supportedTaintEffects = []corev1.TaintEffect{corev1.TaintEffectNoExecute,
		corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule}
	supportedTolerationOps = []corev1.TolerationOperator{corev1.TolerationOpEqual, corev1.TolerationOpExists}
)

func validateTolerations(ts []corev1.Toleration, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range ts {
		idx := p.Index(i)
		if t.Key != "" {
			errs = append(errs, metav1validation.ValidateLabelName(t.Key, idx.Child("key"))...)
		}
		if t.Key == "" && t.Operator != corev1.TolerationOpExists {
			errs = append(errs, field.Invalid(idx.Child("operator"), t.Operator,
				"operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
		}
		if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
			errs = append(errs, field.Invalid(idx.Child("effect"), t.Effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
		}
		errs = append(errs, validateTolerationOperator(t, idx.Child("operator"))...)
		if t.Effect != "" {
			errs = append(errs, validateTaintEffect(t.Effect, idx.Child("effect"))...)
		}
	}
	return errs
}

func validateTolerationOperator(t corev1.Toleration, p *field.Path) field.ErrorList {
	switch t.Operator {
	case corev1.TolerationOpEqual, "":
		if msgs := validation.IsValidLabelValue(t.Value); len(msgs) > 0 {
			return field.ErrorList{field.Invalid(p, t.Value, strings.Join(msgs, ";"))}
		}
	case corev1.TolerationOpExists:
		if t.Value != "" {
			return field.ErrorList{field.Invalid(p, t, "value must be empty when `operator` is 'Exists'")}
		}
	default:
		return field.ErrorList{field.NotSupported(p, t.Operator, supportedTolerationOps)}
	}
	return nil
}

func validateTaintEffect(e corev1.TaintEffect, p *field.Path) field.ErrorList {
	for _, ok := range supportedTaintEffects {
		if e == ok {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(p, e, supportedTaintEffects)}
}
