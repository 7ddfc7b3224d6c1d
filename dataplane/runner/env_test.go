package runner

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	for in, want := range map[string]string{
		"plain":          "plain",
		"$(A)":           "a",
		"x$(A)y$(A)":     "xaya",
		"$(EMPTY)!":      "!",
		"$(MISSING)":     "$(MISSING)",
		"$$(A)":          "$(A)",
		"$$":             "$",
		"$A":             "$A",
		"cost $5":        "cost $5",
		"$(A":            "$(A",
		"$()":            "$()",
		"end$":           "end$",
		"$(A)$(MISSING)": "a$(MISSING)",
	} {
		if got := expand(in, lookup); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{"$(A)", "$$", "$(", "a$(B)c$", "$$(A)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		none := func(string) (string, bool) { return "", false }
		got := expand(s, none)
		// Without references, only $$ changes.
		if !strings.Contains(s, "$(") {
			if want := strings.ReplaceAll(s, "$$", "$"); got != want {
				t.Errorf("expand(%q) = %q, want %q", s, got, want)
			}
		}
		// An undefined reference is kept as written.
		if !strings.Contains(s, "$") && expand("$(X)"+s, none) != "$(X)"+s {
			t.Errorf("expand(%q) dropped an undefined reference", "$(X)"+s)
		}
	})
}

func testSpec() PodSpec {
	return PodSpec{
		Pod: &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name: "web-0", Namespace: "shop", UID: "u-1",
				Labels: map[string]string{"app": "web"},
			},
			Spec:   corev1.PodSpec{NodeName: "node-a"},
			Status: corev1.PodStatus{PodIP: "10.0.0.9", HostIP: "192.0.2.1"},
		},
		PodIP: netip.MustParseAddr("10.244.1.5"),
	}
}

func TestContainerEnv(t *testing.T) {
	field := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
	}
	c := &corev1.Container{Env: []corev1.EnvVar{
		{Name: "NAME", ValueFrom: field("metadata.name")},
		{Name: "NS", ValueFrom: field("metadata.namespace")},
		{Name: "NODE", ValueFrom: field("spec.nodeName")},
		{Name: "IP", ValueFrom: field("status.podIP")},
		{Name: "APP", ValueFrom: field("metadata.labels['app']")},
		{Name: "URL", Value: "http://$(IP):80/$(NAME)/$(LATER)"},
		{Name: "LATER", Value: "x"},
		{Name: "PATH", Value: "/opt/bin:$(PATH)"},
	}}
	env, err := containerEnv(testSpec(), c, "web-0")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"PATH=/opt/bin:" + defaultPath, "HOSTNAME=web-0", "HOME=/root",
		"NAME=web-0", "NS=shop", "NODE=node-a", "IP=10.244.1.5", "APP=web",
		"URL=http://10.244.1.5:80/web-0/$(LATER)", "LATER=x",
	}
	if diff := cmp.Diff(want, env.environ()); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}

	for _, bad := range []corev1.Container{
		{EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{}}}},
		{Env: []corev1.EnvVar{{Name: "S", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{}}}}},
		{Env: []corev1.EnvVar{{Name: "F", ValueFrom: field("spec.unknown")}}},
	} {
		if _, err := containerEnv(testSpec(), &bad, "h"); err == nil {
			t.Errorf("containerEnv(%+v): no error", bad)
		}
	}
}

func TestCommandLine(t *testing.T) {
	env := &envList{vals: map[string]string{}}
	env.set("WHO", "world")
	for _, tc := range []struct {
		name          string
		command, args []string
		want          []string
	}{
		{"command and args", []string{"echo"}, []string{"hi", "$(WHO)"}, []string{"echo", "hi", "world"}},
		{"args only", nil, []string{"sleep", "1"}, []string{"sleep", "1"}},
		{"neither", nil, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := commandLine(&corev1.Container{Command: tc.command, Args: tc.args}, env)
			if tc.want == nil {
				if err != errNoCommand {
					t.Fatalf("err = %v, want errNoCommand", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("argv (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPodHostname(t *testing.T) {
	long := strings.Repeat("a", 62) + "-b"
	for _, tc := range []struct {
		name, hostname, want string
	}{
		{"web-0", "", "web-0"},
		{"web-0", "custom", "custom"},
		{long, "", strings.Repeat("a", 62)},
	} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: tc.name}, Spec: corev1.PodSpec{Hostname: tc.hostname}}
		if got := PodHostname(p); got != tc.want {
			t.Errorf("PodHostname(%q, %q) = %q, want %q", tc.name, tc.hostname, got, tc.want)
		}
	}
}

func TestDefaultHosts(t *testing.T) {
	p := testSpec().Pod
	p.Spec.HostAliases = []corev1.HostAlias{{IP: "10.1.1.1", Hostnames: []string{"db", "db.local"}}}
	got := string(defaultHosts(p, "web-0", netip.MustParseAddr("10.244.1.5")))
	for _, line := range []string{"127.0.0.1\tlocalhost\n", "10.244.1.5\tweb-0\n", "10.1.1.1\tdb\tdb.local\n"} {
		if !strings.Contains(got, line) {
			t.Errorf("hosts lacks %q:\n%s", line, got)
		}
	}
}

func TestLookPath(t *testing.T) {
	if got, err := lookPath("sh", nil); err != nil || !strings.HasSuffix(got, "/sh") {
		t.Errorf("lookPath(sh) = %q, %v", got, err)
	}
	if got, err := lookPath("./rel/x", nil); err != nil || got != "./rel/x" {
		t.Errorf("lookPath(./rel/x) = %q, %v", got, err)
	}
	if _, err := lookPath("sh", []string{"PATH=/nonexistent"}); err == nil {
		t.Error("lookPath with a PATH that lacks sh: no error")
	}
}
