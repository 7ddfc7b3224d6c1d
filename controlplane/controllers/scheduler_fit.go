package controllers

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// Reasons a node does not fit, worded as kube-scheduler words them.
const (
	reasonNotReady      = "node(s) were not ready"
	reasonUnschedulable = "node(s) were unschedulable"
	reasonSelector      = "node(s) didn't match Pod's node affinity/selector"
	reasonTaint         = "node(s) had untolerated taint"
)

// unfit returns why pod cannot run on node, or "" if it can. It checks
// readiness, spec.unschedulable (tolerable through the
// node.kubernetes.io/unschedulable taint, as in Kubernetes), nodeSelector,
// required node affinity and NoSchedule/NoExecute taints. Resources, ports
// and pod affinity are not considered.
func unfit(pod *corev1.Pod, node *corev1.Node) string {
	switch {
	case !nodeReady(node):
		return reasonNotReady
	case node.Spec.Unschedulable && !tolerates(pod.Spec.Tolerations,
		corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}):
		return reasonUnschedulable
	case !labels.SelectorFromSet(pod.Spec.NodeSelector).Matches(labels.Set(node.Labels)) ||
		!matchesNodeAffinity(pod, node):
		return reasonSelector
	}
	for _, t := range node.Spec.Taints {
		if t.Effect != corev1.TaintEffectPreferNoSchedule && !tolerates(pod.Spec.Tolerations, t) {
			return fmt.Sprintf("%s {%s: %s}", reasonTaint, t.Key, t.Value)
		}
	}
	return ""
}

func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// tolerates reports whether a toleration matches taint (Kubernetes rules:
// empty effect or key match all; Exists matches any value).
func tolerates(tols []corev1.Toleration, taint corev1.Taint) bool {
	for _, t := range tols {
		if (t.Effect != "" && t.Effect != taint.Effect) || (t.Key != "" && t.Key != taint.Key) {
			continue
		}
		if t.Operator == corev1.TolerationOpExists ||
			((t.Operator == "" || t.Operator == corev1.TolerationOpEqual) && t.Value == taint.Value) {
			return true
		}
	}
	return false
}

// matchesNodeAffinity evaluates requiredDuringSchedulingIgnoredDuringExecution:
// terms are ORed, the requirements of a term ANDed, an empty term matches
// nothing.
func matchesNodeAffinity(pod *corev1.Pod, node *corev1.Node) bool {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	return slices.ContainsFunc(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms,
		func(term corev1.NodeSelectorTerm) bool { return matchesTerm(term, node) })
}

func matchesTerm(term corev1.NodeSelectorTerm, node *corev1.Node) bool {
	if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
		return false
	}
	for _, r := range term.MatchExpressions {
		if !matchesRequirement(r.Key, r, labels.Set(node.Labels)) {
			return false
		}
	}
	for _, r := range term.MatchFields { // only metadata.name is defined
		if r.Key != "metadata.name" || !matchesRequirement("name", r, labels.Set{"name": node.Name}) {
			return false
		}
	}
	return true
}

var selectorOps = map[corev1.NodeSelectorOperator]selection.Operator{
	corev1.NodeSelectorOpIn: selection.In, corev1.NodeSelectorOpNotIn: selection.NotIn,
	corev1.NodeSelectorOpExists: selection.Exists, corev1.NodeSelectorOpDoesNotExist: selection.DoesNotExist,
	corev1.NodeSelectorOpGt: selection.GreaterThan, corev1.NodeSelectorOpLt: selection.LessThan,
}

func matchesRequirement(key string, r corev1.NodeSelectorRequirement, set labels.Set) bool {
	op, ok := selectorOps[r.Operator]
	if !ok {
		return false
	}
	req, err := labels.NewRequirement(key, op, r.Values)
	return err == nil && req.Matches(set)
}

// unschedulableMessage summarises the reasons like kube-scheduler:
// "0/3 nodes are available: 1 node(s) were not ready, 2 ...".
func unschedulableMessage(total int, reasons map[string]int) string {
	if total == 0 {
		return "no nodes available to schedule pods"
	}
	parts := make([]string, 0, len(reasons))
	for _, r := range sortedKeys(reasons) {
		parts = append(parts, fmt.Sprintf("%d %s", reasons[r], r))
	}
	return fmt.Sprintf("0/%d nodes are available: %s.", total, strings.Join(parts, ", "))
}

// schedulingChanged reports whether a node update can change which pods fit.
func schedulingChanged(old, cur *corev1.Node) bool {
	return nodeReady(old) != nodeReady(cur) || old.Spec.Unschedulable != cur.Spec.Unschedulable ||
		!labels.Equals(old.Labels, cur.Labels) || !equality.Semantic.DeepEqual(old.Spec.Taints, cur.Spec.Taints)
}
