package runner

import (
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Objects gives the runner the API objects a pod's environment and volumes
// refer to: ConfigMaps and Secrets by name, and the Services whose
// addresses kubelet injects as environment variables. The agent answers
// from its informers' caches; lookups must be cheap and must not block on
// the network. A missing object is an error for which
// apierrors.IsNotFound is true (see NotFound).
type Objects interface {
	ConfigMap(namespace, name string) (*corev1.ConfigMap, error)
	Secret(namespace, name string) (*corev1.Secret, error)
	// Services lists the Services of namespace ("" = all namespaces).
	Services(namespace string) ([]*corev1.Service, error)
}

// NotFound is the error an Objects returns for a missing object, worded
// as the API server words it (`configmaps "x" not found`).
func NotFound(resource, name string) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: resource}, name)
}

// noObjects is the Objects of a Runner configured without one: nothing
// exists, so optional references are skipped and required ones fail with
// a clear message.
type noObjects struct{}

func (noObjects) ConfigMap(_, name string) (*corev1.ConfigMap, error) {
	return nil, NotFound("configmaps", name)
}

func (noObjects) Secret(_, name string) (*corev1.Secret, error) {
	return nil, NotFound("secrets", name)
}

func (noObjects) Services(string) ([]*corev1.Service, error) { return nil, nil }
