package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// daemonPlan is what one sync does: nodes to get a pod, pods to delete.
type daemonPlan struct {
	create []string
	delete []*corev1.Pod
}

// plan decides per node (upstream podsShouldBeOnNode): a missing pod is
// created, finished pods are deleted (and replaced next round), extra
// pods beyond the oldest running one go, and pods on nodes that are gone
// or ineligible go. Then the rolling update replaces old-hash pods.
func (c *daemonSetController) plan(ds *appsv1.DaemonSet, tmpl *corev1.PodTemplateSpec, nodes []*corev1.Node,
	byNode map[string][]*corev1.Pod, hash string) daemonPlan {
	var p daemonPlan
	known := map[string]bool{}
	for _, node := range nodes {
		known[node.Name] = true
		run, keep := nodeShouldRun(node, tmpl)
		var running []*corev1.Pod
		for _, pod := range byNode[node.Name] {
			switch {
			case pod.DeletionTimestamp != nil:
			case pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded:
				p.delete = append(p.delete, pod)
			default:
				running = append(running, pod)
			}
		}
		switch {
		case run && len(running) == 0 && !anyTerminating(byNode[node.Name]):
			p.create = append(p.create, node.Name)
		case keep && len(running) > 1:
			p.delete = append(p.delete, running[1:]...)
		case !keep:
			p.delete = append(p.delete, running...)
		}
	}
	for nodeName, pods := range byNode {
		if known[nodeName] || nodeName == "" {
			continue
		}
		for _, pod := range pods { // the node was deleted
			if pod.DeletionTimestamp == nil {
				p.delete = append(p.delete, pod)
			}
		}
	}
	if len(p.create) == 0 && len(p.delete) == 0 && ds.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType {
		p.delete = c.rollingUpdate(ds, tmpl, nodes, byNode, hash)
	}
	return p
}

// anyTerminating reports whether a pod on the node is still shutting down:
// the replacement waits, so two daemons never run on one node.
func anyTerminating(pods []*corev1.Pod) bool {
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			return true
		}
	}
	return false
}

// rollingUpdate picks old-template pods to delete: unavailable ones
// always, available ones while fewer than maxUnavailable nodes lack an
// available daemon (upstream rollingUpdate with maxSurge 0).
func (c *daemonSetController) rollingUpdate(ds *appsv1.DaemonSet, tmpl *corev1.PodTemplateSpec, nodes []*corev1.Node,
	byNode map[string][]*corev1.Pod, hash string) []*corev1.Pod {
	now := c.now()
	desired := 0
	for _, n := range nodes {
		if run, _ := nodeShouldRun(n, tmpl); run {
			desired++
		}
	}
	var mu *intstr.IntOrString
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		mu = ru.MaxUnavailable
	}
	maxUnav, err := scaledValue(mu, desired, true)
	if err != nil || maxUnav == 0 {
		maxUnav = 1
	}
	unavailable := 0
	var oldAvailable, oldUnavailable []*corev1.Pod
	for _, n := range nodes {
		if run, _ := nodeShouldRun(n, tmpl); !run {
			continue
		}
		pod := firstActive(byNode[n.Name])
		if pod == nil || !isPodAvailable(pod, ds.Spec.MinReadySeconds, now) {
			unavailable++
		}
		if pod == nil || pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
			continue
		}
		if isPodAvailable(pod, ds.Spec.MinReadySeconds, now) {
			oldAvailable = append(oldAvailable, pod)
		} else {
			oldUnavailable = append(oldUnavailable, pod)
		}
	}
	out := oldUnavailable
	for _, pod := range oldAvailable {
		if unavailable >= maxUnav {
			break
		}
		out = append(out, pod)
		unavailable++
	}
	return out
}

func firstActive(pods []*corev1.Pod) *corev1.Pod {
	for _, p := range pods {
		if isPodActive(p) {
			return p
		}
	}
	return nil
}
