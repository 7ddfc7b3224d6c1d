package netpol

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// incrementalPolicies are the shapes the incremental test draws from:
// target and peer selectors, namespace selectors, named ports both ways.
var incrementalPolicies = []string{
	`{"podSelector":{"matchLabels":{"app":"a"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"app":"b"}}}],"ports":[{"port":"http"}]}]}`,
	`{"podSelector":{},"policyTypes":["Egress"],"egress":[{"to":[{"namespaceSelector":{"matchLabels":{"team":"t1"}},"podSelector":{"matchLabels":{"app":"a"}}}],"ports":[{"port":"http"}]}]}`,
	`{"podSelector":{"matchLabels":{"app":"b"}},"ingress":[{"from":[{"namespaceSelector":{}}]},{"from":[{"ipBlock":{"cidr":"10.9.0.0/16","except":["10.9.1.0/24"]}}]}]}`,
	`{"podSelector":{"matchExpressions":[{"key":"app","operator":"In","values":["a","c"]}]},"policyTypes":["Ingress","Egress"],"egress":[{"to":[{"podSelector":{"matchLabels":{"app":"c"}}}],"ports":[{"protocol":"UDP","port":53},{"port":1000,"endPort":1010}]}]}`,
	`{"podSelector":{"matchLabels":{"app":"c"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"team":"t2"}}}],"ports":[{"port":"http"},{"protocol":"SCTP"}]}]}`,
	// Named egress ports to peers no pod selector chooses: their numbers
	// come from whichever pods own the addresses.
	`{"podSelector":{"matchLabels":{"app":"a"}},"policyTypes":["Egress"],"egress":[{"ports":[{"port":"http"}]}]}`,
	`{"podSelector":{"matchLabels":{"app":"b"}},"policyTypes":["Egress"],"egress":[{"to":[{"ipBlock":{"cidr":"10.9.0.0/16"}}],"ports":[{"port":"http"}]}]}`,
}

// TestIncrementalCompile applies random changes (pods relabelled, moved,
// added and removed, namespaces relabelled, policies added, replaced and
// deleted) and checks after each that the incremental Compiler's Program
// is the one a compilation from scratch gives, and that pods whose rules
// did not change keep their PodRules (what lets the Backend skip them).
func TestIncrementalCompile(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	apps := []string{"a", "b", "c"}
	in := &Input{Namespaces: map[string]map[string]string{"n0": {"team": "t1"}, "n1": {"team": "t2"}, "n2": {}}}
	newPod := func(i int) Pod {
		return Pod{Namespace: fmt.Sprintf("n%d", rng.IntN(3)), Name: fmt.Sprintf("p%d", i),
			Labels: map[string]string{"app": apps[rng.IntN(3)]}, IP: netip.AddrFrom4([4]byte{10, 9, byte(rng.IntN(2)), byte(i + 1)}),
			Local: rng.IntN(3) > 0, Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(8000 + rng.IntN(3))}}}
	}
	for i := range 8 {
		in.Pods = append(in.Pods, newPod(i))
	}
	made := 0 // policy names stay unique, as in the API
	newPolicy := func(int) *networkingv1.NetworkPolicy {
		made++
		return np(fmt.Sprintf("n%d", rng.IntN(3)), fmt.Sprintf("np%d", made), incrementalPolicies[rng.IntN(len(incrementalPolicies))])
	}
	for i := range 4 {
		in.Policies = append(in.Policies, newPolicy(i))
	}
	c := NewCompiler()
	for step := range 300 {
		switch k := rng.IntN(6); k {
		case 0: // relabel a pod
			p := &in.Pods[rng.IntN(len(in.Pods))]
			p.Labels["app"] = apps[rng.IntN(3)]
		case 1: // replace a pod (new IP, namespace, node, port)
			i := rng.IntN(len(in.Pods))
			in.Pods[i] = newPod(i)
		case 2: // remove or add a pod
			if len(in.Pods) > 4 && rng.IntN(2) == 0 {
				in.Pods = slices.Delete(in.Pods, len(in.Pods)-1, len(in.Pods))
			} else {
				in.Pods = append(in.Pods, newPod(len(in.Pods)))
			}
		case 3: // relabel a namespace
			in.Namespaces[fmt.Sprintf("n%d", rng.IntN(3))] = map[string]string{"team": fmt.Sprintf("t%d", rng.IntN(3))}
		case 4: // replace a policy
			i := rng.IntN(len(in.Policies))
			in.Policies[i] = newPolicy(i)
		case 5: // remove or add a policy
			if len(in.Policies) > 1 && rng.IntN(2) == 0 {
				in.Policies = slices.Delete(in.Policies, 0, 1)
			} else {
				in.Policies = append(in.Policies, newPolicy(step+10))
			}
		}
		got, want := c.Compile(in), Compile(in)
		if d := cmp.Diff(rendered(want), rendered(got)); d != "" {
			t.Fatalf("step %d: incremental program differs from a full compile (-want +got):\n%s", step, d)
		}
		for ip, pr := range got.Ingress {
			if w := want.Ingress[ip]; pr.Pod != w.Pod || !slices.Equal(pr.Policies, w.Policies) {
				t.Fatalf("step %d: %s: pod %s policies %v, want %s %v", step, ip, pr.Pod, pr.Policies, w.Pod, w.Policies)
			}
		}
		// Nothing changed: nothing is compiled again.
		before := [2]map[netip.Addr]*PodRules{maps.Clone(got.Ingress), maps.Clone(got.Egress)}
		again := c.Compile(in)
		for d, m := range []map[netip.Addr]*PodRules{again.Ingress, again.Egress} {
			if !maps.EqualFunc(before[d], m, func(a, b *PodRules) bool { return a == b }) {
				t.Fatalf("step %d: an unchanged input gave new PodRules", step)
			}
		}
	}
}
