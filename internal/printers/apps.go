package printers

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Workload columns, as kubectl prints them (Kubernetes'
// pkg/printers/internalversion): the counts, then containers, images and
// selector in wide output.

var (
	containersColumn = wideColumn("Containers", "Names of each container in the template.")
	imagesColumn     = wideColumn("Images", "Images referenced by each container in the template.")
	selectorColumn   = wideColumn("Selector", "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.")
)

var deploymentColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Ready", "string", "Number of the pod with ready state"),
	column("Up-to-date", "string", appsv1.DeploymentStatus{}.SwaggerDoc()["updatedReplicas"]),
	column("Available", "string", appsv1.DeploymentStatus{}.SwaggerDoc()["availableReplicas"]),
	ageColumn,
	containersColumn, imagesColumn, selectorColumn,
}

func deploymentCells(d *appsv1.Deployment, now time.Time) []any {
	names, images := templateContainers(&d.Spec.Template)
	return []any{
		d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, replicasOf(d.Spec.Replicas)),
		int64(d.Status.UpdatedReplicas), int64(d.Status.AvailableReplicas), age(d.CreationTimestamp, now),
		names, images, selectorString(d.Spec.Selector),
	}
}

var replicaSetColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Desired", "integer", appsv1.ReplicaSetSpec{}.SwaggerDoc()["replicas"]),
	column("Current", "integer", appsv1.ReplicaSetStatus{}.SwaggerDoc()["replicas"]),
	column("Ready", "integer", appsv1.ReplicaSetStatus{}.SwaggerDoc()["readyReplicas"]),
	ageColumn,
	containersColumn, imagesColumn, selectorColumn,
}

func replicaSetCells(rs *appsv1.ReplicaSet, now time.Time) []any {
	names, images := templateContainers(&rs.Spec.Template)
	return []any{
		rs.Name, int64(replicasOf(rs.Spec.Replicas)), int64(rs.Status.Replicas), int64(rs.Status.ReadyReplicas),
		age(rs.CreationTimestamp, now), names, images, selectorString(rs.Spec.Selector),
	}
}

var daemonSetColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Desired", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["desiredNumberScheduled"]),
	column("Current", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["currentNumberScheduled"]),
	column("Ready", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["numberReady"]),
	column("Up-to-date", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["updatedNumberScheduled"]),
	column("Available", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["numberAvailable"]),
	column("Node Selector", "string", corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]),
	ageColumn,
	containersColumn, imagesColumn, selectorColumn,
}

func daemonSetCells(ds *appsv1.DaemonSet, now time.Time) []any {
	names, images := templateContainers(&ds.Spec.Template)
	st := &ds.Status
	return []any{
		ds.Name, int64(st.DesiredNumberScheduled), int64(st.CurrentNumberScheduled), int64(st.NumberReady),
		int64(st.UpdatedNumberScheduled), int64(st.NumberAvailable),
		labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector), age(ds.CreationTimestamp, now),
		names, images, selectorString(ds.Spec.Selector),
	}
}

// templateContainers joins the names and images of a template's
// containers with commas.
func templateContainers(t *corev1.PodTemplateSpec) (names, images string) {
	n := make([]string, 0, len(t.Spec.Containers))
	im := make([]string, 0, len(t.Spec.Containers))
	for _, c := range t.Spec.Containers {
		n = append(n, c.Name)
		im = append(im, c.Image)
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}

func selectorString(s *metav1.LabelSelector) string {
	return metav1.FormatLabelSelector(s)
}

// replicasOf is spec.replicas with the API default (1) when unset.
func replicasOf(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

var controllerRevisionColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Controller", "string", "Controller of the object"),
	column("Revision", "string", appsv1.ControllerRevision{}.SwaggerDoc()["revision"]),
	ageColumn,
}

// controllerRevisionCells name the controlling owner as kind.group/name,
// as kubectl does.
func controllerRevisionCells(cr *appsv1.ControllerRevision, now time.Time) []any {
	controller := "<none>"
	if ref := metav1.GetControllerOf(cr); ref != nil {
		gv, _ := schema.ParseGroupVersion(ref.APIVersion)
		controller = strings.ToLower(ref.Kind) + "." + gv.Group + "/" + ref.Name
		if gv.Group == "" {
			controller = strings.ToLower(ref.Kind) + "/" + ref.Name
		}
	}
	return []any{cr.Name, controller, cr.Revision, age(cr.CreationTimestamp, now)}
}
