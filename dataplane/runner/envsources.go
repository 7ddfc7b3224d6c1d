package runner

import (
	"fmt"
	"math"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// envFrom adds the keys of one envFrom source (a ConfigMap's data or a
// Secret's), each under prefix+key. Keys that are not valid variable names
// are skipped, as kubelet skips them (it reports them in an event). A
// missing object is skipped when the source is optional.
func envFrom(ns string, src *corev1.EnvFromSource, env *envList, objs Objects) error {
	var data map[string]string
	switch {
	case src.ConfigMapRef != nil:
		cm, err := objs.ConfigMap(ns, src.ConfigMapRef.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && isTrue(src.ConfigMapRef.Optional) {
				return nil
			}
			return fmt.Errorf("envFrom: %w", err)
		}
		data = cm.Data
	case src.SecretRef != nil:
		s, err := objs.Secret(ns, src.SecretRef.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && isTrue(src.SecretRef.Optional) {
				return nil
			}
			return fmt.Errorf("envFrom: %w", err)
		}
		data = secretStrings(s)
	default:
		return fmt.Errorf("envFrom names neither a ConfigMap nor a Secret")
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := src.Prefix + k
		if len(validation.IsRelaxedEnvVarName(name)) > 0 {
			continue
		}
		env.set(name, data[k])
	}
	return nil
}

func configMapKey(ns string, ref *corev1.ConfigMapKeySelector, objs Objects) (string, bool, error) {
	optional := isTrue(ref.Optional)
	cm, err := objs.ConfigMap(ns, ref.Name)
	if err != nil {
		if apierrors.IsNotFound(err) && optional {
			return "", false, nil
		}
		return "", false, err
	}
	v, ok := cm.Data[ref.Key]
	if !ok && !optional {
		return "", false, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, ns, ref.Name)
	}
	return v, ok, nil
}

func secretKey(ns string, ref *corev1.SecretKeySelector, objs Objects) (string, bool, error) {
	optional := isTrue(ref.Optional)
	s, err := objs.Secret(ns, ref.Name)
	if err != nil {
		if apierrors.IsNotFound(err) && optional {
			return "", false, nil
		}
		return "", false, err
	}
	v, ok := secretStrings(s)[ref.Key]
	if !ok && !optional {
		return "", false, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, ns, ref.Name)
	}
	return v, ok, nil
}

// secretStrings is a Secret's data as strings; stringData (normally merged
// into data by the API server) fills in keys data lacks.
func secretStrings(s *corev1.Secret) map[string]string {
	out := make(map[string]string, len(s.Data)+len(s.StringData))
	for k, v := range s.StringData {
		out[k] = v
	}
	for k, v := range s.Data {
		out[k] = string(v)
	}
	return out
}

func isTrue(b *bool) bool { return b != nil && *b }

// kubernetesService is the Service in the default namespace whose
// variables every pod gets, even with enableServiceLinks false.
const kubernetesService = "kubernetes"

// serviceEnv returns the docker-link style variables kubelet injects for
// Services (pkg/kubelet/envvars, getServiceEnvVarMap): those of the pod's
// namespace when enableServiceLinks is true (the default), and always
// default/kubernetes (KUBERNETES_SERVICE_HOST, ...). Services without a
// ClusterIP (headless, ExternalName) have none.
func serviceEnv(pod *corev1.Pod, objs Objects) (*envList, error) {
	links := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	byName := map[string]*corev1.Service{}
	add := func(ns string, want func(*corev1.Service) bool) error {
		svcs, err := objs.Services(ns)
		if err != nil {
			return fmt.Errorf("list services of %q: %w", ns, err)
		}
		for _, s := range svcs {
			if s.Namespace == ns && want(s) && hasClusterIP(s) && len(s.Spec.Ports) > 0 {
				byName[s.Name] = s // the pod's namespace comes last and wins
			}
		}
		return nil
	}
	if err := add(corev1.NamespaceDefault, func(s *corev1.Service) bool { return s.Name == kubernetesService }); err != nil {
		return nil, err
	}
	if links {
		if err := add(pod.Namespace, func(*corev1.Service) bool { return true }); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	env := &envList{vals: map[string]string{}}
	for _, n := range names {
		addServiceVars(env, byName[n])
	}
	return env, nil
}

func hasClusterIP(s *corev1.Service) bool {
	ip := s.Spec.ClusterIP
	return ip != "" && ip != corev1.ClusterIPNone
}

// addServiceVars adds one Service's variables: NAME_SERVICE_HOST,
// NAME_SERVICE_PORT (first port), NAME_SERVICE_PORT_<PORTNAME> (named
// ports), and docker's link variables NAME_PORT and
// NAME_PORT_<port>_<PROTO>{,_PROTO,_PORT,_ADDR}.
func addServiceVars(env *envList, s *corev1.Service) {
	prefix := envVarName(s.Name)
	ip := s.Spec.ClusterIP
	env.set(prefix+"_SERVICE_HOST", ip)
	env.set(prefix+"_SERVICE_PORT", strconv.Itoa(int(s.Spec.Ports[0].Port)))
	for _, sp := range s.Spec.Ports {
		if sp.Name != "" {
			env.set(prefix+"_SERVICE_PORT_"+envVarName(sp.Name), strconv.Itoa(int(sp.Port)))
		}
	}
	for i, sp := range s.Spec.Ports {
		proto := string(sp.Protocol)
		if proto == "" {
			proto = string(corev1.ProtocolTCP)
		}
		port := strconv.Itoa(int(sp.Port))
		url := strings.ToLower(proto) + "://" + net.JoinHostPort(ip, port)
		if i == 0 {
			env.set(prefix+"_PORT", url)
		}
		pp := prefix + "_PORT_" + port + "_" + strings.ToUpper(proto)
		env.set(pp, url)
		env.set(pp+"_PROTO", strings.ToLower(proto))
		env.set(pp+"_PORT", port)
		env.set(pp+"_ADDR", ip)
	}
}

// envVarName is a Service or port name as a variable name: upper case,
// '-' as '_'.
func envVarName(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }

// resourceValue is a resourceFieldRef's value for container c, as kubelet
// computes it (pkg/api/v1/resource ExtractContainerResourceValue): the
// quantity divided by divisor (default 1), rounded up; a limit the
// container does not set is the node's allocatable amount.
func resourceValue(c *corev1.Container, ref *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported container resource %q", ref.Resource)
	}
	list := c.Resources.Requests
	if kind == "limits" {
		list = c.Resources.Limits
	}
	q, set := list[corev1.ResourceName(name)]
	if !set && kind == "limits" {
		q = allocatable[corev1.ResourceName(name)]
	}
	switch corev1.ResourceName(name) {
	case corev1.ResourceCPU:
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	case corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
	}
	if strings.HasPrefix(name, corev1.ResourceHugePagesPrefix) {
		return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
	}
	return "", fmt.Errorf("unsupported container resource %q", ref.Resource)
}

// formatMap renders labels or annotations as the downward API does
// (key="quoted value" lines, sorted).
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	return b.String()
}
