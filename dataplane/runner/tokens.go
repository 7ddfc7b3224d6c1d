package runner

import (
	"errors"

	corev1 "k8s.io/api/core/v1"
)

// Tokens issues the service-account tokens of projected
// serviceAccountToken volume sources, as kubelet's token manager does:
// a token of the pod's service account, bound to the pod, for the
// projection's audience ("" = the API server's) and lifetime.
//
// Token is called while volumes are prepared (before containers start and
// on every pod update) and may block on the API; implementations cache
// and return the same token until it needs refreshing (kubelet: at 80% of
// its lifetime).
type Tokens interface {
	Token(pod *corev1.Pod, audience string, expirationSeconds int64) ([]byte, error)
}

// errNoTokens is what a runner without a Tokens answers: the volume fails
// to mount (the pod stays ContainerCreating, saying why).
var errNoTokens = errors.New("no service account token source on this node")

type noTokens struct{}

func (noTokens) Token(*corev1.Pod, string, int64) ([]byte, error) { return nil, errNoTokens }
