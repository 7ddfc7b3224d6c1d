package controllers

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	k8stesting "k8s.io/client-go/testing"
)

var (
	podsGVR        = corev1.SchemeGroupVersion.WithResource("pods")
	configMapsGVR  = corev1.SchemeGroupVersion.WithResource("configmaps")
	deploymentsGVR = appsv1.SchemeGroupVersion.WithResource("deployments")
	replicaSetsGVR = appsv1.SchemeGroupVersion.WithResource("replicasets")
)

// preferredDiscovery serves its Resources as the preferred ones (the
// fake's ServerPreferredResources returns nothing).
type preferredDiscovery struct{ *fakediscovery.FakeDiscovery }

func (d preferredDiscovery) ServerPreferredResources() ([]*metav1.APIResourceList, error) {
	return d.Resources, nil
}

func gcDiscovery() preferredDiscovery {
	verbs := metav1.Verbs{"create", "delete", "get", "list", "patch", "update", "watch"}
	res := func(name, kind string) metav1.APIResource {
		return metav1.APIResource{Name: name, Kind: kind, Namespaced: true, Verbs: verbs}
	}
	c := fake.NewClientset()
	c.Resources = []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{res("pods", "Pod"), res("configmaps", "ConfigMap"),
			{Name: "pods/status", Kind: "Pod", Namespaced: true, Verbs: metav1.Verbs{"get", "patch", "update"}}}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{res("deployments", "Deployment"), res("replicasets", "ReplicaSet")}},
	}
	return preferredDiscovery{c.Discovery().(*fakediscovery.FakeDiscovery)}
}

// newGCClient returns a fake dynamic client that deletes like the API
// server: a foreground or orphan delete marks the object deleted with the
// matching finalizer, and removing the last finalizer of such an object
// deletes it.
func newGCClient(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	var us []runtime.Object // unstructured throughout, as the dynamic client sees them
	for _, o := range objs {
		gvks, _, _ := scheme.Scheme.ObjectKinds(o)
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			panic(err)
		}
		u := &unstructured.Unstructured{Object: m}
		u.SetGroupVersionKind(gvks[0])
		us = append(us, u)
	}
	c := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		podsGVR: "PodList", configMapsGVR: "ConfigMapList", deploymentsGVR: "DeploymentList", replicaSetsGVR: "ReplicaSetList",
	}, us...)
	c.PrependReactor("delete", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		da := a.(k8stesting.DeleteActionImpl)
		p := da.DeleteOptions.PropagationPolicy
		if p == nil || *p == metav1.DeletePropagationBackground {
			return false, nil, nil
		}
		fin := metav1.FinalizerDeleteDependents
		if *p == metav1.DeletePropagationOrphan {
			fin = metav1.FinalizerOrphanDependents
		}
		obj, err := c.Tracker().Get(a.GetResource(), a.GetNamespace(), da.Name)
		if err != nil {
			return true, nil, err
		}
		m, _ := meta.Accessor(obj)
		now := metav1.Now()
		m.SetDeletionTimestamp(&now)
		m.SetFinalizers(append(m.GetFinalizers(), fin))
		return true, nil, c.Tracker().Update(a.GetResource(), obj, a.GetNamespace())
	})
	c.PrependReactor("patch", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		pa := a.(k8stesting.PatchActionImpl)
		handled, obj, err := k8stesting.ObjectReaction(c.Tracker())(a)
		if err != nil || obj == nil {
			return handled, obj, err
		}
		if m, _ := meta.Accessor(obj); m.GetDeletionTimestamp() != nil && len(m.GetFinalizers()) == 0 {
			return true, obj, c.Tracker().Delete(a.GetResource(), a.GetNamespace(), pa.Name)
		}
		return handled, obj, err
	})
	return c
}

func startGC(t *testing.T, c *dynamicfake.FakeDynamicClient) {
	t.Helper()
	gc, err := newGarbageCollector(c, gcDiscovery(), 0, 2, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	if len(gc.kinds) != 4 {
		t.Fatalf("collects %d kinds, want 4 (subresources left out)", len(gc.kinds))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); gc.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func owned(obj metav1.Object, kind string, owner metav1.Object, block bool) {
	gv := "v1"
	if kind != "Pod" && kind != "ConfigMap" {
		gv = "apps/v1"
	}
	obj.SetOwnerReferences(append(obj.GetOwnerReferences(), metav1.OwnerReference{APIVersion: gv, Kind: kind,
		Name: owner.GetName(), UID: owner.GetUID(), Controller: ptr(true), BlockOwnerDeletion: ptr(block)}))
}

// chain builds Deployment web → ReplicaSet web-1 → Pods web-1-a, web-1-b.
func chain(deployFinalizer string) (*appsv1.Deployment, *appsv1.ReplicaSet, []*corev1.Pod) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "d-uid"}}
	if deployFinalizer != "" {
		now := metav1.Now()
		d.DeletionTimestamp, d.Finalizers = &now, []string{deployFinalizer}
	}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default", UID: "rs-uid"}}
	owned(rs, "Deployment", d, true)
	var pods []*corev1.Pod
	for _, n := range []string{"a", "b"} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1-" + n, Namespace: "default", UID: types.UID("pod-" + n)}}
		owned(p, "ReplicaSet", rs, true)
		pods = append(pods, p)
	}
	return d, rs, pods
}

