package controllers

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Shared helpers of the workload controllers (ReplicaSet, Deployment,
// DaemonSet): pods made from templates, controller references, pod
// readiness and availability, template hashes. The semantics follow
// kubernetes/kubernetes pkg/controller/controller_utils.go and
// pkg/api/v1/pod/util.go.

// burstReplicas caps the creations or deletions of one sync, as
// kube-controller-manager's --concurrent-... burst of 500 does.
const burstReplicas = 500

// slowStartInitialBatch is the first batch of creations; each successful
// batch doubles the next, so a quota or admission error costs one call
// instead of hundreds (upstream controller.SlowStartInitialBatchSize).
const slowStartInitialBatch = 1

// controllerRef returns an owner reference marking owner as the managing
// controller of a dependent, which blocks the owner's foreground deletion.
func controllerRef(owner metav1.Object, gvk schema.GroupVersionKind) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{
		APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind,
		Name: owner.GetName(), UID: owner.GetUID(),
		Controller: &yes, BlockOwnerDeletion: &yes,
	}
}

// podFromTemplate builds a pod for owner's template: generateName
// "<owner>-" (the API server adds 5 random characters), the template's
// labels, annotations and spec, and a controller reference.
func podFromTemplate(tmpl *corev1.PodTemplateSpec, owner metav1.Object, gvk schema.GroupVersionKind) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    owner.GetName() + "-",
			Namespace:       owner.GetNamespace(),
			Labels:          copyMap(tmpl.Labels),
			Annotations:     copyMap(tmpl.Annotations),
			Finalizers:      append([]string(nil), tmpl.Finalizers...),
			OwnerReferences: []metav1.OwnerReference{controllerRef(owner, gvk)},
		},
	}
	pod.Spec = *tmpl.Spec.DeepCopy()
	return pod
}

// selectorMatches reports whether sel selects set. An invalid or empty
// selector selects nothing: the workload controllers never converge on
// one (the API rejects it), so they must not queue its owner either.
func selectorMatches(sel *metav1.LabelSelector, set map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !s.Empty() && s.Matches(labels.Set(set))
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// isPodActive reports whether a pod counts towards its controller's
// replicas: not finished and not being deleted. A Failed or Succeeded pod
// is replaced, as upstream's FilterActivePods does.
func isPodActive(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed &&
		p.DeletionTimestamp == nil
}

func activePods(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if isPodActive(p) {
			out = append(out, p)
		}
	}
	return out
}

func podReadyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func isPodReady(p *corev1.Pod) bool {
	c := podReadyCondition(p)
	return c != nil && c.Status == corev1.ConditionTrue
}

// isPodAvailable reports whether p has been ready for at least
// minReadySeconds at now (upstream podutil.IsPodAvailable).
func isPodAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	if !isPodReady(p) {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	c := podReadyCondition(p)
	min := time.Duration(minReadySeconds) * time.Second
	return !c.LastTransitionTime.IsZero() && c.LastTransitionTime.Add(min).Before(now)
}

// untilAvailable returns how long until a ready pod becomes available, or
// 0 when it is available already or not ready.
func untilAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) time.Duration {
	if minReadySeconds == 0 || !isPodReady(p) || isPodAvailable(p, minReadySeconds, now) {
		return 0
	}
	c := podReadyCondition(p)
	d := c.LastTransitionTime.Add(time.Duration(minReadySeconds)*time.Second).Sub(now) + time.Second
	return max(d, time.Second)
}

// templateHash is a short, stable hash of a pod template (plus a
// collision count), encoded with the consonant-and-digit alphabet that
// keeps it from spelling words, as upstream's ComputeHash and
// rand.SafeEncodeString. The hash itself is FNV-32a of the template's
// JSON, not upstream's spew dump, so values differ from a real cluster's.
func templateHash(tmpl *corev1.PodTemplateSpec, collisions *int32) string {
	h := fnv.New32a()
	b, _ := json.Marshal(tmpl)
	h.Write(b)
	if collisions != nil {
		fmt.Fprintf(h, "%d", *collisions)
	}
	return safeEncode(fmt.Sprint(h.Sum32()))
}

const safeAlphabet = "bcdfghjklmnpqrstvwxz2456789"

func safeEncode(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		b.WriteByte(safeAlphabet[int(c)%len(safeAlphabet)])
	}
	return b.String()
}

// scaledValue resolves an int-or-percent against total: percentages round
// up or down as asked (upstream intstr.GetScaledValueFromIntOrPercent).
func scaledValue(v *intstr.IntOrString, total int, roundUp bool) (int, error) {
	if v == nil {
		return 0, nil
	}
	if v.Type == intstr.Int {
		return v.IntValue(), nil
	}
	s := strings.TrimSuffix(v.StrVal, "%")
	if s == v.StrVal {
		return 0, fmt.Errorf("invalid value %q: must be an integer or a percentage", v.StrVal)
	}
	var pct int
	if _, err := fmt.Sscanf(s, "%d", &pct); err != nil {
		return 0, fmt.Errorf("invalid value %q: %w", v.StrVal, err)
	}
	f := float64(pct) * float64(total) / 100
	if roundUp {
		return int(math.Ceil(f)), nil
	}
	return int(math.Floor(f)), nil
}

func int32Val(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}
