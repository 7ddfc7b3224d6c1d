package runner

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/switchyard-net/switchyard/dataplane/runner/images"
)

// defaultPath is the PATH of a container that sets none (the one container
// images conventionally carry).
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// errNoCommand: without an image there is no entrypoint to fall back on
// (except for the well-known test images of package images).
var errNoCommand = errors.New("no command: set command or args (there is no image entrypoint; only the test images listed in the README have built-in programs)")

// envList is an ordered set of environment variables.
type envList struct {
	names []string
	vals  map[string]string
}

func (e *envList) set(name, value string) {
	if _, ok := e.vals[name]; !ok {
		e.names = append(e.names, name)
	}
	e.vals[name] = value
}

func (e *envList) lookup(name string) (string, bool) {
	v, ok := e.vals[name]
	return v, ok
}

func (e *envList) environ() []string {
	out := make([]string, 0, len(e.names))
	for _, n := range e.names {
		out = append(out, n+"="+e.vals[n])
	}
	return out
}

// containerEnv returns the container's environment as kubelet builds it
// (pkg/kubelet/kubelet_pods.go, makeEnvironmentVariables): PATH, HOSTNAME
// and HOME defaults (what an image would carry), then envFrom sources in
// order, then env entries in order, each value expanded ($(VAR)) against
// the variables defined before it and the service variables, then the
// service variables not already defined. An error (a missing required
// ConfigMap, Secret or key) means the container must not start:
// CreateContainerConfigError.
func containerEnv(spec PodSpec, c *corev1.Container, hostname string, objs Objects) (*envList, error) {
	env := &envList{vals: map[string]string{}}
	env.set("PATH", defaultPath)
	env.set("HOSTNAME", hostname)
	env.set("HOME", "/root")
	services, err := serviceEnv(spec.Pod, objs)
	if err != nil {
		return nil, err
	}
	for i := range c.EnvFrom {
		if err := envFrom(spec.Pod.Namespace, &c.EnvFrom[i], env, objs); err != nil {
			return nil, err
		}
	}
	lookup := func(name string) (string, bool) {
		if v, ok := env.lookup(name); ok {
			return v, true
		}
		return services.lookup(name)
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env.set(e.Name, expand(e.Value, lookup))
			continue
		}
		v, ok, err := valueFrom(spec, c, e.ValueFrom, objs)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if ok {
			env.set(e.Name, v)
		}
	}
	for _, n := range services.names {
		if _, ok := env.lookup(n); !ok {
			env.set(n, services.vals[n])
		}
	}
	return env, nil
}

// valueFrom resolves one env[].valueFrom; ok is false when an optional
// source is missing and the variable is left out.
func valueFrom(spec PodSpec, c *corev1.Container, src *corev1.EnvVarSource, objs Objects) (v string, ok bool, err error) {
	switch {
	case src.FieldRef != nil:
		v, err = fieldValue(spec, src.FieldRef.FieldPath)
		return v, err == nil, err
	case src.ResourceFieldRef != nil:
		v, err = resourceValue(c, src.ResourceFieldRef, spec.NodeAllocatable)
		return v, err == nil, err
	case src.ConfigMapKeyRef != nil:
		return configMapKey(spec.Pod.Namespace, src.ConfigMapKeyRef, objs)
	case src.SecretKeyRef != nil:
		return secretKey(spec.Pod.Namespace, src.SecretKeyRef, objs)
	}
	return "", false, errors.New("valueFrom names no source")
}

// fieldValue is the downward API's value of a pod field.
func fieldValue(spec PodSpec, path string) (string, error) {
	p := spec.Pod
	if k, ok := subscript(path, "metadata.labels"); ok {
		return p.Labels[k], nil
	}
	if k, ok := subscript(path, "metadata.annotations"); ok {
		return p.Annotations[k], nil
	}
	switch path {
	case "metadata.name":
		return p.Name, nil
	case "metadata.namespace":
		return p.Namespace, nil
	case "metadata.uid":
		return string(p.UID), nil
	case "metadata.labels":
		return formatMap(p.Labels), nil
	case "metadata.annotations":
		return formatMap(p.Annotations), nil
	case "spec.nodeName":
		return p.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return p.Spec.ServiceAccountName, nil
	case "status.podIP":
		return podIP(spec), nil
	case "status.podIPs":
		return podIPs(spec), nil
	case "status.hostIP":
		return p.Status.HostIP, nil
	case "status.hostIPs":
		ips := make([]string, 0, len(p.Status.HostIPs))
		for _, ip := range p.Status.HostIPs {
			ips = append(ips, ip.IP)
		}
		return strings.Join(ips, ","), nil
	}
	return "", fmt.Errorf("unsupported fieldRef %q", path)
}

// subscript parses "prefix['key']".
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "']")
}

// podIP is the pod's address: PodSpec.PodIP, else the pod's status.
func podIP(spec PodSpec) string {
	if spec.PodIP.IsValid() {
		return spec.PodIP.String()
	}
	return spec.Pod.Status.PodIP
}

func podIPs(spec PodSpec) string {
	if len(spec.Pod.Status.PodIPs) == 0 {
		return podIP(spec)
	}
	ips := make([]string, 0, len(spec.Pod.Status.PodIPs))
	for _, ip := range spec.Pod.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	return strings.Join(ips, ",")
}

// commandLine is the container's argv: command and args, each expanded
// against the container's environment, resolved against the image's
// entrypoint when the image is one of the well-known test images that
// switchyard runs as a built-in program (package images); otherwise
// command followed by args (args alone when there is no command).
func commandLine(c *corev1.Container, env *envList) ([]string, error) {
	command := make([]string, 0, len(c.Command))
	for _, s := range c.Command {
		command = append(command, expand(s, env.lookup))
	}
	args := make([]string, 0, len(c.Args))
	for _, s := range c.Args {
		args = append(args, expand(s, env.lookup))
	}
	argv, err := images.Resolve(c.Image, command, args)
	if err != nil {
		return nil, err
	}
	if len(argv) == 0 || argv[0] == "" {
		return nil, errNoCommand
	}
	return argv, nil
}

// expand replaces $(NAME) with the variable's value when it is defined,
// and $$ with $, leaving everything else as written: Kubernetes' rules for
// env values, command and args.
func expand(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok && name != "" {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// PodHostname is the pod's hostname as kubelet sets it: spec.hostname,
// else the pod name cut to 63 characters.
func PodHostname(p *corev1.Pod) string {
	if p.Spec.Hostname != "" {
		return p.Spec.Hostname
	}
	h := p.Name
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

// HostsHeader opens every pod's /etc/hosts, as the kubelet writes it.
const HostsHeader = "# Kubernetes-managed hosts file.\n" +
	"127.0.0.1\tlocalhost\n" +
	"::1\tlocalhost ip6-localhost ip6-loopback\n" +
	"fe00::0\tip6-localnet\n" +
	"fe00::0\tip6-mcastprefix\n" +
	"fe00::1\tip6-allnodes\n" +
	"fe00::2\tip6-allrouters\n"

// defaultHosts is the /etc/hosts of a pod whose agent gave none: the
// kubelet's layout with the pod's own address and host aliases.
func defaultHosts(p *corev1.Pod, hostname string, ip netip.Addr) []byte {
	var b strings.Builder
	b.WriteString(HostsHeader)
	if ip.IsValid() {
		fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
	}
	for _, a := range p.Spec.HostAliases {
		fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
	}
	return []byte(b.String())
}
