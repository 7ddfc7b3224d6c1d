package apiserver

import (
	"context"
	"crypto/ecdsa"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/switchyard-net/switchyard/controlplane/auth/serviceaccount"
)

// TestTokenRequest issues tokens through serviceaccounts/NAME/token, as
// kubelet and `kubectl create token` do, and validates them against the
// stored objects.
func TestTokenRequest(t *testing.T) {
	env := newTestEnv(t)
	key, err := serviceaccount.EnsureKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if env.srv.cfg.Tokens, err = serviceaccount.NewIssuer(serviceaccount.IssuerConfig{Key: key}); err != nil {
		t.Fatal(err)
	}
	val, err := serviceaccount.NewValidator(serviceaccount.ValidatorConfig{Keys: []*ecdsa.PublicKey{&key.PublicKey}, Lookup: env.srv.Lookup})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := env.client.CoreV1()
	sa, err := c.ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod, err := c.Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "job"},
		Spec: corev1.PodSpec{ServiceAccountName: "builder", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	request := func(name string, spec authenticationv1.TokenRequestSpec) (*authenticationv1.TokenRequest, error) {
		return c.ServiceAccounts("default").CreateToken(ctx, name, &authenticationv1.TokenRequest{Spec: spec}, metav1.CreateOptions{})
	}

	secs := int64(1200)
	tr, err := request("builder", authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs,
		BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "job", UID: pod.UID}})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(tr.Status.ExpirationTimestamp.Time); d < 19*time.Minute || d > 21*time.Minute {
		t.Errorf("expires in %v, want 20m", d)
	}
	if len(tr.Spec.Audiences) != 1 || tr.Spec.Audiences[0] != serviceaccount.DefaultIssuer {
		t.Errorf("default audiences %v", tr.Spec.Audiences)
	}
	u, err := val.Validate(ctx, tr.Status.Token)
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "system:serviceaccount:default:builder" || u.UID != string(sa.UID) || u.Extra[serviceaccount.ExtraPodUID][0] != string(pod.UID) {
		t.Errorf("user %+v", u)
	}

	// Refusals name their reason.
	short := int64(60)
	for _, tc := range []struct {
		name, sa string
		spec     authenticationv1.TokenRequestSpec
		is       func(error) bool
		msg      string
	}{
		{"too short", "builder", authenticationv1.TokenRequestSpec{ExpirationSeconds: &short}, apierrors.IsInvalid,
			"spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"},
		{"no such account", "ghost", authenticationv1.TokenRequestSpec{}, apierrors.IsNotFound, `serviceaccounts "ghost" not found`},
		{"stale uid", "builder", authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", Name: "job", UID: "old"}},
			apierrors.IsConflict, "does not match the UID in record"},
		{"other account's pod", "default", authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", Name: "job"}},
			apierrors.IsBadRequest, "pod running with different serviceaccount name"},
		{"unsupported kind", "builder", authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "ConfigMap", Name: "x"}},
			apierrors.IsInvalid, "spec.boundObjectRef.kind: Unsupported value"},
	} {
		if tc.sa == "default" {
			if _, err := c.ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
		}
		_, err := request(tc.sa, tc.spec)
		if !tc.is(err) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.msg)
		}
	}

	// Deleting the pod invalidates its token at once.
	if err := c.Pods("default").Delete(ctx, "job", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Pods("default").Get(ctx, "job", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("pod still there: %v", err)
	}
	if _, err := val.Validate(ctx, tr.Status.Token); err == nil || !strings.Contains(err.Error(), "pod job no longer exists") {
		t.Fatalf("token of a deleted pod: %v", err)
	}
}
