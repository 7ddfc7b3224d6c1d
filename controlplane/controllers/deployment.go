package controllers

import (
	"context"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

var deploymentKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// deploymentController rolls Deployments out through ReplicaSets named
// <deployment>-<pod-template-hash>: RollingUpdate within maxSurge and
// maxUnavailable, Recreate, proportional scaling during a rollout,
// pause, revision history and the Progressing/Available conditions that
// `kubectl rollout status` reads. It follows upstream
// pkg/controller/deployment (deployment_controller.go, sync.go,
// rolling.go, recreate.go, progress.go).
type deploymentController struct {
	events  record.EventRecorder // nil: none
	client  kubernetes.Interface
	ds      appslisters.DeploymentLister
	rss     appslisters.ReplicaSetLister
	pods    corelisters.PodLister
	queue   *queue // of Deployment keys
	workers int
	log     *slog.Logger
	now     func() time.Time
}

func newDeploymentController(client kubernetes.Interface, f informers.SharedInformerFactory, workers int,
	log *slog.Logger) (*deploymentController, error) {
	c := &deploymentController{
		client:  client,
		ds:      f.Apps().V1().Deployments().Lister(),
		rss:     f.Apps().V1().ReplicaSets().Lister(),
		pods:    f.Core().V1().Pods().Lister(),
		workers: workers,
		log:     log.With("component", "deployment-controller"),
		now:     time.Now,
	}
	c.queue = newQueue("deployment", c.log, c.sync)
	if _, err := f.Apps().V1().Deployments().Informer().AddEventHandler(c.queue.keyHandler()); err != nil {
		return nil, err
	}
	if _, err := f.Apps().V1().ReplicaSets().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.rsChanged,
		UpdateFunc: c.rsUpdated,
		DeleteFunc: c.rsChanged,
	}); err != nil {
		return nil, err
	}
	// A Recreate rollout waits for the old pods to be gone.
	_, err := f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: c.podDeleted,
	})
	return c, err
}

func (c *deploymentController) run(ctx context.Context) { c.queue.run(ctx, c.workers) }

// ownerOf returns the key of the Deployment controlling obj.
func (c *deploymentController) ownerOf(obj metav1.Object) (string, bool) {
	ref := metav1.GetControllerOfNoCopy(obj)
	if ref == nil || ref.Kind != deploymentKind.Kind {
		return "", false
	}
	d, err := c.ds.Deployments(obj.GetNamespace()).Get(ref.Name)
	if err != nil || d.UID != ref.UID {
		return "", false
	}
	return d.Namespace + "/" + d.Name, true
}

func (c *deploymentController) rsChanged(obj any) {
	rs, ok := tombstone(obj).(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	if key, ok := c.ownerOf(rs); ok {
		c.queue.Add(key)
		return
	}
	if metav1.GetControllerOfNoCopy(rs) == nil {
		c.enqueueMatching(rs)
	}
}

func (c *deploymentController) rsUpdated(oldObj, newObj any) {
	old, cur := oldObj.(*appsv1.ReplicaSet), newObj.(*appsv1.ReplicaSet)
	if key, ok := c.ownerOf(old); ok {
		c.queue.Add(key)
	}
	if !labels.Equals(old.Labels, cur.Labels) && metav1.GetControllerOfNoCopy(old) == nil {
		c.enqueueMatching(old)
	}
	c.rsChanged(cur)
}

// enqueueMatching queues the deployments whose selector matches an
// orphan ReplicaSet.
func (c *deploymentController) enqueueMatching(rs *appsv1.ReplicaSet) {
	ds, _ := c.ds.Deployments(rs.Namespace).List(labels.Everything())
	for _, d := range ds {
		if selectorMatches(d.Spec.Selector, rs.Labels) {
			c.queue.Add(d.Namespace + "/" + d.Name)
		}
	}
}

func (c *deploymentController) podDeleted(obj any) {
	pod, ok := tombstone(obj).(*corev1.Pod)
	if !ok {
		return
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || ref.Kind != rsKind.Kind {
		return
	}
	rs, err := c.rss.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	if key, ok := c.ownerOf(rs); ok {
		if d, err := c.ds.Deployments(pod.Namespace).Get(metav1.GetControllerOfNoCopy(rs).Name); err == nil && !isRolling(d) {
			c.queue.Add(key)
		}
	}
}

// sync converges one Deployment (upstream syncDeployment).
func (c *deploymentController) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.ds.Deployments(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	d := cached.DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() {
		return nil // an empty selector would select everything: upstream refuses too
	}
	rss, err := c.claimReplicaSets(ctx, d, sel)
	if err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		return c.syncStatusOnly(ctx, d, rss)
	}
	if err := c.checkPausedConditions(ctx, d); err != nil {
		return err
	}
	if d.Spec.Paused {
		return c.syncScale(ctx, d, rss)
	}
	if c.isScalingEvent(ctx, d, rss) {
		return c.syncScale(ctx, d, rss)
	}
	if isRolling(d) {
		return c.rolloutRolling(ctx, d, rss)
	}
	return c.rolloutRecreate(ctx, d, rss, sel)
}

// claimReplicaSets adopts and releases ReplicaSets by the selector.
func (c *deploymentController) claimReplicaSets(ctx context.Context, d *appsv1.Deployment, sel labels.Selector) ([]*appsv1.ReplicaSet, error) {
	all, err := c.rss.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	cl := &claimer{
		owner: d, ref: controllerRef(d, deploymentKind), selector: sel,
		patch: func(ctx context.Context, name string, p []byte) error {
			_, err := c.client.AppsV1().ReplicaSets(d.Namespace).Patch(ctx, name, types.JSONPatchType, p, metav1.PatchOptions{})
			return err
		},
		fresh: func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		},
	}
	claimed, err := claim(ctx, cl, all)
	if err != nil {
		return nil, err
	}
	out := make([]*appsv1.ReplicaSet, len(claimed))
	for i, rs := range claimed {
		out[i] = rs.DeepCopy() // the sync scales them in place
	}
	return out, nil
}

// isScalingEvent reports whether the deployment was resized since its
// active ReplicaSets were (their desired-replicas annotation differs).
func (c *deploymentController) isScalingEvent(ctx context.Context, d *appsv1.Deployment, rss []*appsv1.ReplicaSet) bool {
	newRS, old, err := c.replicaSetsAndSyncRevision(ctx, d, rss, false)
	if err != nil {
		return false
	}
	for _, rs := range activeRSs(allRSs(old, newRS)) {
		if desired, ok := annotatedInt(rs, desiredReplicasAnnotation); ok && desired != replicas(d) {
			return true
		}
	}
	return false
}
