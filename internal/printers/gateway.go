package printers

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
)

// The Gateway API kinds print the columns their CRDs declare
// (additionalPrinterColumns), as kubectl shows them on a cluster with the
// CRDs installed. The v1beta1 kinds are the v1 types under another name.

// The printers convert unstructured objects through client-go's scheme:
// the Gateway API types join it here as in controlplane/resources
// (registration is idempotent), since the CLI has no control plane.
func init() {
	utilruntime.Must(gatewayv1.Install(scheme.Scheme))
	utilruntime.Must(gatewayv1beta1.Install(scheme.Scheme))
}

func init() {
	gc := printerOf(gatewayClassColumns, gatewayClassCells)
	gw := printerOf(gatewayColumns, gatewayCells)
	hr := printerOf(routeColumns, func(r *gatewayv1.HTTPRoute, now time.Time) []any {
		return routeCells(r.ObjectMeta, r.Spec.Hostnames, now)
	})
	gr := printerOf(routeColumns, func(r *gatewayv1.GRPCRoute, now time.Time) []any {
		return routeCells(r.ObjectMeta, r.Spec.Hostnames, now)
	})
	maps := map[reflect.Type]printer{
		reflect.TypeFor[*gatewayv1.GatewayClass](): gc,
		reflect.TypeFor[*gatewayv1.Gateway]():      gw,
		reflect.TypeFor[*gatewayv1.HTTPRoute]():    hr,
		reflect.TypeFor[*gatewayv1.GRPCRoute]():    gr,
		reflect.TypeFor[*gatewayv1beta1.GatewayClass](): printerOf(gatewayClassColumns, func(g *gatewayv1beta1.GatewayClass, now time.Time) []any {
			return gatewayClassCells((*gatewayv1.GatewayClass)(g), now)
		}),
		reflect.TypeFor[*gatewayv1beta1.Gateway](): printerOf(gatewayColumns, func(g *gatewayv1beta1.Gateway, now time.Time) []any {
			return gatewayCells((*gatewayv1.Gateway)(g), now)
		}),
		reflect.TypeFor[*gatewayv1beta1.HTTPRoute](): printerOf(routeColumns, func(r *gatewayv1beta1.HTTPRoute, now time.Time) []any {
			return routeCells(r.ObjectMeta, r.Spec.Hostnames, now)
		}),
	}
	for t, p := range maps {
		byType[t] = p
	}
}

var gatewayClassColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Controller", "string", "ControllerName is the name of the controller that is managing Gateways of this class."),
	column("Accepted", "string", "Status of the Accepted condition."),
	ageColumn,
	wideColumn("Description", "Description helps describe a GatewayClass with more details."),
}

func gatewayClassCells(g *gatewayv1.GatewayClass, now time.Time) []any {
	desc := ""
	if g.Spec.Description != nil {
		desc = *g.Spec.Description
	}
	return []any{g.Name, string(g.Spec.ControllerName), conditionStatus(g.Status.Conditions, "Accepted"), age(g.CreationTimestamp, now), desc}
}

var gatewayColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Class", "string", "GatewayClassName used for this Gateway."),
	column("Address", "string", "Addresses lists the network addresses that have been bound to the Gateway."),
	column("Programmed", "string", "Status of the Programmed condition."),
	ageColumn,
}

func gatewayCells(g *gatewayv1.Gateway, now time.Time) []any {
	addrs := make([]string, len(g.Status.Addresses))
	for i, a := range g.Status.Addresses {
		addrs[i] = a.Value
	}
	return []any{g.Name, string(g.Spec.GatewayClassName), strings.Join(addrs, " "), conditionStatus(g.Status.Conditions, "Programmed"), age(g.CreationTimestamp, now)}
}

var routeColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Hostnames", "string", "Hostnames defines a set of hostnames to match against the Host header."),
	ageColumn,
}

// routeCells prints the hostnames as a CRD's JSONPath column prints a
// list: its JSON, empty when there is none.
func routeCells(meta metav1.ObjectMeta, hostnames []gatewayv1.Hostname, now time.Time) []any {
	hosts := ""
	if len(hostnames) > 0 {
		b, _ := json.Marshal(hostnames)
		hosts = string(b)
	}
	return []any{meta.Name, hosts, age(meta.CreationTimestamp, now)}
}

func conditionStatus(conds []metav1.Condition, typ string) string {
	for _, c := range conds {
		if c.Type == typ {
			return string(c.Status)
		}
	}
	return ""
}
