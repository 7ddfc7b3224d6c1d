package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// The events e2e test runs the real binary on a sandbox node and reads
// what the scheduler, the controllers and the node agent recorded the way
// a user does: kubectl get events, kubectl events --for, kubectl describe
// of every kind, and kubectl get -w --output-watch-events for every kind.

// kubectlTry runs kubectl in the node's namespace and returns its output
// and error instead of failing the test.
func kubectlTry(t *testing.T, n *node) func(args ...string) (string, error) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed; skipping the events test")
	}
	home := t.TempDir()
	return func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := n.ns.Command(ctx, kubectl, append([]string{"--kubeconfig", n.rec.Kubeconfig(), "--cache-dir", home}, args...)...)
		cmd.Env = append(cmd.Environ(), "HOME="+home)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
}

// waitOutput polls a kubectl command until its output contains every want.
func waitOutput(t *testing.T, n *node, try func(...string) (string, error), want []string, args ...string) string {
	t.Helper()
	var out string
	n.poll(fmt.Sprintf("kubectl %s to show %q", strings.Join(args, " "), want), 90*time.Second, func(context.Context) bool {
		var err error
		out, err = try(args...)
		if err != nil {
			return false
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				return false
			}
		}
		return true
	})
	return out
}

const eventsManifest = `apiVersion: v1
kind: Pod
metadata:
  name: probed
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: switchyard/netexec
    command: [%[1]q, netexec, --http-port=8080, --udp-port=8081]
    readinessProbe:
      tcpSocket: {port: 9999}
      periodSeconds: 1
      failureThreshold: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
spec:
  rules:
  - host: web.example
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: web, port: {number: 80}}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: nowhere
spec:
  selector: {matchLabels: {app: nowhere}}
  template:
    metadata: {labels: {app: nowhere}}
    spec:
      nodeSelector: {no-such-label: "true"}
      containers: [{name: app, image: x, command: [/bin/true]}]
---
apiVersion: v1
kind: Pod
metadata:
  name: stuck
spec:
  nodeSelector: {no-such-label: "true"}
  containers: [{name: app, image: x, command: [/bin/true]}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: b}
---
apiVersion: v1
kind: Secret
metadata: {name: token}
stringData: {a: b}
`

