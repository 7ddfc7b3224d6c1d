package dns

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/switchyard-net/switchyard/dns/index"
)

// feed loads exampleCluster into an index through its update methods.
func feed(ix *index.Index) {
	for _, o := range exampleCluster() {
		switch v := o.(type) {
		case *corev1.Namespace:
			ix.UpsertNamespace(v.Name)
		case *corev1.Service:
			ix.UpsertService(v)
		case *discoveryv1.EndpointSlice:
			ix.UpsertSlice(v)
		}
	}
}
