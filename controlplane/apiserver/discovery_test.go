package apiserver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// kubectl 1.32's Accept for /api and /apis.
const kubectlDiscoveryAccept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"

func getDiscovery(t *testing.T, url, accept string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	return resp, raw
}

func findResource(t *testing.T, list apidiscoveryv2.APIGroupDiscoveryList, group, version, resource string) apidiscoveryv2.APIResourceDiscovery {
	t.Helper()
	for _, g := range list.Items {
		for _, v := range g.Versions {
			for _, r := range v.Resources {
				if g.Name == group && v.Version == version && r.Resource == resource {
					return r
				}
			}
		}
	}
	t.Fatalf("%s/%s %s not in the aggregated document", group, version, resource)
	return apidiscoveryv2.APIResourceDiscovery{}
}

func TestAggregatedDiscoveryDocument(t *testing.T) {
	e := newTestEnv(t)
	resp, body := getDiscovery(t, e.http.URL+"/apis", kubectlDiscoveryAccept)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList" {
		t.Fatalf("Content-Type = %q", ct)
	}
	var list apidiscoveryv2.APIGroupDiscoveryList
	if err := json.Unmarshal(body, &list); err != nil || list.APIVersion != "apidiscovery.k8s.io/v2" || list.Kind != "APIGroupDiscoveryList" {
		t.Fatalf("decode: %v %+v", err, list.TypeMeta)
	}
	deploy := findResource(t, list, "apps", "v1", "deployments")
	if deploy.Scope != apidiscoveryv2.ScopeNamespace || deploy.SingularResource != "deployment" ||
		!slices.Contains(deploy.ShortNames, "deploy") || !slices.Contains(deploy.Categories, "all") ||
		deploy.ResponseKind.Kind != "Deployment" || !slices.Contains(deploy.Verbs, "watch") {
		t.Errorf("deployments = %+v", deploy)
	}
	var scale *apidiscoveryv2.APISubresourceDiscovery
	for i, s := range deploy.Subresources {
		if s.Subresource == "scale" {
			scale = &deploy.Subresources[i]
		}
	}
	if scale == nil || *scale.ResponseKind != (metav1.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}) {
		t.Errorf("deployments/scale = %+v", scale)
	}
	nodes := findResource(t, list, "metrics.k8s.io", "v1beta1", "nodes")
	if nodes.Scope != apidiscoveryv2.ScopeCluster || !slices.Equal(nodes.Verbs, []string{"get", "list"}) || nodes.ResponseKind.Kind != "NodeMetrics" {
		t.Errorf("metrics nodes = %+v", nodes)
	}

	_, body = getDiscovery(t, e.http.URL+"/api", kubectlDiscoveryAccept)
	var core apidiscoveryv2.APIGroupDiscoveryList
	if err := json.Unmarshal(body, &core); err != nil || len(core.Items) != 1 || core.Items[0].Name != "" {
		t.Fatalf("/api = %s (%v)", body, err)
	}
	pods := findResource(t, core, "", "v1", "pods")
	var subs []string
	for _, s := range pods.Subresources {
		subs = append(subs, s.Subresource+":"+s.ResponseKind.Version+"/"+s.ResponseKind.Kind)
	}
	if !slices.Contains(subs, "status:v1/Pod") || !slices.Contains(subs, "binding:v1/Binding") || !slices.Contains(pods.ShortNames, "po") {
		t.Errorf("pods subresources %v shortNames %v", subs, pods.ShortNames)
	}

	// v2beta1 when asked first; legacy documents for plain JSON.
	resp, _ = getDiscovery(t, e.http.URL+"/apis", "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "v=v2beta1") {
		t.Errorf("v2beta1 asked: Content-Type %q", ct)
	}
	resp, body = getDiscovery(t, e.http.URL+"/apis", "application/json, */*")
	var legacy metav1.APIGroupList
	if err := json.Unmarshal(body, &legacy); err != nil || legacy.Kind != "APIGroupList" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("plain JSON: %s %s (%v)", resp.Header.Get("Content-Type"), body, err)
	}
}

// TestClientUsesAggregatedDiscovery has client-go's discovery client (what
// kubectl uses) read every group and resource: two requests, /api and
// /apis, and the same resources the legacy per-group documents list.
func TestClientUsesAggregatedDiscovery(t *testing.T) {
	e := newTestEnv(t)
	var requests atomic.Int32
	var paths []string
	counted := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		paths = append(paths, r.URL.Path)
		e.srv.ServeHTTP(w, r)
	}))
	defer counted.Close()
	dc, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: counted.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, lists, err := dc.ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("discovery made %d requests %v, want 2 (/api and /apis)", n, paths)
	}
	for _, l := range lists {
		var names []string
		for _, r := range l.APIResources {
			names = append(names, r.Name)
		}
		prefix := "/apis/"
		if l.GroupVersion == "v1" {
			prefix = "/api/"
		}
		_, body := getDiscovery(t, e.http.URL+prefix+l.GroupVersion, "application/json")
		var legacy metav1.APIResourceList
		if err := json.Unmarshal(body, &legacy); err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, r := range legacy.APIResources {
			want = append(want, r.Name)
		}
		slices.Sort(names)
		slices.Sort(want)
		if !slices.Equal(names, want) {
			t.Errorf("%s: aggregated %v, legacy %v", l.GroupVersion, names, want)
		}
	}
	if len(lists) < 5 {
		t.Errorf("only %d group-versions discovered", len(lists))
	}
}

func TestAggregatedVersion(t *testing.T) {
	for accept, want := range map[string]string{
		kubectlDiscoveryAccept: "v2",
		"application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList": "v2beta1",
		"application/json, application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList":                                                                            "",
		"application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList":                                                                                              "",
		"": "",
		"application/json;as=Table;v=v1;g=meta.k8s.io": "",
	} {
		if got := aggregatedVersion(accept); got != want {
			t.Errorf("aggregatedVersion(%q) = %q, want %q", accept, got, want)
		}
	}
}

func FuzzAggregatedVersion(f *testing.F) {
	f.Add(kubectlDiscoveryAccept)
	f.Add("application/json;g=;;v=v2,")
	f.Fuzz(func(t *testing.T, accept string) {
		if v := aggregatedVersion(accept); v != "" && v != "v2" && v != "v2beta1" {
			t.Errorf("aggregatedVersion(%q) = %q", accept, v)
		}
	})
}
