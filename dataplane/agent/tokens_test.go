package agent

import (
	"errors"
	"fmt"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// TestTokenManagerRenewsAt80Percent: a token is reused until 80% of its
// lifetime, then requested again (bound to the pod, for its service
// account); a failed renewal serves the old token until it expires.
func TestTokenManagerRenewsAt80Percent(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	client := fake.NewClientset()
	var requests []*authenticationv1.TokenRequest
	var fail bool
	client.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		ca := a.(k8stesting.CreateAction)
		if ca.GetSubresource() != "token" {
			return false, nil, nil
		}
		if fail {
			return true, nil, errors.New("api down")
		}
		tr := ca.GetObject().(*authenticationv1.TokenRequest).DeepCopy()
		requests = append(requests, tr)
		tr.Status.Token = fmt.Sprintf("tok-%d", len(requests))
		tr.Status.ExpirationTimestamp = metav1.NewTime(now.Add(time.Duration(*tr.Spec.ExpirationSeconds) * time.Second))
		return true, tr, nil
	})
	m := newTokenManager(client)
	m.now = func() time.Time { return now }
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team", UID: "uid-1"},
		Spec: corev1.PodSpec{ServiceAccountName: "builder"}}
	get := func() string {
		t.Helper()
		tok, err := m.Token(pod, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		return string(tok)
	}
	if got := get(); got != "tok-1" {
		t.Fatalf("first token %q", got)
	}
	ref := requests[0].Spec.BoundObjectRef
	if ref == nil || ref.Kind != "Pod" || ref.Name != "web" || ref.UID != "uid-1" || len(requests[0].Spec.Audiences) != 0 {
		t.Fatalf("request %+v", requests[0].Spec)
	}
	now = now.Add(790 * time.Second)
	if got := get(); got != "tok-1" || len(m.dueRenewal()) != 0 {
		t.Fatalf("at 79%%: %q, due %v", got, m.dueRenewal())
	}
	now = now.Add(20 * time.Second)
	if due := m.dueRenewal(); len(due) != 1 || due[0] != "uid-1" {
		t.Fatalf("at 81%% due = %v", due)
	}
	fail = true
	if got := get(); got != "tok-1" {
		t.Fatalf("renewal failed: %q, want the still-valid old token", got)
	}
	fail = false
	if got := get(); got != "tok-2" {
		t.Fatalf("at 81%%: %q, want a new token", got)
	}
	m.forget("uid-1")
	if got := get(); got != "tok-3" {
		t.Fatalf("after forget: %q", got)
	}
	fail = true
	now = now.Add(time.Hour)
	if _, err := m.Token(pod, "", 1000); err == nil {
		t.Fatal("an expired token was served when renewal failed")
	}
}
