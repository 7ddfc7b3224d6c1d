package printers

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

var serviceColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Type", "string", corev1.ServiceSpec{}.SwaggerDoc()["type"]),
	column("Cluster-IP", "string", corev1.ServiceSpec{}.SwaggerDoc()["clusterIP"]),
	column("External-IP", "string", corev1.ServiceSpec{}.SwaggerDoc()["externalIPs"]),
	column("Port(s)", "string", corev1.ServiceSpec{}.SwaggerDoc()["ports"]),
	ageColumn,
	wideColumn("Selector", corev1.ServiceSpec{}.SwaggerDoc()["selector"]),
}

func serviceCells(svc *corev1.Service, now time.Time) []any {
	svcType := svc.Spec.Type
	if svcType == "" {
		svcType = corev1.ServiceTypeClusterIP // the API default
	}
	clusterIP := svc.Spec.ClusterIP
	if len(svc.Spec.ClusterIPs) > 0 {
		clusterIP = svc.Spec.ClusterIPs[0]
	}
	return []any{
		svc.Name, string(svcType), orNone(clusterIP), serviceExternalIP(svc, svcType), orNone(servicePorts(svc.Spec.Ports)),
		age(svc.CreationTimestamp, now), labels.FormatLabels(svc.Spec.Selector),
	}
}

// serviceExternalIP is the EXTERNAL-IP column: the external IPs, for a
// LoadBalancer the ingress points first (<pending> while there are none),
// for ExternalName the external name.
func serviceExternalIP(svc *corev1.Service, svcType corev1.ServiceType) string {
	switch svcType {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		return orNone(strings.Join(svc.Spec.ExternalIPs, ","))
	case corev1.ServiceTypeLoadBalancer:
		ips := loadBalancerIngress(svc.Status.LoadBalancer.Ingress)
		ips = append(ips, svc.Spec.ExternalIPs...)
		if len(ips) == 0 {
			return "<pending>"
		}
		return strings.Join(ips, ",")
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return "<unknown>"
}

// loadBalancerIngress returns the sorted, distinct IPs (or host names) of
// load-balancer ingress points. The whole list: kube-apiserver builds its
// tables in wide mode, where kubectl's printers do not clip it.
func loadBalancerIngress(ingress []corev1.LoadBalancerIngress) []string {
	set := map[string]bool{}
	for _, in := range ingress {
		switch {
		case in.IP != "":
			set[in.IP] = true
		case in.Hostname != "":
			set[in.Hostname] = true
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// servicePorts is the PORT(S) column: "80/TCP", "80:30080/TCP" with a node port.
func servicePorts(ports []corev1.ServicePort) string {
	pieces := make([]string, len(ports))
	for i, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP // the API default
		}
		if p.NodePort > 0 {
			pieces[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, proto)
		} else {
			pieces[i] = fmt.Sprintf("%d/%s", p.Port, proto)
		}
	}
	return strings.Join(pieces, ",")
}

var endpointSliceColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("AddressType", "string", discoveryv1.EndpointSlice{}.SwaggerDoc()["addressType"]),
	column("Ports", "string", discoveryv1.EndpointSlice{}.SwaggerDoc()["ports"]),
	column("Endpoints", "string", discoveryv1.EndpointSlice{}.SwaggerDoc()["endpoints"]),
	ageColumn,
}

func endpointSliceCells(es *discoveryv1.EndpointSlice, now time.Time) []any {
	var ports, addrs []string
	for _, p := range es.Ports {
		switch {
		case p.Port != nil:
			ports = append(ports, strconv.Itoa(int(*p.Port)))
		case p.Name != nil:
			ports = append(ports, *p.Name)
		default:
			ports = append(ports, "*")
		}
	}
	for _, e := range es.Endpoints {
		addrs = append(addrs, e.Addresses...)
	}
	return []any{es.Name, string(es.AddressType), firstThree(ports), firstThree(addrs), age(es.CreationTimestamp, now)}
}

// firstThree joins up to three items with commas, adds " + N more..." for
// the rest, and is <unset> for none.
func firstThree(items []string) string {
	const max = 3
	if len(items) == 0 {
		return "<unset>"
	}
	if len(items) <= max {
		return strings.Join(items, ",")
	}
	return fmt.Sprintf("%s + %d more...", strings.Join(items[:max], ","), len(items)-max)
}

var ingressColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Class", "string", "The name of the IngressClass resource that should be used for additional configuration"),
	column("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
	column("Address", "string", "Address is a list containing ingress points for the load-balancer"),
	column("Ports", "string", "Ports of TLS configurations that open"),
	ageColumn,
}

func ingressCells(ing *networkingv1.Ingress, now time.Time) []any {
	class := "<none>"
	if ing.Spec.IngressClassName != nil {
		class = *ing.Spec.IngressClassName
	}
	ports := "80"
	if len(ing.Spec.TLS) > 0 {
		ports = "80, 443"
	}
	var lb []corev1.LoadBalancerIngress
	for _, in := range ing.Status.LoadBalancer.Ingress {
		lb = append(lb, corev1.LoadBalancerIngress{IP: in.IP, Hostname: in.Hostname})
	}
	address := strings.Join(loadBalancerIngress(lb), ",")
	return []any{ing.Name, class, ingressHosts(ing.Spec.Rules), address, ports, age(ing.CreationTimestamp, now)}
}

// ingressHosts lists the rules' hosts (the first three, then " + N more..."
// counted over all rules, as kubectl does), or "*" when no rule names one.
func ingressHosts(rules []networkingv1.IngressRule) string {
	const max = 3
	var hosts []string
	for _, r := range rules {
		if len(hosts) == max {
			return fmt.Sprintf("%s + %d more...", strings.Join(hosts, ","), len(rules)-max)
		}
		if r.Host != "" {
			hosts = append(hosts, r.Host)
		}
	}
	if len(hosts) == 0 {
		return "*"
	}
	return strings.Join(hosts, ",")
}

var ingressClassColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Controller", "string", "Controller that is responsible for handling this class"),
	column("Parameters", "string", "A reference to a resource with additional parameters"),
	ageColumn,
}

func ingressClassCells(ic *networkingv1.IngressClass, now time.Time) []any {
	params := "<none>"
	if p := ic.Spec.Parameters; p != nil {
		params = p.Kind
		if p.APIGroup != nil {
			params += "." + *p.APIGroup
		}
		params += "/" + p.Name
	}
	return []any{ic.Name, ic.Spec.Controller, params, age(ic.CreationTimestamp, now)}
}

var endpointsColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Endpoints", "string", corev1.Endpoints{}.SwaggerDoc()["subsets"]),
	ageColumn,
}

// endpointsCells lists ready addresses as ip:port (ip alone without
// ports), the first three, as kubectl does.
func endpointsCells(ep *corev1.Endpoints, now time.Time) []any {
	var list []string
	for _, ss := range ep.Subsets {
		for _, a := range ss.Addresses {
			if len(ss.Ports) == 0 {
				list = append(list, a.IP)
				continue
			}
			for _, p := range ss.Ports {
				list = append(list, net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
			}
		}
	}
	cell := firstThree(list)
	if len(list) == 0 {
		cell = "<none>"
	}
	return []any{ep.Name, cell, age(ep.CreationTimestamp, now)}
}

var networkPolicyColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Pod-Selector", "string", "Selects the pods to which this NetworkPolicy object applies"),
	ageColumn,
}

func networkPolicyCells(np *networkingv1.NetworkPolicy, now time.Time) []any {
	return []any{np.Name, metav1.FormatLabelSelector(&np.Spec.PodSelector), age(np.CreationTimestamp, now)}
}
