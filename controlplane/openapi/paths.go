package openapi

import (
	"net/http"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/kube-openapi/pkg/common"

	"github.com/switchyard-net/switchyard/controlplane/resources"
)

const extensionAction = "x-kubernetes-action"

var (
	anyMedia   = []string{"*/*"}
	mediaTypes = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
	watchMedia = append(mediaTypes[:len(mediaTypes):len(mediaTypes)],
		"application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch")
	patchMedia = []string{
		string(types.JSONPatchType), string(types.MergePatchType),
		string(types.StrategicMergePatchType), string(types.ApplyYAMLPatchType),
	}
)

// rootPath is where a group-version's resources live: /api/v1 or
// /apis/GROUP/VERSION.
func rootPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "/api/" + gv.Version
	}
	return "/apis/" + gv.Group + "/" + gv.Version
}

// gvContainer returns the routes of every served resource of gv.
func gvContainer(gv schema.GroupVersion) container {
	c := container{root: rootPath(gv)}
	for _, r := range resources.ForGroupVersion(gv) {
		c.routes = append(c.routes, newOps(r).routes()...)
	}
	c.routes = append(c.routes, metricsRoutes(gv)...)
	return c
}

// ops builds one resource's operations, named as kube-apiserver names them
// (listCoreV1NamespacedService, patchNetworkingV1Ingress, ...).
type ops struct {
	res   resources.Resource
	gvk   metav1.GroupVersionKind
	infix string // group and version in operation IDs: CoreV1, NetworkingV1
	tag   string // core_v1, networking_v1
	scope string // "Namespaced" or ""
	coll  string // the collection path
	// newObj and newList make samples of the kind and its list (the
	// resource's own by default).
	newObj, newList func() runtime.Object
}

func newOps(r resources.Resource) ops {
	gv := r.GVR.GroupVersion()
	words := strings.Split(strings.TrimSuffix(gv.Group, ".k8s.io"), ".")
	if gv.Group == "" {
		words = []string{"core"}
	}
	o := ops{res: r, gvk: metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: r.Kind}, newObj: r.New, newList: r.NewList}
	for _, w := range words {
		o.infix += strings.ToUpper(w[:1]) + w[1:]
	}
	o.infix += strings.ToUpper(gv.Version[:1]) + gv.Version[1:]
	o.tag = strings.Join(words, "_") + "_" + gv.Version
	o.coll = rootPath(gv) + "/" + r.GVR.Resource
	if r.Namespaced {
		o.scope = "Namespaced"
		o.coll = rootPath(gv) + "/namespaces/{namespace}/" + r.GVR.Resource
	}
	return o
}

// routes returns the collection, item and (if any) status operations, and
// for namespaced resources the list across all namespaces.
func (o ops) routes() []common.Route {
	kind := o.res.Kind
	item := o.coll + "/{name}"
	if o.res.Review { // a create-only question: POST and nothing else
		return []common.Route{o.write(http.MethodPost, "create", o.coll, "create"+o.infix+o.scope+kind, "create a "+kind, http.StatusCreated, http.StatusAccepted)}
	}
	out := []common.Route{
		o.list(o.coll, "list"+o.infix+o.scope+kind),
		o.write(http.MethodPost, "create", o.coll, "create"+o.infix+o.scope+kind, "create a "+kind, http.StatusCreated, http.StatusAccepted),
		o.deleteCollection(),
		o.read(item, "read"+o.infix+o.scope+kind, "read the specified "+kind),
		o.write(http.MethodPut, "update", item, "replace"+o.infix+o.scope+kind, "replace the specified "+kind, http.StatusCreated),
		o.patch(item, "patch"+o.infix+o.scope+kind, "partially update the specified "+kind),
		o.delete(item),
	}
	if o.res.Status {
		status := item + "/status"
		out = append(out,
			o.read(status, "read"+o.infix+o.scope+kind+"Status", "read status of the specified "+kind),
			o.write(http.MethodPut, "update", status, "replace"+o.infix+o.scope+kind+"Status", "replace status of the specified "+kind, http.StatusCreated),
			o.patch(status, "patch"+o.infix+o.scope+kind+"Status", "partially update status of the specified "+kind),
		)
	}
	if o.res.Scale != nil {
		out = append(out, o.scaleRoutes(item+"/scale")...)
	}
	if o.res.Namespaced {
		out = append(out, o.list(rootPath(o.res.GVR.GroupVersion())+"/"+o.res.GVR.Resource, "list"+o.infix+kind+"ForAllNamespaces"))
	}
	return out
}

