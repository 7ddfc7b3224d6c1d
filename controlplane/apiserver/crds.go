package apiserver

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/switchyard-net/switchyard/controlplane/resources"
)

// apiextensions.k8s.io/v1 CustomResourceDefinitions, read-only: one per
// Gateway API resource the server serves built in, computed from the
// resource table, carrying the annotations of the Gateway API release
// (gateway.networking.k8s.io/bundle-version and /channel) that the
// conformance suite and tools read to learn which API is installed. get,
// list and watch (the initial events; the definitions never change while
// the server runs). The schema is left open: validation is the server's
// own (controlplane/validation), not a CRD's.

func init() { utilruntime.Must(apiextensionsv1.AddToScheme(scheme.Scheme)) }

const (
	bundleVersionAnnotation = "gateway.networking.k8s.io/bundle-version"
	channelAnnotation       = "gateway.networking.k8s.io/channel"
)

// crdResourceVersion is the resourceVersion of the computed definitions:
// constant, since they never change.
const crdResourceVersion = "1"

// crdList builds the definitions, created at the server's start.
func (s *Server) crdList() *apiextensionsv1.CustomResourceDefinitionList {
	list := &apiextensionsv1.CustomResourceDefinitionList{ListMeta: metav1.ListMeta{ResourceVersion: crdResourceVersion}}
	for _, versions := range resources.GatewayCRDVersions() {
		list.Items = append(list.Items, *crdOf(versions, s.started))
	}
	return list
}

func crdOf(versions []resources.Resource, created time.Time) *apiextensionsv1.CustomResourceDefinition {
	r := versions[0]
	name := r.GVR.Resource + "." + r.GVR.Group
	names := apiextensionsv1.CustomResourceDefinitionNames{
		Plural: r.GVR.Resource, Singular: r.Singular, Kind: r.Kind, ListKind: r.ListKind,
		ShortNames: r.ShortNames, Categories: r.Categories,
	}
	scope := apiextensionsv1.ClusterScoped
	if r.Namespaced {
		scope = apiextensionsv1.NamespaceScoped
	}
	open := true
	crd := &apiextensionsv1.CustomResourceDefinition{
		TypeMeta: metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, UID: crdUID(name), ResourceVersion: crdResourceVersion, Generation: 1,
			CreationTimestamp: metav1.NewTime(created),
			Annotations: map[string]string{
				bundleVersionAnnotation: resources.GatewayBundleVersion,
				channelAnnotation:       resources.GatewayChannel,
			},
		},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: r.GVR.Group, Names: names, Scope: scope,
			Conversion: &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.NoneConverter},
		},
		Status: apiextensionsv1.CustomResourceDefinitionStatus{
			AcceptedNames:  names,
			StoredVersions: []string{r.GVR.Version},
			Conditions: []apiextensionsv1.CustomResourceDefinitionCondition{
				{Type: apiextensionsv1.NamesAccepted, Status: apiextensionsv1.ConditionTrue, Reason: "NoConflicts", Message: "no conflicts found", LastTransitionTime: metav1.NewTime(created)},
				{Type: apiextensionsv1.Established, Status: apiextensionsv1.ConditionTrue, Reason: "InitialNamesAccepted", Message: "the initial names have been accepted", LastTransitionTime: metav1.NewTime(created)},
			},
		},
	}
	for i, v := range versions {
		cv := apiextensionsv1.CustomResourceDefinitionVersion{
			Name: v.GVR.Version, Served: true, Storage: i == 0,
			Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
				Type: "object", XPreserveUnknownFields: &open,
			}},
		}
		if v.Status {
			cv.Subresources = &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}}
		}
		crd.Spec.Versions = append(crd.Spec.Versions, cv)
	}
	return crd
}

// crdUID is stable across restarts, as the definitions are: a name-based
// UUID.
func crdUID(name string) types.UID {
	return types.UID(uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://switchyard.dev/crd/"+name)).String())
}

// serveCRDs answers /apis/apiextensions.k8s.io/v1/...
func (s *Server) serveCRDs(w http.ResponseWriter, r *http.Request) {
	segs := splitPath(r.URL.Path)
	if len(segs) == 3 && r.Method == http.MethodGet && s.groupDiscovery(w, r) {
		return
	}
	res := resources.CRDs
	gr := res.GVR.GroupResource()
	if len(segs) < 4 || len(segs) > 5 || segs[3] != res.GVR.Resource {
		s.writeError(w, r, errNotServed(res.GVR.GroupVersion(), strings.Join(segs[3:], "/")))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		verb := map[string]string{http.MethodPost: "create", http.MethodPut: "update", http.MethodPatch: "patch", http.MethodDelete: "delete"}[r.Method]
		s.writeError(w, r, apierrors.NewMethodNotSupported(gr, verb))
		return
	}
	q := r.URL.Query()
	sel, err := parseSelectors(q, res)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list := s.crdList()
	if len(segs) == 5 {
		for i := range list.Items {
			if list.Items[i].Name == segs[4] {
				s.writeObject(w, r, http.StatusOK, &list.Items[i])
				return
			}
		}
		s.writeError(w, r, apierrors.NewNotFound(gr, segs[4]))
		return
	}
	var items []apiextensionsv1.CustomResourceDefinition
	for _, crd := range list.Items {
		if sel.matches(&crd) {
			items = append(items, crd)
		}
	}
	list.Items = items
	if v := q.Get("watch"); v == "true" || v == "1" {
		s.watchCRDs(w, r, sel, list)
		return
	}
	list.TypeMeta = metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinitionList"}
	s.writeObject(w, r, http.StatusOK, list)
}

// watchCRDs sends the definitions as ADDED events to a watch from the
// start (no resourceVersion, 0, or sendInitialEvents=true, then ended by
// the initial-events bookmark when asked), and nothing else: they never
// change. The stream stays open until the client or its timeout ends it.
func (s *Server) watchCRDs(w http.ResponseWriter, r *http.Request, sel selectors, list *apiextensionsv1.CustomResourceDefinitionList) {
	q := r.URL.Query()
	ctx := r.Context()
	if t, err := strconv.Atoi(q.Get("timeoutSeconds")); err == nil && t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(t)*time.Second)
		defer cancel()
	}
	flusher, _ := w.(http.Flusher)
	wt := &watcher{s: s, w: w, flusher: flusher, info: requestInfo{Resource: resources.CRDs}, sel: sel, out: negotiate(r)}
	if wt.out.media == mediaYAML {
		wt.out.media = mediaJSON
	}
	w.Header().Set("Content-Type", wt.out.media)
	w.WriteHeader(http.StatusOK)
	wt.flush()
	rv := q.Get("resourceVersion")
	sendInitial := q.Get("sendInitialEvents") == "true"
	if sendInitial || rv == "" || rv == "0" {
		for i := range list.Items {
			if err := wt.send(watch.Added, &list.Items[i]); err != nil {
				return
			}
		}
	}
	if sendInitial && q.Get("allowWatchBookmarks") == "true" {
		wt.lastRev = 1
		if err := wt.sendBookmark(map[string]string{initialEventsEndAnnotation: "true"}); err != nil {
			return
		}
	}
	<-ctx.Done()
}
