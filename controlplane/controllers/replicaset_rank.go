package controllers

import (
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// podDeletionCostAnnotation lets users prefer which pods go first on a
// scale-down (lower cost first), as upstream's
// controller.kubernetes.io/pod-deletion-cost.
const podDeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// podsToDelete returns the n pods a scale-down removes first, ranked as
// upstream's ActivePodsWithRanks (pkg/controller/controller_utils.go):
// unscheduled before scheduled; Pending before Unknown before Running;
// not ready before ready; lower deletion cost first; pods sharing a node
// with more of their siblings first; ready for less time first; more
// container restarts first; newer before older.
func podsToDelete(pods []*corev1.Pod, n int) []*corev1.Pod {
	if n >= len(pods) {
		return pods
	}
	perNode := map[string]int{}
	for _, p := range pods {
		if p.Spec.NodeName != "" {
			perNode[p.Spec.NodeName]++
		}
	}
	ranked := make([]*corev1.Pod, len(pods))
	copy(ranked, pods)
	sort.SliceStable(ranked, func(i, j int) bool {
		return deleteBefore(ranked[i], ranked[j], perNode)
	})
	return ranked[:n]
}

var phaseOrdinal = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

func deleteBefore(a, b *corev1.Pod, perNode map[string]int) bool {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if pa, pb := phaseOrdinal[a.Status.Phase], phaseOrdinal[b.Status.Phase]; pa != pb {
		return pa < pb
	}
	if ra, rb := isPodReady(a), isPodReady(b); ra != rb {
		return !ra
	}
	if ca, cb := deletionCost(a), deletionCost(b); ca != cb {
		return ca < cb
	}
	if na, nb := perNode[a.Spec.NodeName], perNode[b.Spec.NodeName]; na != nb {
		return na > nb
	}
	if isPodReady(a) && isPodReady(b) {
		if ta, tb := podReadyCondition(a).LastTransitionTime.Time, podReadyCondition(b).LastTransitionTime.Time; !ta.Equal(tb) {
			return afterOrZero(ta, tb)
		}
	}
	if ra, rb := maxRestarts(a), maxRestarts(b); ra != rb {
		return ra > rb
	}
	if ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time; !ta.Equal(tb) {
		return afterOrZero(ta, tb)
	}
	return false
}

// afterOrZero orders an unset time first, then the later one.
func afterOrZero(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero()
	}
	return a.After(b)
}

func deletionCost(p *corev1.Pod) int64 {
	v, err := strconv.ParseInt(p.Annotations[podDeletionCostAnnotation], 10, 32)
	if err != nil {
		return 0
	}
	return v
}

func maxRestarts(p *corev1.Pod) int32 {
	var m int32
	for _, s := range p.Status.ContainerStatuses {
		m = max(m, s.RestartCount)
	}
	return m
}
