package cli

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The Leases by which nodes decide who announces a LoadBalancer address
// (dataplane/l2announce.LeaseNamespace and LeasePrefix; the CLI reads
// them without importing the dataplane).
const (
	l2LeaseNamespace = "kube-system"
	l2LeasePrefix    = "switchyard-l2-"
)

var (
	servicesGVR = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	leasesGVR   = schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}
)

// announcement is one LoadBalancer address and the node announcing it.
type announcement struct {
	Addr    string
	Service string
	Holder  string    // "" when no node holds the Lease
	Renewed time.Time // the holder's last renewal
	Expired bool      // the Lease ran out without renewal
}

// loadAnnouncements joins the LoadBalancer Services' addresses with the
// Leases of their announcement.
func loadAnnouncements(ctx context.Context, c *clients) ([]announcement, error) {
	svcs, err := c.dynamic.Resource(servicesGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	leases, err := c.dynamic.Resource(leasesGVR).Namespace(l2LeaseNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	byName := map[string]*coordinationv1.Lease{}
	for _, u := range leases.Items {
		var l coordinationv1.Lease
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &l); err == nil && strings.HasPrefix(l.Name, l2LeasePrefix) {
			byName[l.Name] = &l
		}
	}
	var out []announcement
	now := time.Now()
	for _, u := range svcs.Items {
		var svc corev1.Service
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &svc); err != nil || svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			continue
		}
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			a, err := netip.ParseAddr(ing.IP)
			if err != nil {
				continue
			}
			an := announcement{Addr: a.String(), Service: svc.Namespace + "/" + svc.Name}
			if l := byName[l2LeasePrefix+strings.ReplaceAll(a.String(), ".", "-")]; l != nil && l.Spec.HolderIdentity != nil {
				an.Holder = *l.Spec.HolderIdentity
				if l.Spec.RenewTime != nil {
					an.Renewed = l.Spec.RenewTime.Time
					if d := l.Spec.LeaseDurationSeconds; d != nil && now.Sub(an.Renewed) > time.Duration(*d)*time.Second {
						an.Expired = true
					}
				}
			}
			out = append(out, an)
		}
	}
	slices.SortFunc(out, func(a, b announcement) int {
		return netip.MustParseAddr(a.Addr).Compare(netip.MustParseAddr(b.Addr))
	})
	return out, nil
}

// printAnnouncements prints which node announces which LoadBalancer
// address (nothing when there is none).
func printAnnouncements(w io.Writer, list []announcement, now time.Time) {
	if len(list) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "LOADBALANCER IP\tSERVICE\tANNOUNCED BY\tRENEWED")
	for _, a := range list {
		holder, renewed := a.Holder, "-"
		switch {
		case holder == "":
			holder = "<none>"
		case a.Expired:
			holder += " (lease expired)"
		}
		if !a.Renewed.IsZero() {
			renewed = ago(now.Sub(a.Renewed)) + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Addr, a.Service, holder, renewed)
	}
	tw.Flush()
}
