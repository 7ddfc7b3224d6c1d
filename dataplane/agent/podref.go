package agent

import "k8s.io/apimachinery/pkg/types"

// PodRef names a pod of this node by UID, from the agent's latest copy of
// it; ok is false for a pod the agent does not know (any more). The node's
// resource summary uses it to name the pod cgroups it measures. Safe for
// concurrent use.
func (a *Agent) PodRef(uid types.UID) (namespace, name string, ok bool) {
	p := a.pod(uid)
	if p == nil {
		return "", "", false
	}
	return p.Namespace, p.Name, true
}
