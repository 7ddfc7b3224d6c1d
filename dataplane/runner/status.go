package runner

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// computeStatusLocked builds the pod's status from its containers' state,
// keeping each condition's lastTransitionTime until its status changes.
func (p *pod) computeStatusLocked() corev1.PodStatus {
	st := corev1.PodStatus{StartTime: &metav1.Time{Time: p.startTime}}
	var notReady []string
	for _, c := range p.containers {
		cs := c.statusLocked()
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		if !cs.Ready {
			notReady = append(notReady, cs.Name)
		}
	}
	st.Phase = podPhase(p.spec.Pod.Spec.RestartPolicy, st.ContainerStatuses)
	initialized := corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}
	var incomplete []string
	initFailed := false
	for _, c := range p.inits {
		cs := c.statusLocked()
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
		switch t := cs.State.Terminated; {
		case c.sidecar() && cs.State.Running != nil && *cs.Started:
		case !c.sidecar() && t != nil && t.ExitCode == 0:
		default:
			incomplete = append(incomplete, cs.Name)
			initFailed = initFailed || (t != nil && !c.sidecar())
		}
	}
	if len(incomplete) > 0 {
		initialized.Status = corev1.ConditionFalse
		initialized.Reason = "ContainersNotInitialized"
		initialized.Message = fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(incomplete, " "))
		st.Phase = corev1.PodPending
		if initFailed { // terminated for good: only with restartPolicy Never
			st.Phase = corev1.PodFailed
		}
	}

	containersReady := corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}
	if len(notReady) > 0 {
		containersReady.Status = corev1.ConditionFalse
		containersReady.Reason = "ContainersNotReady"
		containersReady.Message = fmt.Sprintf("containers with unready status: [%s]", strings.Join(notReady, " "))
	}
	if st.Phase == corev1.PodSucceeded {
		containersReady.Reason, containersReady.Message = "PodCompleted", ""
	}
	ready := containersReady
	ready.Type = corev1.PodReady
	if gates := p.unmetGates(); containersReady.Status == corev1.ConditionTrue && len(gates) > 0 {
		ready.Status = corev1.ConditionFalse
		ready.Reason = "ReadinessGatesNotReady"
		ready.Message = fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", gates[0])
	}
	for _, c := range []corev1.PodCondition{
		{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue},
		initialized,
		containersReady,
		ready,
	} {
		st.Conditions = append(st.Conditions, p.conditionLocked(c))
	}
	return st
}

// conditionLocked stamps c with the time its status last changed.
func (p *pod) conditionLocked(c corev1.PodCondition) corev1.PodCondition {
	if prev, ok := p.conds[c.Type]; ok && prev.Status == c.Status {
		c.LastTransitionTime = prev.LastTransitionTime
	} else {
		c.LastTransitionTime = metav1.NewTime(p.r.cfg.Now())
	}
	p.conds[c.Type] = c
	return c
}

// unmetGates lists the readiness gates whose condition is not True in the
// pod object (other components set them).
func (p *pod) unmetGates() []string {
	var unmet []string
	for _, g := range p.spec.Pod.Spec.ReadinessGates {
		ok := false
		for _, c := range p.spec.Pod.Status.Conditions {
			if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
				ok = true
			}
		}
		if !ok {
			unmet = append(unmet, string(g.ConditionType))
		}
	}
	return unmet
}

func (c *container) statusLocked() corev1.ContainerStatus {
	running := c.phase == phaseRunning
	started := running && c.started
	s := corev1.ContainerStatus{
		Name:         c.spec.Name,
		Image:        c.spec.Image,
		RestartCount: c.restarts,
		Started:      &started,
		Ready:        started && (c.spec.ReadinessProbe == nil || c.ready),
	}
	if c.init && !c.sidecar() {
		// Init containers count as ready once they succeeded.
		s.Ready = c.phase == phaseTerminated && c.term != nil && c.term.ExitCode == 0
	}
	if c.last != nil {
		s.LastTerminationState.Terminated = c.last.DeepCopy()
	}
	switch {
	case running:
		s.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.inst.startedAt)}
		s.ContainerID = c.inst.id()
	case c.phase == phaseTerminated && c.term != nil:
		s.State.Terminated = c.term.DeepCopy()
		s.ContainerID = c.term.ContainerID
	default:
		reason := c.reason
		if reason == "" {
			reason = "ContainerCreating"
		}
		s.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: c.message}
	}
	return s
}

// podPhase is the kubelet's phase rule for a pod without init containers:
// Pending while a container has not started yet, Running while one runs or
// will be restarted, Succeeded when all exited 0 for good, Failed when all
// exited for good and one failed.
func podPhase(policy corev1.RestartPolicy, statuses []corev1.ContainerStatus) corev1.PodPhase {
	var waiting, running, stopped, succeeded int
	for _, s := range statuses {
		switch {
		case s.State.Running != nil:
			running++
		case s.State.Terminated != nil:
			stopped++
			if s.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case s.LastTerminationState.Terminated != nil:
			stopped++ // waiting to be restarted
		default:
			waiting++
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped == 0:
		return corev1.PodPending
	case policy == corev1.RestartPolicyAlways || policy == "":
		return corev1.PodRunning
	case stopped == succeeded:
		return corev1.PodSucceeded
	case policy == corev1.RestartPolicyNever:
		return corev1.PodFailed
	}
	return corev1.PodRunning // OnFailure: failed ones restart
}
