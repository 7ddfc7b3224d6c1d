package controllers

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/informers"
)

// workloadControllers builds the ReplicaSet, Deployment and DaemonSet
// controllers when the API serves apps/v1. Their informers would never
// sync against a server without it, which would stall every controller
// of the term, so an API server without apps/v1 simply runs without them.
func (m *Manager) workloadControllers(f informers.SharedInformerFactory, ev *termEvents) ([]controller, error) {
	served, err := servedResources(m.cfg.Client.Discovery(), appsv1.SchemeGroupVersion.String())
	if err != nil {
		m.log.Info("apps/v1 not served; workload controllers off", "err", err)
		return nil, nil
	}
	var ctrls []controller
	if served["replicasets"] {
		rs, err := newReplicaSetController(m.loopClient(LoopReplicaSet), f, m.cfg.WorkloadWorkers, m.cfg.Logger)
		if err != nil {
			return nil, fmt.Errorf("replicaset controller: %w", err)
		}
		rs.events = ev.recorder("replicaset-controller")
		ctrls = append(ctrls, rs)
	}
	if served["deployments"] && served["replicasets"] {
		d, err := newDeploymentController(m.loopClient(LoopDeployment), f, m.cfg.WorkloadWorkers, m.cfg.Logger)
		if err != nil {
			return nil, fmt.Errorf("deployment controller: %w", err)
		}
		d.events = ev.recorder("deployment-controller")
		ctrls = append(ctrls, d)
	}
	if served["daemonsets"] {
		ds, err := newDaemonSetController(m.loopClient(LoopDaemonSet), f, m.cfg.WorkloadWorkers, served["controllerrevisions"], m.cfg.Logger)
		if err != nil {
			return nil, fmt.Errorf("daemonset controller: %w", err)
		}
		ds.events = ev.recorder("daemonset-controller")
		ctrls = append(ctrls, ds)
	}
	return ctrls, nil
}

// servedResources lists the top-level resources (no subresources) the API
// serves in group version gv.
func servedResources(d discovery.DiscoveryInterface, gv string) (map[string]bool, error) {
	list, err := d.ServerResourcesForGroupVersion(gv)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", gv, err)
	}
	out := map[string]bool{}
	for _, r := range list.APIResources {
		if !strings.Contains(r.Name, "/") {
			out[r.Name] = true
		}
	}
	return out, nil
}
