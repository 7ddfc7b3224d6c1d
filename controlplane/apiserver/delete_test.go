package apiserver

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestDeletePropagationFinalizers(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.client.AppsV1().ReplicaSets("default")
	tests := []struct {
		policy    metav1.DeletionPropagation
		finalizer string // "" means deleted at once
	}{
		{metav1.DeletePropagationForeground, metav1.FinalizerDeleteDependents},
		{metav1.DeletePropagationOrphan, metav1.FinalizerOrphanDependents},
		{metav1.DeletePropagationBackground, ""},
		{"", ""}, // the default for apps/v1 is Background
	}
	for _, tc := range tests {
		t.Run(string(tc.policy), func(t *testing.T) {
			name := "rs-" + string(tc.policy)
			if tc.policy == "" {
				name = "rs-default"
			}
			name = strings.ToLower(name)
			if _, err := c.Create(ctx, replicaSet(name, 1), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			opts := metav1.DeleteOptions{}
			if tc.policy != "" {
				opts.PropagationPolicy = &tc.policy
			}
			if err := c.Delete(ctx, name, opts); err != nil {
				t.Fatal(err)
			}
			got, err := c.Get(ctx, name, metav1.GetOptions{})
			if tc.finalizer == "" {
				if !apierrors.IsNotFound(err) {
					t.Fatalf("after a %q delete: %v, want 404", tc.policy, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("after a %s delete the object must stay until its finalizer is removed: %v", tc.policy, err)
			}
			if got.DeletionTimestamp == nil || !slices.Equal(got.Finalizers, []string{tc.finalizer}) {
				t.Fatalf("deletionTimestamp %v finalizers %v, want set and [%s]", got.DeletionTimestamp, got.Finalizers, tc.finalizer)
			}
			// Deleting again keeps the deletion as it is.
			if err := c.Delete(ctx, name, opts); err != nil {
				t.Fatal(err)
			}
			// The garbage collector removes the finalizer; the object goes.
			got.Finalizers = nil
			if _, err := c.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Fatalf("after removing the last finalizer: %v, want 404", err)
			}
		})
	}
}

func TestFinalizersHoldDeletion(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.client.CoreV1().ConfigMaps("default")
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: []string{"example.com/keep", "example.com/audit"}}}
	if _, err := c.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, "held", metav1.GetOptions{})
	if err != nil || got.DeletionTimestamp == nil || got.DeletionGracePeriodSeconds == nil || *got.DeletionGracePeriodSeconds != 0 {
		t.Fatalf("held object: %v %+v", err, got)
	}
	// No finalizer may be added once deletion started.
	got.Finalizers = append(got.Finalizers, "example.com/late")
	_, err = c.Update(ctx, got, metav1.UpdateOptions{})
	assertFieldError(t, err, "metadata.finalizers")

	// Removing one of two keeps the object; removing the last deletes it.
	patch := `{"metadata":{"finalizers":["example.com/audit"]}}`
	if _, err := c.Patch(ctx, "held", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "held", metav1.GetOptions{}); err != nil {
		t.Fatalf("object with a finalizer left: %v", err)
	}
	if _, err := c.Patch(ctx, "held", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "held", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after the last finalizer: %v, want 404", err)
	}
}

func TestDeleteOptionsValidated(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.client.CoreV1().ConfigMaps("default")
	if _, err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	orphan := false
	fg := metav1.DeletePropagationForeground
	err := c.Delete(ctx, "a", metav1.DeleteOptions{OrphanDependents: &orphan, PropagationPolicy: &fg})
	if !apierrors.IsInvalid(err) {
		t.Errorf("orphanDependents with propagationPolicy: %v, want 422", err)
	}
	bad := metav1.DeletionPropagation("Sideways")
	if err := c.Delete(ctx, "a", metav1.DeleteOptions{PropagationPolicy: &bad}); !apierrors.IsInvalid(err) {
		t.Errorf("unknown policy: %v, want 422", err)
	}
	// The query parameter works like the body field.
	resp := e.do(t, "DELETE", "/api/v1/namespaces/default/configmaps/a?propagationPolicy=Orphan", "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("delete with the query parameter: %d", resp.StatusCode)
	}
	got, err := c.Get(ctx, "a", metav1.GetOptions{})
	if err != nil || !slices.Contains(got.Finalizers, metav1.FinalizerOrphanDependents) {
		t.Errorf("orphan from the query parameter: %v %+v", err, got)
	}
}

// A pod terminating gracefully on its node stays through status updates
// (its node still reports on it) until the node deletes it with grace 0.
func TestTerminatingPodOutlivesStatusUpdates(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.client.CoreV1().Pods("default")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "img"}}},
	}
	if _, err := c.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "p", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, "p", metav1.GetOptions{})
	if err != nil || got.DeletionTimestamp == nil {
		t.Fatalf("terminating pod: %v %+v", err, got)
	}
	got.Status.Phase = corev1.PodRunning
	if _, err := c.UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "p", metav1.GetOptions{}); err != nil {
		t.Fatalf("a status update deleted a terminating pod: %v", err)
	}
	if err := c.Delete(ctx, "p", *metav1.NewDeleteOptions(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "p", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after the node's delete: %v, want 404", err)
	}
}

// TestDeleteRacingStatusWriter deletes ReplicaSets while another client
// keeps writing their status, as controllers do: a delete without
// preconditions must not answer 409 because of a write it never asked to
// guard against; a delete with a stale resourceVersion precondition must.
func TestDeleteRacingStatusWriter(t *testing.T) {
	e := newTestEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := e.client.AppsV1().ReplicaSets("default")
	const n = 20
	for i := range n {
		if _, err := c.Create(ctx, replicaSet(fmt.Sprintf("race-%d", i), 1), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	stale, err := c.Get(ctx, "race-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the "controller": rewrites every status as fast as it can
		defer wg.Done()
		for gen := int64(1); ctx.Err() == nil; gen++ {
			for i := range n {
				rs, err := c.Get(ctx, fmt.Sprintf("race-%d", i), metav1.GetOptions{})
				if err != nil {
					continue
				}
				rs.Status.ObservedGeneration = gen
				_, _ = c.UpdateStatus(ctx, rs, metav1.UpdateOptions{})
			}
		}
	}()
	defer wg.Wait()
	defer cancel()
	// Let the writer move race-0 past the resourceVersion read above.
	for {
		rs, err := c.Get(ctx, "race-0", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rs.ResourceVersion != stale.ResourceVersion {
			break
		}
	}
	rv := stale.ResourceVersion
	err = c.Delete(ctx, "race-0", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
	if !apierrors.IsConflict(err) {
		t.Fatalf("delete with a stale resourceVersion precondition: %v, want 409", err)
	}
	bg := metav1.DeletePropagationBackground
	for i := range n {
		name := fmt.Sprintf("race-%d", i)
		if err := c.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
			t.Fatalf("delete %s while its status is being written: %v", name, err)
		}
	}
}
