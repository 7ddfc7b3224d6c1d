package serviceaccount

import (
	"context"
	"crypto/ecdsa"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-net/switchyard/controlplane/auth"
	"github.com/switchyard-net/switchyard/controlplane/pki"
)

// objects is an in-memory Lookup: resource/namespace/name → object.
type objects struct {
	mu sync.Mutex
	m  map[string]metav1.Object
}

func (o *objects) put(resource, ns, name, uid string) *metav1.ObjectMeta {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := &metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID(uid)}
	o.m[resource+"/"+ns+"/"+name] = m
	return m
}

func (o *objects) del(resource, ns, name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.m, resource+"/"+ns+"/"+name)
}

func (o *objects) lookup(_ context.Context, resource, ns, name string) (metav1.Object, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if m, ok := o.m[resource+"/"+ns+"/"+name]; ok {
		return m, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: resource}, name)
}

type fixture struct {
	key    *ecdsa.PrivateKey
	now    time.Time
	objs   *objects
	issuer *Issuer
	val    *Validator
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	key, err := EnsureKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{key: key, now: time.Unix(1_800_000_000, 0), objs: &objects{m: map[string]metav1.Object{}}}
	clock := func() time.Time { return f.now }
	if f.issuer, err = NewIssuer(IssuerConfig{Key: key, Now: clock}); err != nil {
		t.Fatal(err)
	}
	f.val, err = NewValidator(ValidatorConfig{Keys: []*ecdsa.PublicKey{&key.PublicKey}, Lookup: f.objs.lookup, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	f.objs.put("serviceaccounts", "team", "builder", "sa-uid")
	f.objs.put("pods", "team", "web-0", "pod-uid")
	return f
}

func (f *fixture) podToken(t *testing.T, aud ...string) string {
	t.Helper()
	tok, exp, err := f.issuer.Issue(Request{Namespace: "team", ServiceAccount: Ref{"builder", "sa-uid"},
		Pod: &Ref{"web-0", "pod-uid"}, Audiences: aud, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(f.now.Add(time.Hour)) {
		t.Fatalf("expiry %v, want %v", exp, f.now.Add(time.Hour))
	}
	return tok
}

func TestTokenAuthenticatesServiceAccountOfPod(t *testing.T) {
	f := newFixture(t)
	u, err := f.val.Validate(context.Background(), f.podToken(t))
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "system:serviceaccount:team:builder" || u.UID != "sa-uid" ||
		strings.Join(u.Groups, ",") != "system:serviceaccounts,system:serviceaccounts:team" {
		t.Errorf("user %+v", u)
	}
	if u.Extra[ExtraPodName][0] != "web-0" || u.Extra[ExtraPodUID][0] != "pod-uid" || !strings.HasPrefix(u.Extra[ExtraCredentialID][0], "JTI=") {
		t.Errorf("extra %v", u.Extra)
	}
}

func TestTokenClaimsAreKubernetes(t *testing.T) {
	f := newFixture(t)
	parts := strings.Split(f.podToken(t), ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS compact token: %d parts", len(parts))
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	body, _ := base64.RawURLEncoding.DecodeString(parts[1])
	for _, want := range []string{`"alg":"ES256"`, `"kid":"`} {
		if !strings.Contains(string(hdr), want) {
			t.Errorf("header %s lacks %s", hdr, want)
		}
	}
	for _, want := range []string{`"iss":"https://kubernetes.default.svc.cluster.local"`, `"sub":"system:serviceaccount:team:builder"`,
		`"aud":"https://kubernetes.default.svc.cluster.local"`, `"exp":1800003600`, `"iat":1800000000`, `"nbf":1800000000`,
		`"jti":"`, `"kubernetes.io":{"namespace":"team",`, `"serviceaccount":{"name":"builder","uid":"sa-uid"}`,
		`"pod":{"name":"web-0","uid":"pod-uid"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("claims %s lack %s", body, want)
		}
	}
}

func TestTokenRejected(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, f *fixture, tok string) string
		want   string
	}{
		{"expired", func(_ *testing.T, f *fixture, tok string) string {
			f.now = f.now.Add(time.Hour + 2*time.Minute) // past exp and the leeway
			return tok
		}, "expired"},
		{"pod deleted", func(_ *testing.T, f *fixture, tok string) string {
			f.objs.del("pods", "team", "web-0")
			return tok
		}, "pod web-0 no longer exists"},
		{"pod recreated", func(_ *testing.T, f *fixture, tok string) string {
			f.objs.put("pods", "team", "web-0", "other-uid")
			return tok
		}, "was recreated"},
		{"pod marked deleted long ago", func(_ *testing.T, f *fixture, tok string) string {
			m := f.objs.put("pods", "team", "web-0", "pod-uid")
			m.DeletionTimestamp = &metav1.Time{Time: f.now.Add(-2 * time.Minute)}
			return tok
		}, "was deleted"},
		{"service account deleted", func(_ *testing.T, f *fixture, tok string) string {
			f.objs.del("serviceaccounts", "team", "builder")
			return tok
		}, "serviceaccount builder no longer exists"},
		{"wrong audience", func(t *testing.T, f *fixture, _ string) string {
			return f.podToken(t, "vault")
		}, "hold none of the API server's"},
		{"tampered claims", func(t *testing.T, f *fixture, tok string) string {
			p := strings.Split(tok, ".")
			body, _ := base64.RawURLEncoding.DecodeString(p[1])
			body = []byte(strings.Replace(string(body), `"builder"`, `"admin00"`, -1))
			p[1] = base64.RawURLEncoding.EncodeToString(body)
			return strings.Join(p, ".")
		}, "error in cryptographic primitive"},
		{"tampered signature", func(t *testing.T, f *fixture, tok string) string {
			p := strings.Split(tok, ".")
			sig, _ := base64.RawURLEncoding.DecodeString(p[2])
			sig[5] ^= 1
			p[2] = base64.RawURLEncoding.EncodeToString(sig)
			return strings.Join(p, ".")
		}, "error in cryptographic primitive"},
		{"another cluster's key", func(t *testing.T, f *fixture, _ string) string {
			other, err := EnsureKey(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			iss, _ := NewIssuer(IssuerConfig{Key: other, Now: func() time.Time { return f.now }})
			tok, _, err := iss.Issue(Request{Namespace: "team", ServiceAccount: Ref{"builder", "sa-uid"}, Lifetime: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}, "unknown key id"},
		{"not a JWT", func(*testing.T, *fixture, string) string { return "abc.def" }, auth.ErrNotMine.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tok := tc.change(t, f, f.podToken(t))
			u, err := f.val.Validate(ctx, tok)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %+v, %v; want an error containing %q", u, err, tc.want)
			}
		})
	}
}

func TestDeletedPodTokenValidDuringGrace(t *testing.T) {
	f := newFixture(t)
	tok := f.podToken(t)
	m := f.objs.put("pods", "team", "web-0", "pod-uid")
	m.DeletionTimestamp = &metav1.Time{Time: f.now.Add(-10 * time.Second)}
	if _, err := f.val.Validate(context.Background(), tok); err != nil {
		t.Fatalf("a pod still shutting down lost its token: %v", err)
	}
	f.objs.del("pods", "team", "web-0")
	if _, err := f.val.Validate(context.Background(), tok); !errors.Is(err, ErrInvalidated) {
		t.Fatalf("deleted pod: %v, want ErrInvalidated", err)
	}
}

func TestEnsureKeyKeepsKey(t *testing.T) {
	dir := t.TempDir()
	k1, err := EnsureKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := EnsureKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) {
		t.Fatal("second start made a new key: every issued token would be lost")
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st.Mode(), err)
	}
	if err := os.WriteFile(filepath.Join(dir, KeyFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureKey(dir); err == nil {
		t.Fatal("an unusable key was replaced silently")
	}
}

func TestUserNames(t *testing.T) {
	for _, tc := range []struct {
		in       string
		ns, name string
		ok       bool
	}{
		{"system:serviceaccount:default:builder", "default", "builder", true},
		{"system:serviceaccount:default", "", "", false},
		{"system:serviceaccount::x", "", "", false},
		{"system:serviceaccount:a:b:c", "", "", false},
		{"admin", "", "", false},
	} {
		ns, name, ok := SplitUserName(tc.in)
		if ns != tc.ns || name != tc.name || ok != tc.ok {
			t.Errorf("SplitUserName(%q) = %q %q %v", tc.in, ns, name, ok)
		}
	}
}

// FuzzValidate feeds arbitrary strings, and mutations of a valid token, to
// the parser: it must never panic and never accept anything but the
// untouched token.
func FuzzValidate(f *testing.F) {
	fx := newFixture(&testing.T{})
	valid := fx.podToken(&testing.T{})
	f.Add(valid)
	f.Add("")
	f.Add("a.b.c")
	f.Add(strings.Replace(valid, ".", "..", 1))
	f.Add(valid + "x")
	f.Fuzz(func(t *testing.T, tok string) {
		u, err := fx.val.Validate(context.Background(), tok)
		if err == nil && tok != valid && u.Name != "system:serviceaccount:team:builder" {
			t.Fatalf("accepted %q as %+v", tok, u)
		}
	})
}

// TestKeyTravelsToJoiningControlPlanes: the key the first control plane
// creates is in the files a joining one receives (pki.SharedFiles), so a
// token issued by either validates on both.
func TestKeyTravelsToJoiningControlPlanes(t *testing.T) {
	first, second := t.TempDir(), t.TempDir()
	key, err := EnsureKey(first)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pki.Ensure(first, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := b.Shared()
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.Install(second, shared); err != nil {
		t.Fatal(err)
	}
	got, err := EnsureKey(second)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(key) {
		t.Fatal("the joining control plane made its own key: tokens of one control plane fail on the other")
	}
}
