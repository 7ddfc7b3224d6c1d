package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/switchyard-net/switchyard/dataplane/podnet"
	"github.com/switchyard-net/switchyard/dataplane/runner"
)

// tokenRenewCheck is how often the agent looks for service-account tokens
// due for renewal (the shortest token lives 10 minutes, renewed after 8).
const tokenRenewCheck = 30 * time.Second

// runPods watches the node's pods and processes them until ctx ends.
func (a *Agent) runPods(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(a.cfg.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", a.cfg.NodeName).String()
		}))
	inf := factory.Core().V1().Pods().Informer()
	// The registration, not the informer, says when the handlers have seen
	// the initial list: cleanup reads a.pods, which the handlers fill, and
	// with the informer's HasSynced it could run before them and take every
	// running pod for an orphan (seen under load: a restarted agent
	// re-created a pod it should have adopted).
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    a.podSeen,
		UpdateFunc: func(_, obj any) { a.podSeen(obj) },
		DeleteFunc: a.podGone,
	})
	if err != nil {
		return fmt.Errorf("agent: pod informer: %w", err)
	}
	if err := a.objects.onChange(a.namespaceChanged); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	defer a.objects.shutdown()
	defer a.queue.ShutDown()
	if !a.objects.start(ctx) || !cache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
		return nil
	}
	a.cleanup(ctx)
	var wg sync.WaitGroup
	wg.Add(2 + a.cfg.Workers)
	go func() {
		defer wg.Done()
		for uid := range a.runner.Changes() {
			a.queue.Add(uid)
		}
	}()
	go func() {
		defer wg.Done()
		a.tokens.renewLoop(ctx, tokenRenewCheck, a.queue.Add)
	}()
	for range a.cfg.Workers {
		go func() {
			defer wg.Done()
			for a.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	a.queue.ShutDown()
	a.runner.Close() // ends Changes
	wg.Wait()
	return nil
}

func (a *Agent) podSeen(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	a.mu.Lock()
	a.pods[pod.UID] = pod
	a.mu.Unlock()
	a.queue.Add(pod.UID)
}

func (a *Agent) podGone(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	a.mu.Lock()
	delete(a.pods, pod.UID)
	a.mu.Unlock()
	a.tokens.forget(pod.UID)
	a.queue.Add(pod.UID)
}

// namespaceChanged queues the pods of a namespace whose ConfigMaps or
// Secrets changed: their volumes are refreshed and containers waiting for
// a missing key retry.
func (a *Agent) namespaceChanged(ns string) {
	a.mu.Lock()
	var uids []types.UID
	for uid, p := range a.pods {
		if p.Namespace == ns {
			uids = append(uids, uid)
		}
	}
	a.mu.Unlock()
	for _, uid := range uids {
		a.queue.Add(uid)
	}
}

func (a *Agent) pod(uid types.UID) *corev1.Pod {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pods[uid]
}

func (a *Agent) processNext(ctx context.Context) bool {
	uid, quit := a.queue.Get()
	if quit {
		return false
	}
	defer a.queue.Done(uid)
	if err := a.syncPod(ctx, uid); err != nil && ctx.Err() == nil {
		level := slog.LevelWarn
		if apierrors.IsConflict(err) { // a newer pod object is on its way
			level = slog.LevelDebug
		}
		a.log.Log(ctx, level, "sync pod", "uid", uid, "err", err)
		a.queue.AddRateLimited(uid)
		return true
	}
	a.queue.Forget(uid)
	return true
}

// syncPod converges one pod: wired and running, terminated and deleted,
// or (gone from the API) cleaned up.
func (a *Agent) syncPod(ctx context.Context, uid types.UID) error {
	pod := a.pod(uid)
	switch {
	case pod == nil:
		return a.teardown(ctx, uid, 0)
	case pod.DeletionTimestamp != nil:
		return a.finishDeletion(ctx, pod)
	case podTerminal(pod) && a.runnerDone(pod.UID):
		return a.releaseNetwork(pod)
	}
	ip, netnsPath, err := a.wire(ctx, pod)
	if err != nil {
		return errors.Join(err, a.writeWireFailure(ctx, pod, err))
	}
	err = a.runner.Sync(ctx, runner.PodSpec{
		Pod:        pod,
		NetNSPath:  netnsPath,
		PodIP:      ip,
		ResolvConf: resolvConf(pod, a.cfg.ClusterDNS, a.cfg.ClusterDomain, a.hostDNS),
		Hosts:      hostsFile(pod, ip, a.cfg.ClusterDomain),

		NodeAllocatable: a.allocatable,
	})
	if err != nil {
		return fmt.Errorf("run pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return a.writeStatus(ctx, pod, ip)
}

// wire gives the pod its IP and network namespace (once per agent run;
// later syncs reuse them). hostNetwork pods get the node's address.
func (a *Agent) wire(ctx context.Context, pod *corev1.Pod) (netip.Addr, string, error) {
	if pod.Spec.HostNetwork {
		return a.getHostIP(), "", nil
	}
	ip, err := a.pool.Allocate(string(pod.UID))
	if err != nil {
		return ip, "", fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	a.mu.Lock()
	path, ok := a.wired[pod.UID]
	a.mu.Unlock()
	if ok {
		return ip, path, nil
	}
	res, err := a.dp.EnsurePod(ctx, podnet.PodConfig{
		NetNS:    a.netnsName(pod.UID),
		HostVeth: podnet.VethName(string(pod.UID)),
		Addr:     netip.PrefixFrom(ip, a.node.PodCIDR.Bits()),
		Gateway:  a.node.Gateway,
		MTU:      a.cfg.MTU,
	})
	if err != nil {
		return ip, "", fmt.Errorf("wire pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	a.mu.Lock()
	a.wired[pod.UID] = res.NetNSPath
	a.mu.Unlock()
	a.log.Info("pod wired", "pod", pod.Namespace+"/"+pod.Name, "ip", ip, "netns", res.NetNSPath)
	return ip, res.NetNSPath, nil
}

// podTerminal: the API has the pod Succeeded or Failed; it never runs again.
func podTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// runnerDone reports whether none of the pod's processes runs (or the
// runner does not know the pod at all).
func (a *Agent) runnerDone(uid types.UID) bool {
	st, ok := a.runner.Status(uid)
	return !ok || st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed
}

// releaseNetwork gives back the network of a pod that finished for good,
// as kubelet removes a terminated pod's sandbox: its namespace and veth go
// and its IP returns to the pool, while the pod object, its status and its
// logs stay until the pod is deleted.
func (a *Agent) releaseNetwork(pod *corev1.Pod) error {
	if pod.Spec.HostNetwork {
		return nil
	}
	ctx := context.Background() // finish even while stopping: nothing waits long here
	if err := a.dp.RemovePod(ctx, a.netnsName(pod.UID), podnet.VethName(string(pod.UID))); err != nil {
		return fmt.Errorf("release network of finished pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	if err := a.pool.Release(string(pod.UID)); err != nil {
		return fmt.Errorf("release IP of finished pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	a.mu.Lock()
	_, was := a.wired[pod.UID]
	delete(a.wired, pod.UID)
	a.mu.Unlock()
	if was {
		a.log.Info("finished pod unwired", "pod", pod.Namespace+"/"+pod.Name, "phase", pod.Status.Phase, "netns", a.netnsName(pod.UID))
	}
	return nil
}

// finishDeletion terminates a pod being deleted within its grace period,
// unwires it and then deletes it from the API for good.
func (a *Agent) finishDeletion(ctx context.Context, pod *corev1.Pod) error {
	if err := a.teardown(ctx, pod.UID, gracePeriod(pod)); err != nil {
		return err
	}
	err := a.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To(int64(0)),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	switch {
	case err == nil:
		a.log.Info("pod deleted", "pod", pod.Namespace+"/"+pod.Name, "uid", pod.UID)
	case !apierrors.IsNotFound(err) && !apierrors.IsConflict(err): // conflict: another pod of that name
		return fmt.Errorf("delete pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// gracePeriod is deletionGracePeriodSeconds, else the pod's
// terminationGracePeriodSeconds, else 30s.
func gracePeriod(pod *corev1.Pod) time.Duration {
	switch {
	case pod.DeletionGracePeriodSeconds != nil:
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

// teardown stops the pod's processes, removes its namespace and veth and
// releases its IP. Every step is idempotent.
func (a *Agent) teardown(ctx context.Context, uid types.UID, grace time.Duration) error {
	var errs []error
	if err := a.runner.Stop(ctx, uid, grace); err != nil {
		errs = append(errs, err)
	}
	if err := a.dp.RemovePod(ctx, a.netnsName(uid), podnet.VethName(string(uid))); err != nil {
		errs = append(errs, err)
	}
	if err := a.pool.Release(string(uid)); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tear down pod %s: %w", uid, err)
	}
	a.mu.Lock()
	_, was := a.wired[uid]
	delete(a.wired, uid)
	a.mu.Unlock()
	if was {
		a.log.Info("pod unwired", "uid", uid, "netns", a.netnsName(uid))
	}
	return nil
}

// writeWireFailure tells the pod's owner why it does not start: Pending
// with PodReadyToStartContainers False, as kubelet reports a sandbox that
// cannot be created.
func (a *Agent) writeWireFailure(ctx context.Context, pod *corev1.Pod, cause error) error {
	st := *pod.Status.DeepCopy()
	st.Phase = corev1.PodPending
	now := metav1.NewTime(a.now())
	st.Conditions = mergeConditions(st.Conditions, []corev1.PodCondition{{
		Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionFalse,
		Reason: "FailedCreatePodSandBox", Message: cause.Error(), LastTransitionTime: now,
	}})
	if st = roundTrip(st); equality.Semantic.DeepEqual(st, pod.Status) {
		return nil
	}
	p := pod.DeepCopy()
	p.Status = st
	_, err := a.cfg.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// writeStatus writes the pod's status if it differs from the API's.
func (a *Agent) writeStatus(ctx context.Context, pod *corev1.Pod, ip netip.Addr) error {
	rs, ok := a.runner.Status(pod.UID)
	st, changed := composeStatus(pod, rs, ok, ip, a.getHostIP())
	if !changed {
		return nil
	}
	if wait, held := a.heldBack(pod.UID, st); held {
		a.queue.AddAfter(pod.UID, wait)
		return nil
	}
	p := pod.DeepCopy()
	p.Status = st
	_, err := a.cfg.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update status of %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}
