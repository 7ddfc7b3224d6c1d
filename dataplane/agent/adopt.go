package agent

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// After an agent restart the runner re-attaches to running containers but
// knows no probe result yet, so it reports them not ready until their
// readiness probe passes again. Like kubelet, the agent keeps an adopted
// pod that the API shows Ready as it is meanwhile, so that a restart does
// not flap the pod out of its Services' endpoints: it holds back status
// writes that would turn Ready False until the probes had their chance
// (readyHold) or the runner reports the pod ready.

// holdReady records, for each pod the API shows Ready, until when a
// not-ready status from the runner is not written.
func (a *Agent) holdReady(pods []*corev1.Pod) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range pods {
		if isReady(p.Status) {
			a.adopted[p.UID] = now.Add(readyHold(p))
		}
	}
}

// heldBack reports whether the status st must not be written yet, and for
// how long.
func (a *Agent) heldBack(uid types.UID, st corev1.PodStatus) (time.Duration, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	until, ok := a.adopted[uid]
	if !ok {
		return 0, false
	}
	left := until.Sub(a.now())
	if isReady(st) || left <= 0 {
		delete(a.adopted, uid)
		return 0, false
	}
	return left, true
}

func isReady(st corev1.PodStatus) bool {
	for _, c := range st.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// readyHold is the longest time a readiness probe of the pod takes to
// pass once: its period times its failure threshold, plus its timeout
// (with the Kubernetes defaults 10s, 3 and 1s).
func readyHold(p *corev1.Pod) time.Duration {
	hold := time.Second
	for _, c := range p.Spec.Containers {
		pr := c.ReadinessProbe
		if pr == nil {
			continue
		}
		period, failures, timeout := orDefault(pr.PeriodSeconds, 10), orDefault(pr.FailureThreshold, 3), orDefault(pr.TimeoutSeconds, 1)
		hold = max(hold, time.Duration(period*failures+timeout)*time.Second)
	}
	return hold
}

func orDefault(v, def int32) int32 {
	if v <= 0 {
		return def
	}
	return v
}
