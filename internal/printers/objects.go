package printers

import (
	"reflect"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// byType holds the printer of each kind with its own columns, keyed by the
// object's pointer type. Adding a kind means adding a row here.
var byType = map[reflect.Type]printer{
	reflect.TypeFor[*corev1.Namespace]():           printerOf(namespaceColumns, namespaceCells),
	reflect.TypeFor[*corev1.Node]():                printerOf(nodeColumns, nodeCells),
	reflect.TypeFor[*corev1.Pod]():                 podPrinter,
	reflect.TypeFor[*corev1.Service]():             printerOf(serviceColumns, serviceCells),
	reflect.TypeFor[*corev1.Secret]():              printerOf(secretColumns, secretCells),
	reflect.TypeFor[*corev1.ConfigMap]():           printerOf(configMapColumns, configMapCells),
	reflect.TypeFor[*discoveryv1.EndpointSlice]():  printerOf(endpointSliceColumns, endpointSliceCells),
	reflect.TypeFor[*networkingv1.Ingress]():       printerOf(ingressColumns, ingressCells),
	reflect.TypeFor[*networkingv1.NetworkPolicy](): printerOf(networkPolicyColumns, networkPolicyCells),
	reflect.TypeFor[*networkingv1.IngressClass]():  printerOf(ingressClassColumns, ingressClassCells),
	reflect.TypeFor[*coordinationv1.Lease]():       printerOf(leaseColumns, leaseCells),
	reflect.TypeFor[*corev1.Endpoints]():           printerOf(endpointsColumns, endpointsCells),
	reflect.TypeFor[*corev1.ServiceAccount]():      printerOf(serviceAccountColumns, serviceAccountCells),
	reflect.TypeFor[*appsv1.Deployment]():          printerOf(deploymentColumns, deploymentCells),
	reflect.TypeFor[*appsv1.ReplicaSet]():          printerOf(replicaSetColumns, replicaSetCells),
	reflect.TypeFor[*appsv1.ControllerRevision]():  printerOf(controllerRevisionColumns, controllerRevisionCells),
	reflect.TypeFor[*appsv1.DaemonSet]():           printerOf(daemonSetColumns, daemonSetCells),
	reflect.TypeFor[*corev1.Event]():               printerOf(eventColumns, eventCells),
	reflect.TypeFor[*eventsv1.Event]():             printerOf(eventColumns, eventsV1Cells),
}

var namespaceColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Status", "string", "The status of the namespace"),
	ageColumn,
}

func namespaceCells(ns *corev1.Namespace, now time.Time) []any {
	return []any{ns.Name, string(ns.Status.Phase), age(ns.CreationTimestamp, now)}
}

var secretColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Type", "string", corev1.Secret{}.SwaggerDoc()["type"]),
	column("Data", "string", corev1.Secret{}.SwaggerDoc()["data"]),
	ageColumn,
}

func secretCells(s *corev1.Secret, now time.Time) []any {
	return []any{s.Name, string(s.Type), int64(len(s.Data)), age(s.CreationTimestamp, now)}
}

var configMapColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Data", "string", corev1.ConfigMap{}.SwaggerDoc()["data"]),
	ageColumn,
}

func configMapCells(cm *corev1.ConfigMap, now time.Time) []any {
	return []any{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), age(cm.CreationTimestamp, now)}
}

var leaseColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Holder", "string", coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]),
	ageColumn,
}

func leaseCells(l *coordinationv1.Lease, now time.Time) []any {
	holder := ""
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	return []any{l.Name, holder, age(l.CreationTimestamp, now)}
}

var nodeColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Status", "string", "The status of the node"),
	column("Roles", "string", "The roles of the node"),
	ageColumn,
	column("Version", "string", corev1.NodeSystemInfo{}.SwaggerDoc()["kubeletVersion"]),
	wideColumn("Internal-IP", corev1.NodeStatus{}.SwaggerDoc()["addresses"]),
	wideColumn("External-IP", corev1.NodeStatus{}.SwaggerDoc()["addresses"]),
	wideColumn("OS-Image", corev1.NodeSystemInfo{}.SwaggerDoc()["osImage"]),
	wideColumn("Kernel-Version", corev1.NodeSystemInfo{}.SwaggerDoc()["kernelVersion"]),
	wideColumn("Container-Runtime", corev1.NodeSystemInfo{}.SwaggerDoc()["containerRuntimeVersion"]),
}

func nodeCells(n *corev1.Node, now time.Time) []any {
	info := n.Status.NodeInfo
	return []any{
		n.Name, nodeStatus(n), orNone(strings.Join(nodeRoles(n), ",")), age(n.CreationTimestamp, now), info.KubeletVersion,
		nodeAddress(n, corev1.NodeInternalIP), nodeAddress(n, corev1.NodeExternalIP),
		orUnknown(info.OSImage), orUnknown(info.KernelVersion), orUnknown(info.ContainerRuntimeVersion),
	}
}

// nodeStatus is Ready, NotReady or Unknown (no Ready condition), with
// ",SchedulingDisabled" for a cordoned node.
func nodeStatus(n *corev1.Node) string {
	status := "Unknown"
	for _, c := range n.Status.Conditions {
		if c.Type != corev1.NodeReady {
			continue
		}
		status = string(corev1.NodeReady)
		if c.Status != corev1.ConditionTrue {
			status = "Not" + status
		}
	}
	if n.Spec.Unschedulable {
		status += ",SchedulingDisabled"
	}
	return status
}

// Node role labels: node-role.kubernetes.io/<role>="" and kubernetes.io/role=<role>.
const (
	nodeRolePrefix = "node-role.kubernetes.io/"
	nodeRoleLabel  = "kubernetes.io/role"
)

// nodeRoles returns the node's roles, sorted and without duplicates.
func nodeRoles(n *corev1.Node) []string {
	set := map[string]bool{}
	for k, v := range n.Labels {
		switch {
		case strings.HasPrefix(k, nodeRolePrefix) && len(k) > len(nodeRolePrefix):
			set[strings.TrimPrefix(k, nodeRolePrefix)] = true
		case k == nodeRoleLabel && v != "":
			set[v] = true
		}
	}
	roles := make([]string, 0, len(set))
	for r := range set {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	return roles
}

// nodeAddress returns the node's first address of type t, or <none>.
func nodeAddress(n *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range n.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return "<none>"
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

var serviceAccountColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Secrets", "string", corev1.ServiceAccount{}.SwaggerDoc()["secrets"]),
	ageColumn,
}

func serviceAccountCells(sa *corev1.ServiceAccount, now time.Time) []any {
	return []any{sa.Name, int64(len(sa.Secrets)), age(sa.CreationTimestamp, now)}
}