func TestKubectlEvents(t *testing.T) {
	n := upNode(t)
	try := kubectlTry(t, n)
	kubectl := nodeKubectl(t, n)
	manifest := filepath.Join(t.TempDir(), "events.yaml")
	if err := os.WriteFile(manifest, []byte(fmt.Sprintf(eventsManifest, binary)), 0o644); err != nil {
		t.Fatal(err)
	}
	kubectl("apply", "-f", manifest)
	kubectl("create", "deployment", "web", "--image=switchyard/netexec", "--replicas=1", "--port=8080",
		"--", binary, "netexec", "--http-port=8080", "--udp-port=8081")

	// The scheduler, the agent and the probe all report on the pod.
	out := waitOutput(t, n, try, []string{"Scheduled", "Created", "Started", "Unhealthy"},
		"get", "events", "--field-selector", "involvedObject.name=probed")
	if !strings.Contains(out, "pod/probed") || !strings.Contains(out, "LAST SEEN") {
		t.Errorf("kubectl get events: no LAST SEEN/OBJECT columns:\n%s", out)
	}
	out = kubectl("describe", "pod", "probed")
	for _, want := range []string{"Events:", "Scheduled", "default-scheduler", "Started", "kubelet", "Readiness probe failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl describe pod probed lacks %q:\n%s", want, out)
		}
	}
	out = kubectl("events", "--for", "pod/probed")
	if !strings.Contains(out, "Started") || !strings.Contains(out, "Unhealthy") {
		t.Errorf("kubectl events --for pod/probed:\n%s", out)
	}
	// The repeated probe failure is one event with a growing count.
	n.poll("one Unhealthy event with a count above 1", 90*time.Second, func(context.Context) bool {
		out, err := try("get", "events", "--field-selector", "reason=Unhealthy,involvedObject.name=probed",
			"-o", "jsonpath={.items[*].count}")
		counts := strings.Fields(out)
		return err == nil && len(counts) == 1 && counts[0] != "1"
	})

	// So does the scheduler about a pod no node fits.
	waitOutput(t, n, try, []string{"FailedScheduling", "default-scheduler", "node(s) didn't match"}, "describe", "pod", "stuck")

	// The controllers report too.
	waitOutput(t, n, try, []string{"ScalingReplicaSet", "Scaled up replica set web-"}, "describe", "deployment", "web")
	waitOutput(t, n, try, []string{"SuccessfulCreate", "Created pod: web-"}, "describe", "replicaset", "-l", "app=web")

	// Deleting the pod: the agent stops its container (Killing).
	kubectl("delete", "pod", "probed", "--wait=true", "--timeout=60s")
	waitOutput(t, n, try, []string{"Killing", "Stopping container app"}, "get", "events", "--field-selector", "involvedObject.name=probed")

	// The same events through events.k8s.io.
	out = kubectl("get", "events.v1.events.k8s.io", "--field-selector", "regarding.name=probed", "-o", "name")
	if !strings.Contains(out, "event.events.k8s.io/probed.") {
		t.Errorf("events.k8s.io view of the pod's events:\n%s", out)
	}

	// describe and explain work for every kind the API serves.
	for _, kind := range []string{"pods", "deployments", "replicasets", "daemonsets", "controllerrevisions", "services",
		"endpoints", "endpointslices", "ingresses", "ingressclasses", "networkpolicies", "configmaps", "secrets", "serviceaccounts",
		"leases", "events", "nodes", "namespaces"} {
		if out, err := try("describe", kind); err != nil || strings.Contains(strings.ToLower(out), "error") {
			t.Errorf("kubectl describe %s: %v\n%s", kind, err, out)
		}
		if out, err := try("explain", kind); err != nil || !strings.Contains(out, "FIELDS:") {
			t.Errorf("kubectl explain %s: %v\n%s", kind, err, out)
		}
	}
	if out := kubectl("describe", "node", n.rec.NodeName); !strings.Contains(out, "Non-terminated Pods") {
		t.Errorf("kubectl describe node:\n%s", out)
	}

	// explain knows the new kinds.
	for _, args := range [][]string{{"events.involvedObject"}, {"events.regarding", "--api-version=events.k8s.io/v1"}} {
		if out := kubectl(append([]string{"explain"}, args...)...); !strings.Contains(out, "FIELDS:") {
			t.Errorf("kubectl explain %s:\n%s", args, out)
		}
	}
}

// watchKinds are objects of every kind the API serves, each with a way to
// create it: a manifest, or kubectl create arguments.
var watchKinds = []struct {
	kind, name, manifest string
}{
	{"configmaps", "w-cm", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: w-cm}\n"},
	{"secrets", "w-secret", "apiVersion: v1\nkind: Secret\nmetadata: {name: w-secret}\n"},
	{"serviceaccounts", "w-sa", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: w-sa}\n"},
	{"services", "w-svc", "apiVersion: v1\nkind: Service\nmetadata: {name: w-svc}\nspec: {ports: [{port: 80}]}\n"},
	{"endpoints", "w-ep", "apiVersion: v1\nkind: Endpoints\nmetadata: {name: w-ep}\n"},
	{"endpointslices", "w-eps", "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: w-eps}\naddressType: IPv4\nendpoints: []\n"},
	{"ingressclasses", "w-ic", "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: w-ic}\nspec: {controller: example.com/x}\n"},
	{"ingresses", "w-ing", "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: w-ing}\nspec: {defaultBackend: {service: {name: w-svc, port: {number: 80}}}}\n"},
	{"networkpolicies", "w-np", "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: w-np}\nspec: {podSelector: {}}\n"},
	{"leases", "w-lease", "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: w-lease}\n"},
	{"namespaces", "w-ns", "apiVersion: v1\nkind: Namespace\nmetadata: {name: w-ns}\n"},
	{"events", "w-ev", "apiVersion: v1\nkind: Event\nmetadata: {name: w-ev}\ninvolvedObject: {kind: Pod, name: x, namespace: default}\nreason: Test\nmessage: hi\ntype: Normal\n"},
	{"events.v1.events.k8s.io", "w-ev2", "apiVersion: events.k8s.io/v1\nkind: Event\nmetadata: {name: w-ev2}\neventTime: \"2026-01-01T00:00:00.000000Z\"\nreportingController: example.com/x\nreportingInstance: x-1\naction: Test\nreason: Test\ntype: Normal\nregarding: {kind: Pod, name: x, namespace: default}\n"},
	{"controllerrevisions", "w-rev", "apiVersion: apps/v1\nkind: ControllerRevision\nmetadata: {name: w-rev}\nrevision: 1\ndata: {spec: {}}\n"},
	{"replicasets", "w-rs", "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: w-rs}\nspec:\n  replicas: 0\n  selector: {matchLabels: {app: w-rs}}\n  template:\n    metadata: {labels: {app: w-rs}}\n    spec: {containers: [{name: a, image: x}]}\n"},
	{"deployments", "w-deploy", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w-deploy}\nspec:\n  replicas: 0\n  selector: {matchLabels: {app: w-deploy}}\n  template:\n    metadata: {labels: {app: w-deploy}}\n    spec: {containers: [{name: a, image: x}]}\n"},
	{"daemonsets", "w-ds", "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: w-ds}\nspec:\n  selector: {matchLabels: {app: w-ds}}\n  template:\n    metadata: {labels: {app: w-ds}}\n    spec: {nodeSelector: {none: \"x\"}, containers: [{name: a, image: x}]}\n"},
	{"pods", "w-pod", "apiVersion: v1\nkind: Pod\nmetadata: {name: w-pod}\nspec: {schedulerName: nobody, containers: [{name: a, image: x}]}\n"},
}

