package agent

import (
	"encoding/json"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// composeStatus merges what the agent knows into the pod's current
// status: the runner's phase, start time, container statuses and
// conditions (merged by type, so PodScheduled and conditions of other
// components stay), the pod IP and the host IP. changed reports whether
// the result differs from pod.Status as the API server would store it.
func composeStatus(pod *corev1.Pod, rs corev1.PodStatus, running bool, podIP, hostIP netip.Addr) (st corev1.PodStatus, changed bool) {
	st = *pod.Status.DeepCopy()
	if running {
		st.Phase = rs.Phase
		if st.StartTime == nil {
			st.StartTime = rs.StartTime
		}
		st.ContainerStatuses = rs.ContainerStatuses
		st.InitContainerStatuses = rs.InitContainerStatuses
		st.Conditions = mergeConditions(st.Conditions, rs.Conditions)
	} else if st.Phase == "" {
		st.Phase = corev1.PodPending
	}
	if podIP.IsValid() {
		st.PodIP = podIP.String()
		st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	}
	if hostIP.IsValid() {
		st.HostIP = hostIP.String()
		st.HostIPs = []corev1.HostIP{{IP: st.HostIP}}
	}
	st = roundTrip(st)
	return st, !equality.Semantic.DeepEqual(st, pod.Status)
}

// mergeConditions replaces the conditions of have by those of want with
// the same type, keeping the order of have and the transition time of a
// condition whose status stays, and appends the others.
func mergeConditions(have, want []corev1.PodCondition) []corev1.PodCondition {
	out := append([]corev1.PodCondition(nil), have...)
	for _, w := range want {
		found := false
		for i := range out {
			if out[i].Type == w.Type {
				if out[i].Status == w.Status && !out[i].LastTransitionTime.IsZero() {
					w.LastTransitionTime = out[i].LastTransitionTime // e.g. a restarted agent
				}
				out[i], found = w, true
			}
		}
		if !found {
			out = append(out, w)
		}
	}
	return out
}

// roundTrip returns st as it comes back from the API server: timestamps
// at one-second precision, empty lists dropped. Comparing that with the
// informer's object keeps the agent from rewriting an unchanged status.
func roundTrip(st corev1.PodStatus) corev1.PodStatus {
	b, err := json.Marshal(st)
	if err != nil {
		return st
	}
	var out corev1.PodStatus
	if json.Unmarshal(b, &out) != nil {
		return st
	}
	return out
}
