package e2e

import (
	"regexp"
	"strings"
	"testing"
)

// TestKubectlAggregatedDiscovery checks that kubectl 1.32, with an empty
// discovery cache, learns every group and resource from the aggregated
// documents at /api and /apis and asks for no per-group document, and
// still finds every kind: api-resources lists the metrics.k8s.io and apps
// kinds with their short names and verbs.
func TestKubectlAggregatedDiscovery(t *testing.T) {
	d := startDaemon(t, t.TempDir(), "")
	run, mustRun := kubectlRunner(t, d)

	out, err := run("get", "deploy", "-v=8")
	if err != nil {
		t.Fatalf("kubectl get deploy -v=8: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Content-Type: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList") {
		t.Errorf("kubectl did not receive the aggregated discovery document:\n%s", out)
	}
	perGroup := regexp.MustCompile(`GET https?://\S+/(api/v1|apis/[^/\s?]+/[^/\s?]+)(\?|\s|$)`)
	if m := perGroup.FindAllString(out, -1); len(m) > 0 {
		t.Errorf("kubectl fetched per-group discovery documents %q although aggregated discovery was served", m)
	}

	out = mustRun("api-resources", "-o", "wide")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^nodes\s+metrics\.k8s\.io/v1beta1\s+false\s+NodeMetrics\s+get,list`),
		regexp.MustCompile(`(?m)^pods\s+metrics\.k8s\.io/v1beta1\s+true\s+PodMetrics\s+get,list`),
		regexp.MustCompile(`(?m)^deployments\s+deploy\s+apps/v1\s+true\s+Deployment\s+create,delete,deletecollection,get,list,patch,update,watch\s+all`),
		regexp.MustCompile(`(?m)^pods\s+po\s+v1\s+true\s+Pod\s`),
	} {
		if !want.MatchString(out) {
			t.Errorf("kubectl api-resources -o wide lacks a row matching %s:\n%s", want, out)
		}
	}
}