// kubectl get -w --output-watch-events reports ADDED, MODIFIED and DELETED
// for every kind: each watch filters its object by name while the object
// is created, labelled and deleted.
func TestKubectlWatchEveryKind(t *testing.T) {
	n := upNode(t)
	kubectlPath, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed; skipping the watch test")
	}
	kubectl := nodeKubectl(t, n)
	home, dir := t.TempDir(), t.TempDir()
	kubectl("api-resources") // fill the discovery cache the watchers share
	type watcher struct {
		cmd  *sandbox.Cmd
		mu   sync.Mutex
		out  []string
		done chan struct{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	watchers := map[string]*watcher{}
	for _, k := range watchKinds {
		w := &watcher{done: make(chan struct{})}
		w.cmd = n.ns.Command(ctx, kubectlPath, "--kubeconfig", n.rec.Kubeconfig(), "--cache-dir", home, "get", k.kind,
			"--field-selector", "metadata.name="+k.name, "-w", "--output-watch-events", "-o", "wide") // wide: events show their name
		w.cmd.Env = append(w.cmd.Environ(), "HOME="+home)
		var stderr strings.Builder
		w.cmd.Stderr = &stderr
		stdout, err := w.cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := w.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			defer close(w.done)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				w.mu.Lock()
				w.out = append(w.out, sc.Text())
				w.mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			w.cmd.Process.Kill()
			w.cmd.Wait()
			if t.Failed() {
				t.Logf("kubectl get %s -w:\n%s\n%s", k.kind, strings.Join(w.out, "\n"), stderr.String())
			}
		})
		watchers[k.kind] = w
	}
	seen := func(kind, name, event string) bool {
		w := watchers[kind]
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, l := range w.out {
			if f := strings.Fields(l); len(f) > 0 && f[0] == event && strings.Contains(l, name) {
				return true
			}
		}
		return false
	}
	// kubectl prints nothing until its watch is established; give the
	// watchers a moment, then create everything.
	time.Sleep(3 * time.Second)
	for _, k := range watchKinds {
		file := filepath.Join(dir, k.name+".yaml")
		if err := os.WriteFile(file, []byte(k.manifest), 0o644); err != nil {
			t.Fatal(err)
		}
		kubectl("create", "-f", file)
	}
	for _, k := range watchKinds {
		n.poll(k.kind+" ADDED", time.Minute, func(context.Context) bool { return seen(k.kind, k.name, "ADDED") })
		kubectl("label", k.kind, k.name, "watched=yes")
	}
	for _, k := range watchKinds {
		n.poll(k.kind+" MODIFIED", time.Minute, func(context.Context) bool { return seen(k.kind, k.name, "MODIFIED") })
		kubectl("delete", k.kind, k.name, "--wait=false")
	}
	for _, k := range watchKinds {
		n.poll(k.kind+" DELETED", time.Minute, func(context.Context) bool { return seen(k.kind, k.name, "DELETED") })
	}
	w := watchers["deployments"]
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.out) == 0 || !strings.HasPrefix(w.out[0], "EVENT") {
		t.Errorf("deployment watch has no EVENT header column: %q", w.out)
	}
}
