package runner

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
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
			Spec:   corev1.PodSpec{NodeName: "node-a", ServiceAccountName: "shopper"},
			Status: corev1.PodStatus{PodIP: "10.0.0.9", HostIP: "192.0.2.1"},
		},
		PodIP: netip.MustParseAddr("10.244.1.5"),
	}
}

// mapObjects is an Objects over fixed objects (the agent's informer
// caches play this part in a node).
type mapObjects struct {
	cms      map[string]*corev1.ConfigMap
	secrets  map[string]*corev1.Secret
	services []*corev1.Service
}

func (m mapObjects) ConfigMap(ns, name string) (*corev1.ConfigMap, error) {
	if cm, ok := m.cms[ns+"/"+name]; ok {
		return cm, nil
	}
	return nil, NotFound("configmaps", name)
}

func (m mapObjects) Secret(ns, name string) (*corev1.Secret, error) {
	if s, ok := m.secrets[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, NotFound("secrets", name)
}

func (m mapObjects) Services(ns string) ([]*corev1.Service, error) {
	var out []*corev1.Service
	for _, s := range m.services {
		if ns == "" || s.Namespace == ns {
			out = append(out, s)
		}
	}
	return out, nil
}

func service(ns, name, ip string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{ClusterIP: ip, Ports: ports}}
}

func testObjects() mapObjects {
	return mapObjects{
		cms: map[string]*corev1.ConfigMap{"shop/cfg": {Data: map[string]string{
			"LEVEL": "debug", "greeting": "hi", "bad-name=": "skipped", "1DIGIT": "relaxed"}}},
		secrets: map[string]*corev1.Secret{"shop/db": {Data: map[string][]byte{"password": []byte("s3cret")}}},
		services: []*corev1.Service{
			service("default", "kubernetes", "10.96.0.1", corev1.ServicePort{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}),
			service("default", "other", "10.96.0.7", corev1.ServicePort{Port: 80}),
			service("shop", "redis-main", "10.96.3.4", corev1.ServicePort{Port: 6379},
				corev1.ServicePort{Name: "dns-udp", Port: 53, Protocol: corev1.ProtocolUDP}),
			service("shop", "headless", "None", corev1.ServicePort{Port: 80}),
			service("shop", "external", "", corev1.ServicePort{Port: 80}),
		},
	}
}

