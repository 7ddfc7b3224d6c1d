// Package images maps well-known test images to programs built into the
// switchyard binary, so upstream manifests run unchanged on a node that has
// no container runtime.
//
// Pods' containers run as host processes (package runner): `image` cannot
// supply an entrypoint, so a container without `command` has nothing to
// run. A handful of images are everywhere in upstream test manifests — the
// Gateway API conformance backends (echo-basic), the Kubernetes e2e
// network tests' pods (agnhost) and pause — and each has a small,
// documented command line and wire behaviour. [Resolve] gives such a
// container the argv of the switchyard subcommand that behaves the same
// (`switchyard echo-basic`, `switchyard agnhost SUBCOMMAND`), applying the
// image's entrypoint and default arguments with Kubernetes' rules:
//
//   - command set: it replaces the entrypoint and the image's default
//     arguments; args follow it. A command naming the image's own binary
//     (agnhost's "/agnhost", pause's "/pause") runs the built-in program.
//   - only args set: the image's entrypoint followed by args.
//   - neither: the entrypoint followed by the image's default arguments.
//
// (https://kubernetes.io/docs/tasks/inject-data-application/define-command-argument-container/#notes)
//
// An image not in the table is left alone: command then args, as before.
package images

import (
	"fmt"
	"slices"
	"strings"
)

// Self is argv[0] of a built-in program: the runner resolves it to the
// running switchyard binary when it is not on PATH.
const Self = "switchyard"

// Program is what a mapped image runs.
type Program struct {
	// Names are the image repositories (no tag or digest) mapped here.
	Names []string
	// Binaries are paths of the image's own executable that a container's
	// command may name; they run Entrypoint instead.
	Binaries []string
	// Entrypoint is the argv prefix standing in for the image's
	// ENTRYPOINT.
	Entrypoint []string
	// Cmd stands in for the image's CMD: the default arguments.
	Cmd []string
	// Subcommands, when set, are the only first arguments the program
	// knows (agnhost's built-in subcommands); any other is refused before
	// the container starts, with a message naming them.
	Subcommands []string
	// Runs describes the program for the README and errors.
	Runs string
}

// Table is the built-in mapping. Its order is the README's.
var Table = []Program{
	{
		Names: []string{
			"registry.k8s.io/gateway-api/echo-basic",
			"gcr.io/k8s-staging-gateway-api/echo-basic",
			"us-central1-docker.pkg.dev/k8s-staging-images/gateway-api/echo-basic",
		},
		Binaries:   []string{"/echo-basic"},
		Entrypoint: []string{Self, "echo-basic"},
		Runs:       "switchyard echo-basic: the Gateway API conformance echo server",
	},
	{
		Names: []string{
			"registry.k8s.io/e2e-test-images/agnhost",
			"k8s.gcr.io/e2e-test-images/agnhost",
			"gcr.io/kubernetes-e2e-test-images/agnhost",
			"us.gcr.io/k8s-artifacts-prod/e2e-test-images/agnhost",
		},
		Binaries:    []string{"/agnhost", "agnhost"},
		Entrypoint:  []string{Self, "agnhost"},
		Cmd:         []string{"pause"},
		Subcommands: []string{"netexec", "serve-hostname", "pause", "dns-server"},
		Runs:        "switchyard agnhost SUBCOMMAND: netexec, serve-hostname, pause, dns-server",
	},
	{
		Names: []string{
			"registry.k8s.io/pause",
			"k8s.gcr.io/pause",
			"gcr.io/google-containers/pause",
			"gcr.io/google_containers/pause",
			"gcr.io/google_containers/pause-amd64",
			"registry.k8s.io/pause-amd64",
			"k8s.gcr.io/pause-amd64",
		},
		Binaries:   []string{"/pause"},
		Entrypoint: []string{Self, "agnhost", "pause"},
		Runs:       "switchyard agnhost pause: sleeps until SIGTERM or SIGINT",
	},
	{
		Names:      []string{"registry.k8s.io/coredns/coredns", "k8s.gcr.io/coredns/coredns", "coredns/coredns"},
		Binaries:   []string{"/coredns"},
		Entrypoint: []string{Self, "coredns"},
		Runs:       "switchyard coredns -conf FILE: a Corefile's whoami and forward server blocks",
	},
}

// Repository strips an image reference's digest and tag:
// "registry.k8s.io/pause:3.10@sha256:…" is "registry.k8s.io/pause".
// A colon before the last slash belongs to a registry port.
func Repository(image string) string {
	image = strings.TrimSpace(image)
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		image = image[:i]
	}
	return image
}

// Lookup returns the program an image maps to, whatever its tag or digest.
func Lookup(image string) (*Program, bool) {
	repo := Repository(image)
	for i := range Table {
		if slices.Contains(Table[i].Names, repo) {
			return &Table[i], true
		}
	}
	return nil, false
}

// Resolve is a container's argv given its image, command and args (both
// already $(VAR)-expanded), by the rules in the package doc. For an
// unmapped image it is command followed by args, which is empty when both
// are: the caller reports that. The error names an agnhost subcommand that
// is not built in.
func Resolve(image string, command, args []string) ([]string, error) {
	p, ok := Lookup(image)
	if !ok {
		return concat(command, args), nil
	}
	var rest []string
	switch {
	case len(command) > 0 && slices.Contains(p.Binaries, command[0]):
		rest = concat(command[1:], args)
	case len(command) > 0:
		return concat(command, args), nil
	case len(args) > 0:
		rest = args
	default:
		rest = p.Cmd
	}
	if len(p.Subcommands) > 0 {
		if len(rest) == 0 || !slices.Contains(p.Subcommands, rest[0]) {
			sub := ""
			if len(rest) > 0 {
				sub = rest[0]
			}
			return nil, fmt.Errorf("image %s: subcommand %q is not built into switchyard (built in: %s; or set command to run a program of the node)",
				Repository(image), sub, strings.Join(p.Subcommands, ", "))
		}
	}
	return concat(p.Entrypoint, rest), nil
}

func concat(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	return append(append(out, a...), b...)
}
