package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// TestPodServiceAccountToken runs a client-go program (rest.InClusterConfig,
// then a list of pods) inside a pod of a one-node sandbox cluster whose API
// listens on the node's address, so that the kubernetes Service leads to
// it. The pod's mounted token, ca.crt and namespace are what the
// ServiceAccount admission and the node agent put there; the token stops
// working once the pod is deleted; a pod with automountServiceAccountToken
// false has no token.
//
// The in-pod client is denied by RBAC (403 naming its service account)
// until a Role lets the account list pods.
func TestPodServiceAccountToken(t *testing.T) {
	c := upSandboxCluster(t, 1, 1)
	ctx := context.Background()
	pods := c.client.CoreV1().Pods("default")
	mk := func(name string, automount *bool) {
		p := netexecPod(name)
		p.Spec.AutomountServiceAccountToken = automount
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	off := false
	mk("with-token", nil)
	mk("no-token", &off)
	eventually(t, "pods ready", 60*time.Second, func() error {
		for _, name := range []string{"with-token", "no-token"} {
			p, err := pods.Get(ctx, name, metav1.GetOptions{})
			if err != nil || !podReady(p) {
				return fmt.Errorf("pod %s not ready (%v)", name, err)
			}
		}
		return nil
	})
	in := func(pod string, args ...string) (string, error) {
		return runIn(t, c.rec.Nodes[0], append([]string{"--kubeconfig", c.node(1).Kubeconfig(), "exec", pod, "--"}, args...)...)
	}
	const dir = "/var/run/secrets/kubernetes.io/serviceaccount"

	ca, err := os.ReadFile(c.node(1).DataDir + "/pki/ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := in("with-token", "cat", dir+"/ca.crt"); err != nil || out != string(ca) {
		t.Errorf("ca.crt in the pod: %v\n%s", err, out)
	}
	if out, err := in("with-token", "cat", dir+"/namespace"); err != nil || out != "default" {
		t.Errorf("namespace in the pod: %q %v", out, err)
	}
	token, err := in("with-token", "cat", dir+"/token")
	if err != nil || strings.Count(token, ".") != 2 {
		t.Fatalf("token in the pod: %v\n%s", err, token)
	}

	// A real client-go program in the pod is refused by RBAC as its
	// service account until a Role allows it, then lists the pods.
	out, err := in("with-token", binary, "incluster-list-pods")
	if want := `User "system:serviceaccount:default:default" cannot list resource "pods" in API group "" in the namespace "default"`; err == nil || !strings.Contains(out, want) {
		t.Errorf("in-pod client without a Role: %v, want a 403 saying %s:\n%s", err, want, out)
	}
	grantPodReader(t, c.client, "default", "default")
	eventually(t, "in-pod client lists pods", 30*time.Second, func() error {
		out, err := in("with-token", binary, "incluster-list-pods")
		if err != nil || !strings.Contains(out, "with-token\n") || !strings.Contains(out, "no-token\n") {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	out, err = in("no-token", binary, "incluster-list-pods")
	if err == nil || !strings.Contains(out, "in-cluster config: open "+dir+"/token: no such file or directory") {
		t.Errorf("pod with automountServiceAccountToken: false: %v\n%s", err, out)
	}
	if out, _ := in("no-token", "sh", "-c", "test -e "+dir+" && echo present || echo absent"); out != "absent\n" {
		t.Errorf("%s in a pod that opted out: %s", dir, out)
	}

	// The token authenticates from outside the pod too, as its service
	// account, until the pod is deleted.
	tokenClient := c.tokenClient(t, token)
	if _, err := tokenClient.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("the pod's token: %v", err)
	}
	grace := int64(0)
	if err := pods.Delete(ctx, "with-token", metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleted pod's token refused", 30*time.Second, func() error {
		_, err := tokenClient.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if !apierrors.IsUnauthorized(err) {
			return fmt.Errorf("list with the deleted pod's token: %v", err)
		}
		return nil
	})
}

// grantPodReader lets service account ns/sa get and list the pods of ns.
func grantPodReader(t *testing.T, c kubernetes.Interface, ns, sa string) {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}}}
	if _, err := c.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "pod-reader-" + sa},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "pod-reader"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: ns}}}
	if _, err := c.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// tokenClient is a client of node 1's API authenticating with a bearer
// token only.
func (c *sandboxCluster) tokenClient(t *testing.T, token string) kubernetes.Interface {
	t.Helper()
	admin, err := clientcmd.BuildConfigFromFlags("", c.node(1).Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg := &rest.Config{Host: admin.Host, BearerToken: token, Dial: c.n1.DialContext,
		TLSClientConfig: rest.TLSClientConfig{CAData: admin.TLSClientConfig.CAData, CAFile: admin.TLSClientConfig.CAFile}}
	return kubernetes.NewForConfigOrDie(cfg)
}

// TestAuditLog runs the daemon with --audit-log and finds the requests a
// user made in it, with user, verb, object and code, and not the Secret's
// content.
func TestAuditLog(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "audit.log")
	d := startDaemon(t, t.TempDir(), "", "--audit-log", logFile, "--audit-log-maxsize", "1")
	ctx := context.Background()
	if _, err := d.client().CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		StringData: map[string]string{"password": "hunter2-audit"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.client().CoreV1().Secrets("default").Get(ctx, "nope", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	d.stop()
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "hunter2") || strings.Contains(string(b), base64.StdEncoding.EncodeToString([]byte("hunter2-audit"))) {
		t.Fatalf("the audit log holds the Secret's content")
	}
	var created, missing bool
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var ev struct {
			Verb string `json:"verb"`
			User struct {
				Username string   `json:"username"`
				Groups   []string `json:"groups"`
			} `json:"user"`
			ObjectRef      struct{ Resource, Namespace, Name string } `json:"objectRef"`
			ResponseStatus struct{ Code int }                         `json:"responseStatus"`
			Received       string                                     `json:"requestReceivedTimestamp"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if ev.User.Username != "admin" || ev.ObjectRef.Resource != "secrets" {
			continue
		}
		created = created || (ev.Verb == "create" && ev.ResponseStatus.Code == 201 && ev.Received != "")
		missing = missing || (ev.Verb == "get" && ev.ObjectRef.Name == "nope" && ev.ResponseStatus.Code == 404)
	}
	if !created || !missing {
		t.Fatalf("the admin's create (201) and failed get (404) of secrets are not both in the log:\n%s", b)
	}
}
