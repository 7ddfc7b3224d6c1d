package resources

import (
	"encoding/json"
	"reflect"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
)

// The gateway.networking.k8s.io rows: the Gateway API kinds of the
// standard channel of sigs.k8s.io/gateway-api, served as built-in kinds
// (where a Kubernetes cluster gets them from CRDs). v1 is stored; the
// v1beta1 versions the standard CRDs still serve are views of the v1
// objects, converted through JSON: the two versions have the same schema
// for these kinds, which is why the CRDs convert them with strategy None.

// GatewayBundleVersion and GatewayChannel are the release and channel of
// the served Gateway API, announced on the CustomResourceDefinitions the
// API server lists for them (the conformance suite checks both).
const (
	GatewayBundleVersion = "v1.6.3"
	GatewayChannel       = "standard"
)

// The Gateway API types join client-go's scheme, the one every codec,
// printer and field manager of the server uses, as client-go's own kinds
// join it in its init. Registration is idempotent.
func init() {
	utilruntime.Must(gatewayv1.Install(scheme.Scheme))
	utilruntime.Must(gatewayv1beta1.Install(scheme.Scheme))
}

var gatewayAPICategories = []string{"gateway-api"}

var gatewayClasses = Resource{
	GVR: gvr(gatewayv1.GroupName, "v1", "gatewayclasses"), Kind: "GatewayClass", ListKind: "GatewayClassList",
	Singular: "gatewayclass", ShortNames: []string{"gc"}, Status: true, Categories: gatewayAPICategories,
	PrepareCreate: typed(func(gc *gatewayv1.GatewayClass) { gc.Status = gatewayv1.GatewayClassStatus{} }),
}

var gateways = Resource{
	GVR: gvr(gatewayv1.GroupName, "v1", "gateways"), Kind: "Gateway", ListKind: "GatewayList", Singular: "gateway",
	Namespaced: true, ShortNames: []string{"gtw"}, Status: true, Categories: gatewayAPICategories,
	PrepareCreate: typed(func(g *gatewayv1.Gateway) { g.Status = gatewayv1.GatewayStatus{} }),
}

var httpRoutes = Resource{
	GVR: gvr(gatewayv1.GroupName, "v1", "httproutes"), Kind: "HTTPRoute", ListKind: "HTTPRouteList", Singular: "httproute",
	Namespaced: true, Status: true, Categories: gatewayAPICategories,
	PrepareCreate: typed(func(r *gatewayv1.HTTPRoute) { r.Status = gatewayv1.HTTPRouteStatus{} }),
}

var grpcRoutes = Resource{
	GVR: gvr(gatewayv1.GroupName, "v1", "grpcroutes"), Kind: "GRPCRoute", ListKind: "GRPCRouteList", Singular: "grpcroute",
	Namespaced: true, Status: true, Categories: gatewayAPICategories,
	PrepareCreate: typed(func(r *gatewayv1.GRPCRoute) { r.Status = gatewayv1.GRPCRouteStatus{} }),
}

// ReferenceGrants have no status: a grant is read, never reported on.
var referenceGrants = Resource{
	GVR: gvr(gatewayv1.GroupName, "v1", "referencegrants"), Kind: "ReferenceGrant", ListKind: "ReferenceGrantList",
	Singular: "referencegrant", Namespaced: true, ShortNames: []string{"refgrant"}, Categories: gatewayAPICategories,
}

var (
	gatewayClassesV1beta1  = v1beta1View(&gatewayClasses, func() runtime.Object { return &gatewayv1beta1.GatewayClass{} })
	gatewaysV1beta1        = v1beta1View(&gateways, func() runtime.Object { return &gatewayv1beta1.Gateway{} })
	httpRoutesV1beta1      = v1beta1View(&httpRoutes, func() runtime.Object { return &gatewayv1beta1.HTTPRoute{} })
	referenceGrantsV1beta1 = v1beta1View(&referenceGrants, func() runtime.Object { return &gatewayv1beta1.ReferenceGrant{} })
)

// IsGatewayAPI says r is one of the Gateway API resources (the ones the
// server lists CustomResourceDefinitions for).
func IsGatewayAPI(r Resource) bool { return r.GVR.Group == gatewayv1.GroupName }

// v1beta1View is the v1beta1 version of a v1 row: the same names and
// behaviour, stored as the v1 objects.
func v1beta1View(v1 *Resource, newBeta func() runtime.Object) Resource {
	r := *v1
	r.GVR.Version = "v1beta1"
	newV1 := func() runtime.Object {
		return reflect.New(reflect.TypeOf(v1.New()).Elem()).Interface().(runtime.Object)
	}
	r.StoredAs = &View{
		Of: v1,
		ToStored: func(obj runtime.Object) runtime.Object {
			return convertJSON(obj, newV1(), v1.GVK().GroupVersion().String())
		},
		FromStored: func(obj runtime.Object) runtime.Object {
			return convertJSON(obj, newBeta(), r.GVR.GroupVersion().String())
		},
	}
	// The hooks are typed for the v1 kind: run them on a converted copy.
	if f := v1.PrepareCreate; f != nil {
		r.PrepareCreate = func(obj runtime.Object) {
			stored := r.StoredAs.ToStored(obj)
			f(stored)
			copyJSON(r.StoredAs.FromStored(stored), obj)
		}
	}
	return r
}

// convertJSON converts between two versions with the same schema by
// re-decoding the JSON of in into out and setting out's apiVersion.
func convertJSON(in, out runtime.Object, apiVersion string) runtime.Object {
	copyJSON(in, out)
	gv, _ := schema.ParseGroupVersion(apiVersion)
	out.GetObjectKind().SetGroupVersionKind(gv.WithKind(reflect.TypeOf(out).Elem().Name()))
	return out
}

func copyJSON(in, out runtime.Object) {
	b, err := json.Marshal(in)
	if err != nil {
		panic("resources: marshal " + reflect.TypeOf(in).String() + ": " + err.Error())
	}
	reflect.ValueOf(out).Elem().SetZero()
	if err := json.Unmarshal(b, out); err != nil {
		panic("resources: convert to " + reflect.TypeOf(out).String() + ": " + err.Error())
	}
}