func exists(t *testing.T, c *dynamicfake.FakeDynamicClient, gvr schema.GroupVersionResource, name string) bool {
	_, err := c.Resource(gvr).Namespace("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

func TestGarbageCollectorBackground(t *testing.T) {
	_, rs, pods := chain("") // the deployment is gone
	live := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "default", UID: "api-uid"}}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "api-config", Namespace: "default", UID: "cm-uid"}}
	owned(cm, "Deployment", live, false)
	shared := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "shared", Namespace: "default", UID: "shared-uid"}}
	owned(shared, "Deployment", live, false)
	owned(shared, "ReplicaSet", &metav1.ObjectMeta{Name: "gone", UID: "gone-uid"}, false)
	// Owned by an earlier "api" (another UID): its owner is gone too.
	stale := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "stale", Namespace: "default", UID: "stale-uid"}}
	owned(stale, "Deployment", &metav1.ObjectMeta{Name: "api", UID: "earlier-api-uid"}, false)
	c := newGCClient(rs, pods[0], pods[1], live, cm, shared, stale)
	startGC(t, c)
	eventually(t, "replicaset and its pods deleted", func() (bool, error) {
		return !exists(t, c, replicaSetsGVR, "web-1") && !exists(t, c, podsGVR, "web-1-a") && !exists(t, c, podsGVR, "web-1-b"), nil
	})
	eventually(t, "configmap of a replaced owner deleted", func() (bool, error) {
		return !exists(t, c, configMapsGVR, "stale"), nil
	})
	eventually(t, "dangling reference dropped", func() (bool, error) {
		u, err := c.Resource(configMapsGVR).Namespace("default").Get(context.Background(), "shared", metav1.GetOptions{})
		return err == nil && len(u.GetOwnerReferences()) == 1 && u.GetOwnerReferences()[0].Name == "api", nil
	})
	if !exists(t, c, configMapsGVR, "api-config") {
		t.Error("a configmap whose owner exists was deleted")
	}
}

func TestGarbageCollectorForeground(t *testing.T) {
	d, rs, pods := chain(metav1.FinalizerDeleteDependents)
	c := newGCClient(d, rs, pods[0], pods[1])
	startGC(t, c)
	eventually(t, "whole chain deleted", func() (bool, error) {
		return !exists(t, c, deploymentsGVR, "web") && !exists(t, c, replicaSetsGVR, "web-1") &&
			!exists(t, c, podsGVR, "web-1-a") && !exists(t, c, podsGVR, "web-1-b"), nil
	})
	// The owner went last: its finalizer was removed only after the
	// replica set (itself deleted in foreground) and the pods were gone.
	var order []string
	for _, a := range c.Actions() {
		if pa, ok := a.(k8stesting.PatchActionImpl); ok && a.GetResource() == deploymentsGVR {
			order = append(order, "deployment-finalizer:"+pa.Name)
		}
		if da, ok := a.(k8stesting.DeleteActionImpl); ok {
			order = append(order, "delete:"+da.Name)
		}
	}
	if len(order) == 0 || order[len(order)-1] != "deployment-finalizer:web" {
		t.Errorf("actions %v: want the deployment's finalizer removed last", order)
	}
}

func TestGarbageCollectorOrphan(t *testing.T) {
	d, rs, pods := chain(metav1.FinalizerOrphanDependents)
	c := newGCClient(d, rs, pods[0], pods[1])
	startGC(t, c)
	defer func() {
		if t.Failed() {
			for _, a := range c.Actions() {
				t.Logf("%s %s %v", a.GetVerb(), a.GetResource().Resource, a)
			}
		}
	}()
	eventually(t, "deployment gone, replica set orphaned", func() (bool, error) {
		u, err := c.Resource(replicaSetsGVR).Namespace("default").Get(context.Background(), "web-1", metav1.GetOptions{})
		return !exists(t, c, deploymentsGVR, "web") && err == nil && len(u.GetOwnerReferences()) == 0, nil
	})
	time.Sleep(100 * time.Millisecond)
	if !exists(t, c, podsGVR, "web-1-a") || !exists(t, c, podsGVR, "web-1-b") {
		t.Error("orphaning deleted the replica set's pods")
	}
}
