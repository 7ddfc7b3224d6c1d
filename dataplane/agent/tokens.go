package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/switchyard-net/switchyard/dataplane/runner"
)

// tokenManager gets the service-account tokens of pods' projected volumes
// through the TokenRequest API (serviceaccounts/NAME/token, bound to the
// pod) and caches them, as kubelet's token manager does: a token is
// requested again once 80% of its lifetime has passed or it is older than
// 24 hours, and a failed renewal keeps serving the old token while it is
// still valid. Safe for concurrent use.
type tokenManager struct {
	client kubernetes.Interface
	now    func() time.Time

	mu    sync.Mutex // guards cache
	cache map[tokenKey]cachedToken
}

type tokenKey struct {
	pod       types.UID
	account   string
	audience  string
	lifetimeS int64
}

type cachedToken struct {
	token        []byte
	issued, exps time.Time
}

// tokenRequestTimeout bounds one TokenRequest (a volume refresh waits for it).
const tokenRequestTimeout = 10 * time.Second

var _ runner.Tokens = (*tokenManager)(nil)

func newTokenManager(client kubernetes.Interface) *tokenManager {
	return &tokenManager{client: client, now: time.Now, cache: map[tokenKey]cachedToken{}}
}

// Token returns a token of the pod's service account bound to the pod.
func (m *tokenManager) Token(pod *corev1.Pod, audience string, secs int64) ([]byte, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	key := tokenKey{pod: pod.UID, account: sa, audience: audience, lifetimeS: secs}
	m.mu.Lock()
	cached, ok := m.cache[key]
	m.mu.Unlock()
	now := m.now()
	if ok && !cached.due(now) {
		return cached.token, nil
	}
	tok, err := m.request(pod, sa, audience, secs)
	if err != nil {
		if ok && now.Before(cached.exps) {
			return cached.token, nil // kubelet too keeps the old one until it expires
		}
		return nil, err
	}
	m.mu.Lock()
	m.cache[key] = tok
	m.mu.Unlock()
	return tok.token, nil
}

func (m *tokenManager) request(pod *corev1.Pod, sa, audience string, secs int64) (cachedToken, error) {
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &secs,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if audience != "" {
		tr.Spec.Audiences = []string{audience}
	}
	ctx, cancel := context.WithTimeout(context.Background(), tokenRequestTimeout)
	defer cancel()
	out, err := m.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, tr, metav1.CreateOptions{})
	if err != nil {
		return cachedToken{}, fmt.Errorf("request token for service account %s/%s: %w", pod.Namespace, sa, err)
	}
	return cachedToken{token: []byte(out.Status.Token), issued: m.now(), exps: out.Status.ExpirationTimestamp.Time}, nil
}

// due says the token needs renewing: 80% of its lifetime or 24h passed.
func (c cachedToken) due(now time.Time) bool {
	life := c.exps.Sub(c.issued)
	return now.After(c.issued.Add(life*8/10)) || now.After(c.issued.Add(24*time.Hour))
}

// dueRenewal lists the pods holding a token due for renewal: syncing them
// rewrites their volumes with fresh tokens.
func (m *tokenManager) dueRenewal() []types.UID {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[types.UID]bool{}
	var out []types.UID
	for k, c := range m.cache {
		if c.due(now) && !seen[k.pod] {
			seen[k.pod] = true
			out = append(out, k.pod)
		}
	}
	return out
}

// forget drops the tokens of a pod that is gone.
func (m *tokenManager) forget(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.cache {
		if k.pod == uid {
			delete(m.cache, k)
		}
	}
}

// renewLoop queues the pods whose tokens are due every interval until
// ctx ends.
func (m *tokenManager) renewLoop(ctx context.Context, interval time.Duration, queue func(types.UID)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for _, uid := range m.dueRenewal() {
				queue(uid)
			}
		}
	}
}