// op is an operation without parameters or responses; path parameters are
// added from the path.
func (o ops) op(method, action, path, id, desc string) *route {
	r := &route{
		method: method, path: path, id: id, desc: desc, tags: []string{o.tag},
		consumes: anyMedia, produces: mediaTypes,
		meta: map[string]any{extensionAction: action, extensionGVK: o.gvk},
	}
	if strings.Contains(path, "{namespace}") {
		r.params = append(r.params, paramNamespace)
	}
	if strings.Contains(path, "{name}") {
		r.params = append(r.params, pathParam("name", "name of the "+o.res.Kind))
	}
	return r
}

func (o ops) list(path, id string) *route {
	r := o.op(http.MethodGet, "list", path, id, "list or watch objects of kind "+o.res.Kind)
	r.produces = watchMedia
	r.params = append(r.params, listParams...)
	r.responses = []common.StatusCodeResponse{response{http.StatusOK, "OK", o.newList()}}
	return r
}

func (o ops) read(path, id, desc string) *route {
	r := o.op(http.MethodGet, "get", path, id, desc)
	r.responses = []common.StatusCodeResponse{response{http.StatusOK, "OK", o.newObj()}}
	return r
}

// write is create (POST) or update (PUT): the object in, the object out
// with 200 or any of codes.
func (o ops) write(method, action, path, id, desc string, codes ...int) *route {
	r := o.op(method, action, path, id, desc)
	r.body = o.newObj()
	r.params = append(append(r.params, bodyParam()), writeParams...)
	r.responses = o.objectResponses(codes...)
	return r
}

func (o ops) patch(path, id, desc string) *route {
	r := o.op(http.MethodPatch, "patch", path, id, desc)
	r.consumes = patchMedia
	r.body = metav1.Patch{}
	r.params = append(append(r.params, bodyParam()), patchParams...)
	r.responses = o.objectResponses(http.StatusCreated)
	return r
}

// delete answers with the deleted (or terminating) object, as the
// switchyard API server does.
func (o ops) delete(path string) *route {
	r := o.op(http.MethodDelete, "delete", path, "delete"+o.infix+o.scope+o.res.Kind, "delete a "+o.res.Kind)
	r.body = &metav1.DeleteOptions{}
	r.params = append(append(r.params, bodyParam()), deleteParams...)
	r.responses = o.objectResponses(http.StatusAccepted)
	return r
}

func (o ops) deleteCollection() *route {
	r := o.op(http.MethodDelete, "deletecollection", o.coll, "delete"+o.infix+"Collection"+o.scope+o.res.Kind, "delete collection of "+o.res.Kind)
	r.body = &metav1.DeleteOptions{}
	r.params = append(append(r.params, bodyParam()), deleteParams...)
	for _, p := range listParams {
		if n := p.Name(); n != "watch" && n != "allowWatchBookmarks" {
			r.params = append(r.params, p)
		}
	}
	r.responses = []common.StatusCodeResponse{response{http.StatusOK, "OK", &metav1.Status{}}}
	return r
}

// objectResponses answers 200 and each of codes with the resource's kind.
func (o ops) objectResponses(codes ...int) []common.StatusCodeResponse {
	out := []common.StatusCodeResponse{response{http.StatusOK, "OK", o.newObj()}}
	for _, c := range codes {
		out = append(out, response{c, http.StatusText(c), o.newObj()})
	}
	return out
}

// scaleRoutes are the read, replace and patch operations of the /scale
// subresource, whose body is an autoscaling/v1 Scale.
func (o ops) scaleRoutes(path string) []common.Route {
	kind := o.res.Kind
	gvk := metav1.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}
	scaled := func(r *route) *route {
		r.meta[extensionGVK] = gvk
		for i, resp := range r.responses {
			rr := resp.(response)
			rr.model = &autoscalingv1.Scale{}
			r.responses[i] = rr
		}
		if r.method == http.MethodPut {
			r.body = &autoscalingv1.Scale{}
		}
		return r
	}
	return []common.Route{
		scaled(o.read(path, "read"+o.infix+o.scope+kind+"Scale", "read scale of the specified "+kind)),
		scaled(o.write(http.MethodPut, "update", path, "replace"+o.infix+o.scope+kind+"Scale", "replace scale of the specified "+kind, http.StatusCreated)),
		scaled(o.patch(path, "patch"+o.infix+o.scope+kind+"Scale", "partially update scale of the specified "+kind)),
	}
}
