package e2e

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRBAC drives access control the way a cluster administrator does: a
// user from `switchyard certs issue` is refused (403, Kubernetes' message)
// until a RoleBinding lets them in, kubectl auth can-i (also --list) and
// kubectl auth whoami tell the truth, anonymous clients see only the
// version and health paths, and a node's credentials cannot read a Secret
// no pod of that node uses.
func TestRBAC(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed; skipping the RBAC test")
	}
	d := startDaemon(t, t.TempDir(), "")
	home := t.TempDir()
	kc := func(kubeconfig string, args ...string) (string, error) {
		cmd := exec.Command(kubectl, append([]string{"--kubeconfig", kubeconfig, "--cache-dir", home}, args...)...)
		cmd.Env = append(cmd.Environ(), "HOME="+home)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	issue := func(user string, groups ...string) string {
		t.Helper()
		out := filepath.Join(t.TempDir(), user+".kubeconfig")
		args := []string{"certs", "issue", "--data-dir", d.dataDir, "--user", user, "--out", out}
		for _, g := range groups {
			args = append(args, "--group", g)
		}
		if b, err := exec.Command(binary, args...).CombinedOutput(); err != nil {
			t.Fatalf("certs issue: %v\n%s", err, b)
		}
		return out
	}
	jane := issue("jane", "qa")

	out, err := kc(jane, "get", "pods", "-n", "default")
	if err == nil || !strings.Contains(out, `pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the namespace "default"`) {
		t.Errorf("jane without a binding: kubectl get pods: err %v\n%s", err, out)
	}
	out, err = kc(jane, "auth", "whoami", "-o", "json")
	var who struct {
		Status struct {
			UserInfo struct {
				Username string   `json:"username"`
				Groups   []string `json:"groups"`
			} `json:"userInfo"`
		} `json:"status"`
	}
	if err != nil || json.Unmarshal([]byte(out), &who) != nil || who.Status.UserInfo.Username != "jane" ||
		strings.Join(who.Status.UserInfo.Groups, ",") != "qa,system:authenticated" {
		t.Errorf("kubectl auth whoami: err %v\n%s", err, out)
	}
	if out, err := kc(jane, "auth", "can-i", "list", "pods", "-n", "default"); err == nil || strings.TrimSpace(out) != "no" {
		t.Errorf("can-i list pods before the binding: %q, %v", out, err)
	}

	if out, err := kc(d.kubeconfig(), "create", "rolebinding", "jane-view", "--clusterrole=view", "--user=jane", "-n", "default"); err != nil {
		t.Fatalf("create rolebinding: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err = kc(jane, "get", "pods", "-n", "default")
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("jane with view in default: kubectl get pods: %v\n%s", err, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"list", "pods", "-n", "default"}, "yes"},
		{[]string{"get", "deployments.apps", "-n", "default"}, "yes"},
		{[]string{"create", "pods", "-n", "default"}, "no"},
		{[]string{"get", "secrets", "-n", "default"}, "no"}, // view excludes Secrets
		{[]string{"list", "pods", "-n", "kube-system"}, "no"},
		{[]string{"list", "pods", "-n", "default", "--as", "bob"}, `users "bob" is forbidden: User "jane" cannot impersonate resource "users" in API group "" at the cluster scope`},
	} {
		out, _ := kc(jane, append([]string{"auth", "can-i"}, c.args...)...)
		if got := strings.TrimSpace(out); !strings.HasSuffix(got, c.want) {
			t.Errorf("jane: can-i %s = %q, want %s", strings.Join(c.args, " "), got, c.want)
		}
	}
	// The admin may impersonate, and sees jane's answers.
	if out, _ := kc(d.kubeconfig(), "auth", "can-i", "list", "pods", "-n", "kube-system", "--as", "jane"); strings.TrimSpace(out) != "no" {
		t.Errorf("admin --as jane: can-i list pods -n kube-system = %q, want no", out)
	}
	out, err = kc(jane, "auth", "can-i", "--list", "-n", "default")
	if err != nil || !hasRow(out, "pods", "[get list watch]") || hasRow(out, "secrets", "") || !hasRow(out, "selfsubjectaccessreviews.authorization.k8s.io", "[create]") {
		t.Errorf("jane: can-i --list -n default: %v\n%s", err, out)
	}
	if out, _ := kc(d.kubeconfig(), "auth", "can-i", "--list"); !hasRow(out, "*.*", "[*]") {
		t.Errorf("admin: can-i --list:\n%s", out)
	}

	// Anonymous: version and health yes, the API no (401).
	anon := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for path, want := range map[string]int{"/version": 200, "/readyz": 200, "/api": 401, "/api/v1/namespaces/default/pods": 401} {
		resp, err := anon.Get("https://" + d.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("anonymous GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}

	// A node's credentials: no Secret that none of its pods uses.
	if out, err := kc(d.kubeconfig(), "create", "secret", "generic", "db", "-n", "default", "--from-literal=pw=x"); err != nil {
		t.Fatalf("create secret: %v\n%s", err, out)
	}
	node := issue("system:node:sy-other", "system:nodes")
	out, err = kc(node, "get", "secret", "db", "-n", "default")
	if err == nil || !strings.Contains(out, `no relationship found between node 'sy-other' and this object`) {
		t.Errorf("node reads an unrelated secret: %v\n%s", err, out)
	}
	if out, err = kc(node, "get", "secrets", "-A", "-o", "name"); err != nil || strings.Contains(out, "secret/db") {
		t.Errorf("node lists secrets: %v\n%s", err, out)
	}
	if out, err = kc(node, "run", "x", "--image", "busybox", "-n", "default"); err == nil || !strings.Contains(out, "cannot create pods") {
		t.Errorf("node creates a pod: %v\n%s", err, out)
	}
	nodeRestriction(t, kc, d.kubeconfig(), node)
}

// nodeRestriction checks NodeRestriction with the credentials of node
// sy-other: it registers itself only with labels kubelet owns, may not
// add, change or remove node-restriction.kubernetes.io/ or other
// kubernetes.io/ labels, nor its taints, nor touch another Node; it may
// neither delete nor write the status of a pod bound to another node
// (sy-third, which the admin registers).
func nodeRestriction(t *testing.T, kc func(string, ...string) (string, error), admin, node string) {
	t.Helper()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	self := func(labels string) string {
		return write("node.json", `{"apiVersion":"v1","kind":"Node","metadata":{"name":"sy-other","labels":{`+labels+`}}}`)
	}
	expect := func(what, kubeconfig, want string, args ...string) {
		t.Helper()
		out, err := kc(kubeconfig, args...)
		if want == "" && err != nil {
			t.Errorf("%s: %v\n%s", what, err, out)
		}
		if want != "" && (err == nil || !strings.Contains(out, want)) {
			t.Errorf("%s: err %v, want %q in\n%s", what, err, want, out)
		}
	}
	expect("register with a node-restriction label", node, `node 'sy-other' is not allowed to set the following labels: node-restriction.kubernetes.io/pci`,
		"create", "-f", self(`"kubernetes.io/hostname":"sy-other","node-restriction.kubernetes.io/pci":"true"`))
	expect("register another node", node, `node 'sy-other' is not allowed to modify node 'sy-third'`,
		"create", "-f", write("other.json", `{"apiVersion":"v1","kind":"Node","metadata":{"name":"sy-third"}}`))
	expect("register with kubelet's labels", node, "", "create", "-f", self(`"kubernetes.io/hostname":"sy-other","kubernetes.io/os":"linux"`))
	t.Cleanup(func() { kc(admin, "delete", "node", "sy-other", "--wait=false") })
	expect("label itself freely outside kubernetes.io", node, "", "label", "node", "sy-other", "team=blue")
	expect("label itself a control plane", node, `is not allowed to modify labels: node-role.kubernetes.io/control-plane`,
		"label", "node", "sy-other", "node-role.kubernetes.io/control-plane=")
	expect("admin sets a node-restriction label", admin, "", "label", "node", "sy-other", "node-restriction.kubernetes.io/pci=true")
	expect("remove it", node, `is not allowed to modify labels: node-restriction.kubernetes.io/pci`,
		"label", "node", "sy-other", "node-restriction.kubernetes.io/pci-")
	expect("taint itself", node, `node 'sy-other' is not allowed to modify taints`, "taint", "node", "sy-other", "dedicated=db:NoSchedule")
	expect("admin registers sy-third", admin, "", "create", "-f", write("third.json", `{"apiVersion":"v1","kind":"Node","metadata":{"name":"sy-third"}}`))
	t.Cleanup(func() { kc(admin, "delete", "node", "sy-third", "--wait=false") })
	expect("label another node", node, `node 'sy-other' cannot modify node 'sy-third'`, "label", "node", "sy-third", "team=red")

	expect("admin creates a pod bound to sy-third", admin, "", "create", "-n", "default", "-f", write("pod.json",
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"elsewhere"},"spec":{"nodeName":"sy-third","containers":[{"name":"c","image":"busybox","command":["sleep","3600"]}]}}`))
	t.Cleanup(func() { kc(admin, "delete", "pod", "elsewhere", "-n", "default", "--grace-period=0", "--wait=false") })
	expect("write another node's pod's status", node, `no relationship found between node 'sy-other' and this object`,
		"patch", "pod", "elsewhere", "-n", "default", "--subresource=status", "--type=merge", "-p", `{"status":{"message":"x"}}`)
	expect("delete another node's pod", node, `no relationship found between node 'sy-other' and this object`,
		"delete", "pod", "elsewhere", "-n", "default", "--wait=false")
}

// hasRow says whether kubectl auth can-i --list printed a row for
// resource whose text contains want.
func hasRow(out, resource, want string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == resource && strings.Contains(line, want) {
			return true
		}
	}
	return false
}
