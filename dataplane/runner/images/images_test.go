package images

import (
	"slices"
	"strings"
	"testing"
)

func TestRepository(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"registry.k8s.io/pause", "registry.k8s.io/pause"},
		{"registry.k8s.io/pause:3.10", "registry.k8s.io/pause"},
		{"registry.k8s.io/pause@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a", "registry.k8s.io/pause"},
		{"registry.k8s.io/e2e-test-images/agnhost:2.53@sha256:99c6b4bb4a1e1df3f0b3752168c89358794d02258ebebc26bf21c29399011a85", "registry.k8s.io/e2e-test-images/agnhost"},
		{"localhost:5000/pause", "localhost:5000/pause"},
		{"localhost:5000/pause:1", "localhost:5000/pause"},
		{" busybox ", "busybox"},
		{"", ""},
	} {
		if got := Repository(tc.in); got != tc.want {
			t.Errorf("Repository(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestResolve(t *testing.T) {
	const (
		agnhost = "registry.k8s.io/e2e-test-images/agnhost:2.53"
		echo    = "registry.k8s.io/gateway-api/echo-basic:v1.5.1"
	)
	for _, tc := range []struct {
		name          string
		image         string
		command, args []string
		want          []string
		wantErr       string
	}{
		{name: "echo-basic, no command", image: echo,
			want: []string{"switchyard", "echo-basic"}},
		{name: "echo-basic staging registry, digest", image: "gcr.io/k8s-staging-gateway-api/echo-basic@sha256:0123",
			want: []string{"switchyard", "echo-basic"}},
		{name: "agnhost args select the subcommand", image: agnhost, args: []string{"netexec", "--http-port=8080", "--udp-port=8081"},
			want: []string{"switchyard", "agnhost", "netexec", "--http-port=8080", "--udp-port=8081"}},
		{name: "agnhost old registry", image: "k8s.gcr.io/e2e-test-images/agnhost:2.39", args: []string{"serve-hostname"},
			want: []string{"switchyard", "agnhost", "serve-hostname"}},
		{name: "agnhost without args runs its default CMD (pause)", image: agnhost,
			want: []string{"switchyard", "agnhost", "pause"}},
		{name: "agnhost command naming its own binary", image: agnhost, command: []string{"/agnhost", "netexec"}, args: []string{"--http-port=80"},
			want: []string{"switchyard", "agnhost", "netexec", "--http-port=80"}},
		{name: "agnhost explicit other command runs as written", image: agnhost, command: []string{"sh", "-c"}, args: []string{"echo hi"},
			want: []string{"sh", "-c", "echo hi"}},
		{name: "agnhost unknown subcommand", image: agnhost, args: []string{"porter"},
			wantErr: `subcommand "porter" is not built into switchyard (built in: netexec, serve-hostname, pause, dns-server`},
		{name: "agnhost binary alone with unknown subcommand", image: agnhost, command: []string{"/agnhost"}, args: []string{"crd-conversion-webhook"},
			wantErr: `"crd-conversion-webhook"`},
		{name: "pause", image: "registry.k8s.io/pause:3.10",
			want: []string{"switchyard", "agnhost", "pause"}},
		{name: "pause old registry", image: "gcr.io/google_containers/pause-amd64:3.0",
			want: []string{"switchyard", "agnhost", "pause"}},
		{name: "pause command /pause", image: "registry.k8s.io/pause", command: []string{"/pause"},
			want: []string{"switchyard", "agnhost", "pause"}},
		{name: "unmapped image, command and args", image: "busybox", command: []string{"sleep"}, args: []string{"10"},
			want: []string{"sleep", "10"}},
		{name: "unmapped image, args alone", image: "busybox", args: []string{"sleep", "10"},
			want: []string{"sleep", "10"}},
		{name: "unmapped image, nothing: empty (the runner refuses it)", image: "nginx:1.27",
			want: []string{}},
		{name: "mapped name as another image's path is not mapped", image: "example.com/registry.k8s.io/pause",
			want: []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.image, tc.command, tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("argv = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestResolveDoesNotAlias: the table's slices are shared by every pod, so
// the returned argv must be a copy.
func TestResolveDoesNotAlias(t *testing.T) {
	argv, err := Resolve("registry.k8s.io/e2e-test-images/agnhost", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	argv[0], argv[2] = "x", "y"
	again, _ := Resolve("registry.k8s.io/e2e-test-images/agnhost", nil, nil)
	if !slices.Equal(again, []string{"switchyard", "agnhost", "pause"}) {
		t.Fatalf("table modified through a result: %q", again)
	}
}

func FuzzResolve(f *testing.F) {
	f.Add("registry.k8s.io/e2e-test-images/agnhost:2.53", "", "netexec")
	f.Add("registry.k8s.io/pause@sha256:00", "/pause", "")
	f.Add("a:b/c:d@e", "x", "y")
	f.Fuzz(func(t *testing.T, image, command, arg string) {
		var cmd, args []string
		if command != "" {
			cmd = []string{command}
		}
		if arg != "" {
			args = []string{arg}
		}
		argv, err := Resolve(image, cmd, args)
		if err != nil {
			return
		}
		if _, mapped := Lookup(image); !mapped && !slices.Equal(argv, append(cmd, args...)) && len(argv)+len(cmd)+len(args) > 0 {
			t.Fatalf("unmapped %q changed argv: %q", image, argv)
		}
	})
}
