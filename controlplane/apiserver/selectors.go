package apiserver

import (
	"fmt"
	"net/url"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/switchyard-net/switchyard/controlplane/resources"
)

// selectors are a request's label and field selectors.
type selectors struct {
	label labels.Selector
	field fields.Selector
}

func (s selectors) matches(obj runtime.Object) bool {
	m := objectMeta(obj)
	if !s.label.Matches(labels.Set(m.GetLabels())) {
		return false
	}
	return s.field.Matches(fieldSet(obj))
}

func parseSelectors(q url.Values, res resources.Resource) (selectors, error) {
	ls, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		return selectors{}, apierrors.NewBadRequest(fmt.Sprintf("unable to parse labelSelector: %v", err))
	}
	fs, err := fields.ParseSelector(q.Get("fieldSelector"))
	if err != nil {
		return selectors{}, apierrors.NewBadRequest(fmt.Sprintf("unable to parse fieldSelector: %v", err))
	}
	supported := supportedFields(res.Kind)
	for _, req := range fs.Requirements() {
		if !supported[req.Field] {
			return selectors{}, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
		}
	}
	return selectors{label: ls, field: fs}, nil
}

// supportedFields are the field selector labels a kind answers, as in
// Kubernetes (plus metadata.name and metadata.namespace for all kinds).
func supportedFields(kind string) map[string]bool {
	f := map[string]bool{"metadata.name": true, "metadata.namespace": true}
	switch kind {
	case "Pod":
		for _, k := range []string{"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
			"spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"} {
			f[k] = true
		}
	case "Service":
		f["spec.clusterIP"], f["spec.type"] = true, true
	case "Secret":
		f["type"] = true
	case "Node":
		f["spec.unschedulable"] = true
	case "Namespace":
		f["status.phase"] = true
	case "ReplicaSet":
		f["status.replicas"] = true
	}
	return f
}

func fieldSet(obj runtime.Object) fields.Set {
	m := objectMeta(obj)
	set := fields.Set{"metadata.name": m.GetName(), "metadata.namespace": m.GetNamespace()}
	switch o := obj.(type) {
	case *corev1.Pod:
		set["spec.nodeName"] = o.Spec.NodeName
		set["spec.restartPolicy"] = string(o.Spec.RestartPolicy)
		set["spec.schedulerName"] = o.Spec.SchedulerName
		set["spec.serviceAccountName"] = o.Spec.ServiceAccountName
		set["spec.hostNetwork"] = strconv.FormatBool(o.Spec.HostNetwork)
		set["status.phase"] = string(o.Status.Phase)
		set["status.podIP"] = o.Status.PodIP
		set["status.nominatedNodeName"] = o.Status.NominatedNodeName
	case *corev1.Service:
		set["spec.clusterIP"] = o.Spec.ClusterIP
		set["spec.type"] = string(o.Spec.Type)
	case *corev1.Secret:
		set["type"] = string(o.Type)
	case *corev1.Node:
		set["spec.unschedulable"] = strconv.FormatBool(o.Spec.Unschedulable)
	case *corev1.Namespace:
		set["status.phase"] = string(o.Status.Phase)
	case *appsv1.ReplicaSet:
		set["status.replicas"] = strconv.FormatInt(int64(o.Status.Replicas), 10)
	}
	return set
}
