package apiserver

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/switchyard-net/switchyard/controlplane/store"
)

var schemaEmpty = schema.GroupVersionKind{}

// resourceOrDiscovery is the catch-all route: discovery documents, then
// resource requests.
func (s *Server) resourceOrDiscovery(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && s.groupDiscovery(w, r) {
		return
	}
	info, ok, err := parseRequest(r)
	if !ok {
		s.writeError(w, r, apierrors.NewNotFound(schema.GroupResource{}, r.URL.Path))
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.serveResource(w, r, info)
}

func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, info requestInfo) {
	if isPodStream(info) && info.Name != "" {
		s.servePodStream(w, r, info)
		return
	}
	if info.Subresource != "" && !subresourceAllowed(info) {
		s.writeError(w, r, apierrors.NewNotFound(info.Resource.GVR.GroupResource(), info.Name+"/"+info.Subresource))
		return
	}
	if info.Subresource == "scale" {
		s.serveScale(w, r, info)
		return
	}
	if info.Subresource == "token" {
		s.tokenRequest(w, r, info)
		return
	}
	if info.Resource.Review {
		s.review(w, r, info)
		return
	}
	switch info.Verb {
	case "get":
		s.get(w, r, info)
	case "list":
		s.list(w, r, info)
	case "watch":
		s.watch(w, r, info)
	case "create":
		s.create(w, r, info)
	case "update":
		s.update(w, r, info)
	case "patch":
		s.patch(w, r, info)
	case "delete":
		s.delete(w, r, info)
	case "deletecollection":
		s.deleteCollection(w, r, info)
	default:
		s.writeError(w, r, apierrors.NewMethodNotSupported(info.Resource.GVR.GroupResource(), r.Method))
	}
}

func subresourceAllowed(info requestInfo) bool {
	switch info.Subresource {
	case "status":
		return info.Resource.Status && (info.Verb == "get" || info.Verb == "update" || info.Verb == "patch")
	case "scale":
		return info.Resource.Scale != nil && (info.Verb == "get" || info.Verb == "update" || info.Verb == "patch")
	case "binding":
		return info.Resource.Binding && info.Verb == "create"
	case "token":
		return info.Resource.GVR == corev1.SchemeGroupVersion.WithResource("serviceaccounts") && info.Verb == "create"
	}
	return false
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, info requestInfo) {
	obj, err := s.getObject(r, info, info.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, r, http.StatusOK, obj)
}

// getObject reads one object, mapping a missing key to 404.
func (s *Server) getObject(r *http.Request, info requestInfo, name string) (runtime.Object, error) {
	kv, err := s.store.Get(r.Context(), storageKey(info.Resource, info.Namespace, name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierrors.NewNotFound(info.Resource.GVR.GroupResource(), name)
	}
	if err != nil {
		return nil, err
	}
	return decodeStored(info.Resource, kv)
}

// continueToken carries a paged list's revision and last key.
type continueToken struct {
	Rev int64  `json:"rv"`
	Key string `json:"start"`
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, info requestInfo) {
	list, err := s.listObjects(r, info)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, r, http.StatusOK, list)
}

func (s *Server) listObjects(r *http.Request, info requestInfo) (runtime.Object, error) {
	q := r.URL.Query()
	sel, err := parseSelectors(q, info.Resource)
	sel.visible = filterOf(r.Context())
	if err != nil {
		return nil, err
	}
	limit, _ := strconv.ParseInt(q.Get("limit"), 10, 64)
	rev, start, err := listStart(q.Get("continue"), q.Get("resourceVersion"), q.Get("resourceVersionMatch"))
	if err != nil {
		return nil, err
	}
	kvs, listRev, err := s.store.List(r.Context(), storagePrefix(info.Resource, info.Namespace), rev)
	if errors.Is(err, store.ErrCompacted) {
		return nil, apierrors.NewResourceExpired(fmt.Sprintf("resourceVersion %d is too old", rev))
	}
	if errors.Is(err, store.ErrFutureRevision) {
		return nil, apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %d", rev), 1)
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].Key < kvs[j].Key })
	items, cont, err := s.pageItems(info, kvs, sel, start, limit, listRev)
	if err != nil {
		return nil, err
	}
	return newList(info.Resource, items, listRev, cont)
}

func (s *Server) pageItems(info requestInfo, kvs []store.KV, sel selectors, start string, limit, rev int64) ([]runtime.Object, string, error) {
	items := []runtime.Object{}
	for i, kv := range kvs {
		if start != "" && kv.Key <= start {
			continue
		}
		obj, err := decodeStored(info.Resource, kv)
		if err != nil {
			return nil, "", err
		}
		if !sel.matches(obj) {
			continue
		}
		items = append(items, obj)
		if limit > 0 && int64(len(items)) == limit && i < len(kvs)-1 {
			tok, _ := json.Marshal(continueToken{Rev: rev, Key: kv.Key})
			return items, base64.RawURLEncoding.EncodeToString(tok), nil
		}
	}
	return items, "", nil
}

// listStart decides the revision and start key of a list: a continue token
// pins both; resourceVersionMatch=Exact pins the revision; anything else
// reads the latest state, which is never older than a given resourceVersion.
func listStart(cont, rv, match string) (int64, string, error) {
	if cont != "" {
		b, err := base64.RawURLEncoding.DecodeString(cont)
		var tok continueToken
		if err == nil {
			err = json.Unmarshal(b, &tok)
		}
		if err != nil {
			return 0, "", apierrors.NewBadRequest("invalid continue token")
		}
		return tok.Rev, tok.Key, nil
	}
	v, err := parseRV(rv)
	if err != nil {
		return 0, "", apierrors.NewBadRequest(err.Error())
	}
	if strings.EqualFold(match, string(metav1.ResourceVersionMatchExact)) {
		return v, "", nil
	}
	return 0, "", nil
}
