package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/client-go/informers"

	"github.com/switchyard-net/switchyard/controlplane/lbipam"
)

// controller is one control loop. Its constructor registers informers and
// event handlers on the factory; run is called once the caches synced and
// blocks until ctx is done and every worker it started has returned.
type controller interface {
	run(ctx context.Context)
}

var (
	_ controller = (*endpointSliceController)(nil)
	_ controller = (*nodeIPAM)(nil)
	_ controller = (*scheduler)(nil)
	_ controller = (*endpointsMirror)(nil)
	_ controller = (*serviceAccountController)(nil)
	_ controller = (*nodeLifecycle)(nil)
	_ controller = (*replicaSetController)(nil)
	_ controller = (*deploymentController)(nil)
	_ controller = (*daemonSetController)(nil)
	_ controller = (*garbageCollector)(nil)
)

// runFunc is a controller of another package, by its Run method.
type runFunc func(ctx context.Context)

func (f runFunc) run(ctx context.Context) { f(ctx) }

// runControllers runs one term of leadership: fresh informers, every
// controller and the repair loop, until ctx is done.
func (m *Manager) runControllers(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	factory := informers.NewSharedInformerFactory(m.cfg.Client, m.cfg.ResyncPeriod)
	defer factory.Shutdown() // after cancel: waits for the informer goroutines
	defer cancel()
	ev := newTermEvents(ctx, m.cfg.Client, m.cfg.SchedulerClient, m.cfg.Identity, m.log)
	defer ev.shutdown() // after the controllers stopped
	ctrls, err := m.newControllers(factory, ev)
	if err != nil {
		m.log.Error("build controllers", "err", err)
		<-ctx.Done()
		return
	}
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			m.log.Info("informer cache not synced before stop", "type", typ.String())
			return
		}
	}
	var wg sync.WaitGroup
	for _, c := range ctrls {
		wg.Go(func() { c.run(ctx) })
	}
	wg.Go(func() { m.repairLoop(ctx) })
	wg.Wait()
}

func (m *Manager) newControllers(f informers.SharedInformerFactory, ev *termEvents) ([]controller, error) {
	eps, err := newEndpointSliceController(m.loopClient(LoopEndpointSlice), f, m.cfg.EndpointSliceWorkers, m.cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("endpointslice controller: %w", err)
	}
	sched, err := newScheduler(m.cfg.SchedulerClient, f, m.cfg.Bind, m.cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	mirror, err := newEndpointsMirror(m.loopClient(LoopEndpointsMirror), f, m.cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("endpoints mirror: %w", err)
	}
	accounts, err := newServiceAccountController(m.loopClient(LoopServiceAccount), f, m.cfg.RootCA, m.cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("serviceaccount controller: %w", err)
	}
	sched.events = ev.scheduler()
	lifecycle := newNodeLifecycle(m.loopClient(LoopNode), f, m.cfg.NodeMonitorGracePeriod, m.cfg.PodEvictionTimeout, m.cfg.Logger)
	lifecycle.events = ev.recorder("node-controller")
	ctrls := []controller{eps, sched, mirror, accounts, lifecycle}
	workloads, err := m.workloadControllers(f, ev)
	if err != nil {
		return nil, err
	}
	ctrls = append(ctrls, workloads...)
	if m.cfg.Dynamic != nil {
		gc, err := newGarbageCollector(m.loopDynamic(LoopGarbageCollector), m.cfg.Client.Discovery(), m.cfg.ResyncPeriod, m.cfg.WorkloadWorkers, m.cfg.Logger)
		if err != nil {
			m.log.Warn("garbage collector off", "err", err) // e.g. discovery failed; next term retries
		} else {
			ctrls = append(ctrls, gc)
		}
	}
	if !m.cfg.LBPool.Empty() {
		lb, err := lbipam.New(lbipam.Config{Client: m.loopClient(LoopLBIPAM), Factory: f, Pool: m.cfg.LBPool,
			Recorder: ev.recorder("lbipam-controller"), Logger: m.cfg.Logger})
		if err != nil {
			return nil, fmt.Errorf("lbipam controller: %w", err)
		}
		ctrls = append(ctrls, runFunc(lb.Run))
	}
	if m.cfg.NodeCIDRs != nil {
		ipam, err := newNodeIPAM(m.loopClient(LoopNode), f, m.cfg.NodeCIDRs, m.cfg.Logger)
		if err != nil {
			return nil, fmt.Errorf("node ipam controller: %w", err)
		}
		ctrls = append(ctrls, ipam)
	}
	return ctrls, nil
}

// repairLoop runs every Repairer now and then every RepairInterval.
func (m *Manager) repairLoop(ctx context.Context) {
	if len(m.cfg.Repair) == 0 {
		return
	}
	t := time.NewTicker(m.cfg.RepairInterval)
	defer t.Stop()
	for {
		for _, r := range m.cfg.Repair {
			if err := r.Repair(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("repair failed", "repairer", r.Name(), "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
