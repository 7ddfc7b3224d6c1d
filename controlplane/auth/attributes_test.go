package auth

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestAttributes(t *testing.T) {
	u := usr("jane")
	tests := []struct {
		method, target                             string
		verb, group, resource, sub, ns, name, path string
		resourceRequest                            bool
	}{
		{"GET", "/api/v1/namespaces/dev/pods", "list", "", "pods", "", "dev", "", "", true},
		{"GET", "/api/v1/namespaces/dev/pods?watch=true", "watch", "", "pods", "", "dev", "", "", true},
		{"GET", "/api/v1/namespaces/dev/pods/web/log", "get", "", "pods", "log", "dev", "web", "", true},
		{"PUT", "/api/v1/namespaces/dev/pods/web/status", "update", "", "pods", "status", "dev", "web", "", true},
		{"DELETE", "/apis/apps/v1/namespaces/dev/deployments", "deletecollection", "apps", "deployments", "", "dev", "", "", true},
		{"PATCH", "/apis/apps/v1/namespaces/dev/deployments/d/scale", "patch", "apps", "deployments", "scale", "dev", "d", "", true},
		{"POST", "/api/v1/namespaces", "create", "", "namespaces", "", "", "", "", true},
		{"GET", "/api/v1/namespaces/dev", "get", "", "namespaces", "", "dev", "dev", "", true},
		{"GET", "/api/v1/nodes/n1", "get", "", "nodes", "", "", "n1", "", true},
		{"GET", "/api/v1/namespaces/app/secrets?fieldSelector=metadata.name%3Dtls&watch=1", "watch", "", "secrets", "", "app", "tls", "", true},
		{"GET", "/healthz", "get", "", "", "", "", "", "/healthz", false},
		{"GET", "/apis/apps/v1", "get", "", "", "", "", "", "/apis/apps/v1", false},
		{"POST", "/openapi/v2", "post", "", "", "", "", "", "/openapi/v2", false},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			a, err := Attributes(httptest.NewRequest(tt.method, tt.target, nil), u)
			if err != nil {
				t.Fatal(err)
			}
			if a.Verb != tt.verb || a.APIGroup != tt.group || a.Resource != tt.resource || a.Subresource != tt.sub ||
				a.Namespace != tt.ns || a.Name != tt.name || a.ResourceRequest != tt.resourceRequest ||
				(!tt.resourceRequest && a.Path != tt.path) {
				t.Errorf("got %+v", a)
			}
		})
	}
}

// FuzzAttributes: any method, path and query parse without a panic into
// attributes that say what they are: a resource request names a resource
// and, for the HTTP methods the API answers, a Kubernetes verb (another
// method gets none, which no rule but "*" matches); a non-resource request
// carries its path.
func FuzzAttributes(f *testing.F) {
	for _, s := range []string{"/api/v1/namespaces/a/pods/b/status", "/apis/apps/v1/deployments?watch=1", "/api", "//", "/apis/x/y/namespaces//z",
		"/api/v1/namespaces/a/secrets?fieldSelector=metadata.name%3Dx", "/api/v1/watch/namespaces/a/pods", "/apis/g/v/namespaces/ns/r/n/s/extra"} {
		f.Add("GET", s)
		f.Add("DELETE", s)
	}
	verbs := map[string]bool{"get": true, "list": true, "watch": true, "create": true, "update": true, "patch": true,
		"delete": true, "deletecollection": true, "proxy": true}
	f.Fuzz(func(t *testing.T, method, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || method == "" || strings.ContainsAny(method, " \t\r\n") {
			return
		}
		r := &http.Request{Method: method, URL: u, Header: http.Header{}}
		a, err := Attributes(r, usr("fuzz"))
		if err != nil {
			return
		}
		if a.ResourceRequest {
			if a.Resource == "" {
				t.Errorf("%s %s: resource request without a resource: %+v", method, target, a)
			}
			if known := strings.Contains(" GET HEAD POST PUT PATCH DELETE ", " "+method+" "); known && !verbs[a.Verb] {
				t.Errorf("%s %s: unexpected verb %q", method, target, a.Verb)
			}
		} else if a.Path != u.Path {
			t.Errorf("%s %s: path %q", method, target, a.Path)
		}
		_ = ForbiddenMessage(a)
	})
}
