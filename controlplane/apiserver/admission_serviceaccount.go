package apiserver

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
)

// What the ServiceAccount admission gives pods, as Kubernetes'
// plugin/pkg/admission/serviceaccount does.
const (
	defaultServiceAccount = "default"
	// ServiceAccountTokenPath is where a pod finds its token, ca.crt and
	// namespace (rest.InClusterConfig reads them there).
	ServiceAccountTokenPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	apiAccessVolumePrefix   = "kube-api-access-"
	// apiAccessTokenSeconds is kube-apiserver's odd 1h+7s, which tells
	// its token issuer a token is the admission-added one.
	apiAccessTokenSeconds = 3607
	rootCAConfigMap       = "kube-root-ca.crt"
)

// admitServiceAccount sets a new pod's service account (default:
// "default") and, unless the pod or its service account opts out with
// automountServiceAccountToken: false, adds the kube-api-access-xxxxx
// projected volume (token, ca.crt, namespace) and mounts it in every
// container that has nothing at ServiceAccountTokenPath.
//
// A named service account that does not exist is refused, as in
// Kubernetes; a missing "default" one is not, since the controller that
// creates it in a new namespace may not have run yet (Kubernetes refuses
// and lets the client retry).
func (s *Server) admitServiceAccount(ctx context.Context, pod *corev1.Pod) error {
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return nil
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = defaultServiceAccount
	}
	automount := true
	obj, err := s.Lookup(ctx, "serviceaccounts", pod.Namespace, pod.Spec.ServiceAccountName)
	switch {
	case err == nil:
		if a := obj.(*corev1.ServiceAccount).AutomountServiceAccountToken; a != nil {
			automount = *a
		}
	case apierrors.IsNotFound(err) && pod.Spec.ServiceAccountName == defaultServiceAccount:
	case apierrors.IsNotFound(err):
		return apierrors.NewForbidden(corev1.Resource("pods"), pod.Name, fmt.Errorf(
			"error looking up service account %s/%s: %w", pod.Namespace, pod.Spec.ServiceAccountName, err))
	default:
		return err
	}
	if pod.Spec.AutomountServiceAccountToken != nil {
		automount = *pod.Spec.AutomountServiceAccountToken
	}
	if automount {
		mountAPIAccess(pod)
	}
	return nil
}

// mountAPIAccess adds the projected volume and its mounts.
func mountAPIAccess(pod *corev1.Pod) {
	var need []*corev1.Container
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if !mountsAt(&cs[i], ServiceAccountTokenPath) {
				need = append(need, &cs[i])
			}
		}
	}
	if len(need) == 0 {
		return
	}
	name := apiAccessVolumePrefix + utilrand.String(5)
	for _, c := range need {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: name, ReadOnly: true, MountPath: ServiceAccountTokenPath})
	}
	secs, mode := int64(apiAccessTokenSeconds), int32(0o644)
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
		Projected: &corev1.ProjectedVolumeSource{DefaultMode: &mode, Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: &secs}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: rootCAConfigMap},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace",
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		}},
	}})
}

func mountsAt(c *corev1.Container, path string) bool {
	for _, m := range c.VolumeMounts {
		if m.MountPath == path {
			return true
		}
	}
	return false
}
