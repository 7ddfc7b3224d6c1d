package openapi

import (
	"maps"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/kube-openapi/pkg/common"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/switchyard-net/switchyard/controlplane/openapi/generated"
	metricsgen "github.com/switchyard-net/switchyard/controlplane/openapi/generated/metrics"
	"github.com/switchyard-net/switchyard/controlplane/resources"
)

// The metrics.k8s.io kinds (NodeMetrics, PodMetrics) are computed views
// that client-go's scheme, the server's, does not know (see
// resources.Metrics). Their schemas come from a definitions file of their
// own (generated/metrics, by hack/update-openapi.sh) and their samples
// from this scheme, so that `kubectl explain nodemetrics` works as against
// a cluster running metrics-server.
var metricsScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(metricsv1beta1.AddToScheme(s))
	return s
}()

// definitions are the generated definitions of every served type.
func definitions(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
	defs := generated.GetOpenAPIDefinitions(ref)
	metrics := metricsgen.GetOpenAPIDefinitions(ref)
	// Generated on their own, the metrics definitions name the
	// apimachinery types they use by Go path; the main file has them
	// under their model names (io.k8s.apimachinery...), which is what
	// definitionName makes of a Go path.
	for name, def := range metrics {
		deps := make([]string, len(def.Dependencies))
		for i, d := range def.Dependencies {
			deps[i] = d
			if _, ok := defs[d]; !ok {
				if _, ok := defs[definitionName(d)]; ok {
					deps[i] = definitionName(d)
				}
			}
		}
		def.Dependencies = deps
		metrics[name] = def
	}
	maps.Copy(defs, metrics)
	return defs
}

// metricsRoutes are the get and list operations of the metrics resources
// of gv (none for other group-versions), as metrics-server declares them.
func metricsRoutes(gv schema.GroupVersion) []common.Route {
	var out []common.Route
	for _, r := range resources.Metrics {
		if r.GVR.GroupVersion() != gv {
			continue
		}
		o := newOps(r)
		o.newObj = func() runtime.Object { return mustNew(r.GVK()) }
		o.newList = func() runtime.Object { return mustNew(gv.WithKind(r.ListKind)) }
		kind := r.Kind
		out = append(out,
			o.list(o.coll, "list"+o.infix+o.scope+kind),
			o.read(o.coll+"/{name}", "read"+o.infix+o.scope+kind, "read the specified "+kind))
		if r.Namespaced {
			out = append(out, o.list(rootPath(gv)+"/"+r.GVR.Resource, "list"+o.infix+kind+"ForAllNamespaces"))
		}
	}
	return out
}

func mustNew(gvk schema.GroupVersionKind) runtime.Object {
	obj, err := metricsScheme.New(gvk)
	if err != nil {
		panic("openapi: metrics kind not registered: " + gvk.String())
	}
	return obj
}