func TestContainerEnv(t *testing.T) {
	field := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
	}
	cmKey := func(name, key string, optional bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: &optional}}
	}
	secKey := func(name, key string, optional bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: &optional}}
	}
	res := func(r, divisor string) *corev1.EnvVarSource {
		s := &corev1.ResourceFieldSelector{Resource: r}
		if divisor != "" {
			s.Divisor = resource.MustParse(divisor)
		}
		return &corev1.EnvVarSource{ResourceFieldRef: s}
	}
	defaults := []string{"PATH=" + defaultPath, "HOSTNAME=web-0", "HOME=/root"}
	kubeVars := []string{"KUBERNETES_SERVICE_HOST=10.96.0.1", "KUBERNETES_SERVICE_PORT=443",
		"KUBERNETES_SERVICE_PORT_HTTPS=443", "KUBERNETES_PORT=tcp://10.96.0.1:443",
		"KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443", "KUBERNETES_PORT_443_TCP_PROTO=tcp",
		"KUBERNETES_PORT_443_TCP_PORT=443", "KUBERNETES_PORT_443_TCP_ADDR=10.96.0.1"}
	redisVars := []string{"REDIS_MAIN_SERVICE_HOST=10.96.3.4", "REDIS_MAIN_SERVICE_PORT=6379",
		"REDIS_MAIN_SERVICE_PORT_DNS_UDP=53", "REDIS_MAIN_PORT=tcp://10.96.3.4:6379",
		"REDIS_MAIN_PORT_6379_TCP=tcp://10.96.3.4:6379", "REDIS_MAIN_PORT_6379_TCP_PROTO=tcp",
		"REDIS_MAIN_PORT_6379_TCP_PORT=6379", "REDIS_MAIN_PORT_6379_TCP_ADDR=10.96.3.4",
		"REDIS_MAIN_PORT_53_UDP=udp://10.96.3.4:53", "REDIS_MAIN_PORT_53_UDP_PROTO=udp",
		"REDIS_MAIN_PORT_53_UDP_PORT=53", "REDIS_MAIN_PORT_53_UDP_ADDR=10.96.3.4"}
	cat := func(lists ...[]string) []string {
		var out []string
		for _, l := range lists {
			out = append(out, l...)
		}
		return out
	}
	noLinks := false
	for _, tc := range []struct {
		name    string
		c       corev1.Container
		links   *bool
		objs    Objects
		want    []string // in order
		wantErr string
	}{{
		name: "fieldRef and expansion",
		c: corev1.Container{Env: []corev1.EnvVar{
			{Name: "NAME", ValueFrom: field("metadata.name")},
			{Name: "NS", ValueFrom: field("metadata.namespace")},
			{Name: "NODE", ValueFrom: field("spec.nodeName")},
			{Name: "IP", ValueFrom: field("status.podIP")},
			{Name: "HOST_IP", ValueFrom: field("status.hostIP")},
			{Name: "SA", ValueFrom: field("spec.serviceAccountName")},
			{Name: "APP", ValueFrom: field("metadata.labels['app']")},
			{Name: "URL", Value: "http://$(IP):80/$(NAME)/$(LATER)/$$(NAME)"},
			{Name: "LATER", Value: "x"},
			{Name: "PATH", Value: "/opt/bin:$(PATH)"},
		}},
		links: &noLinks, objs: mapObjects{},
		want: []string{"PATH=/opt/bin:" + defaultPath, "HOSTNAME=web-0", "HOME=/root",
			"NAME=web-0", "NS=shop", "NODE=node-a", "IP=10.244.1.5", "HOST_IP=192.0.2.1", "SA=shopper", "APP=web",
			"URL=http://10.244.1.5:80/web-0/$(LATER)/$(NAME)", "LATER=x"},
	}, {
		name: "keys, envFrom with prefix, service links and their expansion",
		c: corev1.Container{
			EnvFrom: []corev1.EnvFromSource{
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
				{Prefix: "DB_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}}},
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: ptrTo(true)}},
			},
			Env: []corev1.EnvVar{
				{Name: "LEVEL", ValueFrom: cmKey("cfg", "LEVEL", false)},
				{Name: "PW", ValueFrom: secKey("db", "password", false)},
				{Name: "MAYBE", ValueFrom: cmKey("cfg", "nope", true)},
				{Name: "MAYBE2", ValueFrom: secKey("nope", "k", true)},
				{Name: "REDIS", Value: "$(REDIS_MAIN_SERVICE_HOST):$(REDIS_MAIN_SERVICE_PORT)"},
				{Name: "KUBERNETES_SERVICE_PORT", Value: "mine"},
			},
		},
		objs: testObjects(),
		want: cat(defaults,
			[]string{"1DIGIT=relaxed", "LEVEL=debug", "greeting=hi", "DB_password=s3cret",
				"PW=s3cret", "REDIS=10.96.3.4:6379", "KUBERNETES_SERVICE_PORT=mine"},
			kubeVars[:1], kubeVars[2:], redisVars),
	}, {
		name:  "enableServiceLinks false keeps only default/kubernetes",
		links: &noLinks, objs: testObjects(),
		want: cat(defaults, kubeVars),
	}, {
		name: "resourceFieldRef with divisors and node allocatable",
		c: corev1.Container{
			Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")},
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
			},
			Env: []corev1.EnvVar{
				{Name: "CPU", ValueFrom: res("limits.cpu", "")},
				{Name: "CPU_M", ValueFrom: res("limits.cpu", "1m")},
				{Name: "MEM_MI", ValueFrom: res("requests.memory", "1Mi")},
				{Name: "MEM_LIMIT", ValueFrom: res("limits.memory", "1Gi")},
			},
		},
		links: &noLinks, objs: mapObjects{},
		want: cat(defaults, []string{"CPU=2", "CPU_M=1500", "MEM_MI=64", "MEM_LIMIT=4"}),
	}, {
		name:    "missing key",
		c:       corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: cmKey("cfg", "absent", false)}}},
		objs:    testObjects(),
		wantErr: "env X: couldn't find key absent in ConfigMap shop/cfg",
	}, {
		name:    "missing secret",
		c:       corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: secKey("nope", "k", false)}}},
		objs:    testObjects(),
		wantErr: `env X: secrets "nope" not found`,
	}, {
		name: "missing envFrom ConfigMap",
		c: corev1.Container{EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}}}}},
		objs:    testObjects(),
		wantErr: `envFrom: configmaps "gone" not found`,
	}, {
		name:    "unknown fieldRef",
		c:       corev1.Container{Env: []corev1.EnvVar{{Name: "F", ValueFrom: field("spec.unknown")}}},
		objs:    mapObjects{},
		wantErr: `env F: unsupported fieldRef "spec.unknown"`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			spec := testSpec()
			spec.Pod.Spec.EnableServiceLinks = tc.links
			spec.NodeAllocatable = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("4Gi")}
			env, err := containerEnv(spec, &tc.c, "web-0", tc.objs)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, env.environ()); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestCommandLine(t *testing.T) {
	env := &envList{vals: map[string]string{}}
	env.set("WHO", "world")
	const agnhost = "registry.k8s.io/e2e-test-images/agnhost:2.53"
	for _, tc := range []struct {
		name          string
		image         string
		command, args []string
		want          []string
	}{
		{"command and args", "", []string{"echo"}, []string{"hi", "$(WHO)"}, []string{"echo", "hi", "world"}},
		{"args only", "", nil, []string{"sleep", "1"}, []string{"sleep", "1"}},
		{"neither", "", nil, nil, nil},
		{"neither, unmapped image", "nginx", nil, nil, nil},
		{"test image: args follow its entrypoint, expanded", agnhost, nil, []string{"netexec", "--http-port=$(WHO)"},
			[]string{"switchyard", "agnhost", "netexec", "--http-port=world"}},
		{"test image: neither runs its default", "registry.k8s.io/pause:3.10", nil, nil, []string{"switchyard", "agnhost", "pause"}},
		{"test image: command replaces the entrypoint", agnhost, []string{"sleep"}, []string{"1"}, []string{"sleep", "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := commandLine(&corev1.Container{Image: tc.image, Command: tc.command, Args: tc.args}, env)
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
