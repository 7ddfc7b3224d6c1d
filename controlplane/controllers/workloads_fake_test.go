package controllers

import (
	"fmt"
	"strconv"
	"sync"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// newWorkloadClient is newFakeClient behaving like the API server where
// the workload controllers depend on it: every write gets a new
// resourceVersion and an update carrying a stale one fails with a
// Conflict (a controller acting on an old cache must not overwrite newer
// state); created objects get a UID, a name from generateName and
// generation 1; a status update changes only status (and a Deployment's
// annotations); any other update keeps status and bumps the generation
// when the spec changed.
func newWorkloadClient(objs ...runtime.Object) *fake.Clientset {
	c := newFakeClient(objs...)
	f := &apiFake{c: c}
	c.PrependReactor("create", "*", f.create)
	c.PrependReactor("update", "*", f.update)
	c.PrependReactor("patch", "*", f.patch)
	return c
}

type apiFake struct {
	c  *fake.Clientset
	mu sync.Mutex // serialises writes, as etcd does
	rv int64      // guarded by mu
}

func (f *apiFake) nextRV() string { f.rv++; return strconv.FormatInt(f.rv, 10) }

func (f *apiFake) create(action k8stesting.Action) (bool, runtime.Object, error) {
	ca := action.(k8stesting.CreateAction)
	if ca.GetSubresource() != "" {
		return false, nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	obj := ca.GetObject().DeepCopyObject()
	m, err := meta.Accessor(obj)
	if err != nil {
		return false, nil, nil
	}
	if m.GetName() == "" && m.GetGenerateName() != "" {
		m.SetName(fmt.Sprintf("%s%05d", m.GetGenerateName(), f.rv+1))
	}
	if m.GetUID() == "" {
		m.SetUID(types.UID(fmt.Sprintf("uid-%d-%s", f.rv+1, m.GetName())))
	}
	if m.GetGeneration() == 0 {
		m.SetGeneration(1)
	}
	m.SetResourceVersion(f.nextRV())
	if err := f.c.Tracker().Create(action.GetResource(), obj, ca.GetNamespace()); err != nil {
		return true, nil, err
	}
	return true, obj.DeepCopyObject(), nil
}

func (f *apiFake) update(action k8stesting.Action) (bool, runtime.Object, error) {
	ua := action.(k8stesting.UpdateAction)
	m, err := meta.Accessor(ua.GetObject())
	if err != nil {
		return false, nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, err := f.c.Tracker().Get(action.GetResource(), action.GetNamespace(), m.GetName())
	if err != nil {
		return true, nil, err
	}
	cm, _ := meta.Accessor(cur)
	if m.GetResourceVersion() != "" && m.GetResourceVersion() != cm.GetResourceVersion() {
		return true, nil, apierrors.NewConflict(action.GetResource().GroupResource(), m.GetName(),
			fmt.Errorf("resourceVersion %s, stored %s", m.GetResourceVersion(), cm.GetResourceVersion()))
	}
	curU, err1 := runtime.DefaultUnstructuredConverter.ToUnstructured(cur)
	newU, err2 := runtime.DefaultUnstructuredConverter.ToUnstructured(ua.GetObject())
	if err1 != nil || err2 != nil {
		return false, nil, nil
	}
	out := newU
	if action.GetSubresource() == "status" {
		out = curU
		out["status"] = newU["status"]
		if action.GetResource().Resource == "deployments" {
			out["metadata"].(map[string]any)["annotations"] = newU["metadata"].(map[string]any)["annotations"]
		}
	} else {
		out["status"] = curU["status"]
		gen, _ := curU["metadata"].(map[string]any)["generation"].(int64)
		if !equality.Semantic.DeepEqual(curU["spec"], newU["spec"]) {
			gen++
		}
		out["metadata"].(map[string]any)["generation"] = gen
	}
	obj := cur.DeepCopyObject()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(out, obj); err != nil {
		return true, nil, err
	}
	om, _ := meta.Accessor(obj)
	om.SetResourceVersion(f.nextRV())
	if err := f.c.Tracker().Update(action.GetResource(), obj, action.GetNamespace()); err != nil {
		return true, nil, err
	}
	return true, obj.DeepCopyObject(), nil
}

// patch applies the patch as the fake does, then gives the result a new
// resourceVersion.
func (f *apiFake) patch(action k8stesting.Action) (bool, runtime.Object, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	handled, obj, err := k8stesting.ObjectReaction(f.c.Tracker())(action)
	if err != nil || obj == nil {
		return handled, obj, err
	}
	obj = obj.DeepCopyObject()
	m, _ := meta.Accessor(obj)
	m.SetResourceVersion(f.nextRV())
	return true, obj, f.c.Tracker().Update(action.GetResource(), obj, action.GetNamespace())
}
