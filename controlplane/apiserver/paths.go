package apiserver

import (
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/switchyard-net/switchyard/controlplane/resources"
)

// requestInfo is what a resource request path and method say.
type requestInfo struct {
	Verb        string // get, list, watch, create, update, patch, delete, deletecollection
	GV          schema.GroupVersion
	Resource    resources.Resource
	Namespace   string
	Name        string
	Subresource string
	// Manager is the field manager a write is recorded under in
	// managedFields; empty for writes that are not tracked as updates
	// (server-side apply records its own entry; internal writes).
	Manager string
}

// parseRequest maps a path such as /api/v1/namespaces/ns/services/web/status
// to its parts. ok is false when the path is not a resource path; err (an
// API status error) when it names something that is not served.
func parseRequest(r *http.Request) (info requestInfo, ok bool, err error) {
	segs := splitPath(r.URL.Path)
	var rest []string
	switch {
	case len(segs) >= 3 && segs[0] == "api":
		info.GV = schema.GroupVersion{Version: segs[1]}
		rest = segs[2:]
	case len(segs) >= 4 && segs[0] == "apis":
		info.GV = schema.GroupVersion{Group: segs[1], Version: segs[2]}
		rest = segs[3:]
	default:
		return info, false, nil
	}
	plural := rest[0]
	if plural == "namespaces" && len(rest) >= 3 && !isNamespaceSubresource(rest) {
		info.Namespace = rest[1]
		rest = rest[2:]
		plural = rest[0]
	}
	res, found := resources.Lookup(info.GV, plural)
	if !found {
		return info, true, errNotServed(info.GV, plural)
	}
	info.Resource = res
	if len(rest) > 1 {
		info.Name = rest[1]
	}
	if len(rest) > 2 {
		info.Subresource = rest[2]
	}
	if len(rest) > 3 {
		return info, true, errNotServed(info.GV, strings.Join(rest, "/"))
	}
	if info.Namespace != "" && !res.Namespaced {
		return info, true, errNotServed(info.GV, "namespaces/"+info.Namespace+"/"+plural)
	}
	info.Verb = verbFor(r, info)
	return info, true, nil
}

// isNamespaceSubresource tells /namespaces/NAME/status (a subresource of the
// namespace) from /namespaces/NS/RESOURCE.
func isNamespaceSubresource(rest []string) bool {
	return len(rest) == 3 && (rest[2] == "status" || rest[2] == "finalize")
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func verbFor(r *http.Request, info requestInfo) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if info.Name != "" {
			return "get"
		}
		if w := r.URL.Query().Get("watch"); w == "true" || w == "1" {
			return "watch"
		}
		return "list"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		if info.Name == "" {
			return "deletecollection"
		}
		return "delete"
	}
	return ""
}

// storageKey is the etcd key of one object; prefix keys end in "/".
func storageKey(res resources.Resource, namespace, name string) string {
	return storagePrefix(res, namespace) + name
}

// storagePrefix is the key prefix of a resource, of one namespace when
// namespace is set.
func storagePrefix(res resources.Resource, namespace string) string {
	res = res.Storage()
	group := res.GVR.Group
	if group == "" {
		group = "core"
	}
	p := "/registry/" + group + "/" + res.GVR.Resource + "/"
	if res.Namespaced && namespace != "" {
		p += namespace + "/"
	}
	return p
}
