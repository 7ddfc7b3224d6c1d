package validation

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Sorted value lists, as Kubernetes reports them in NotSupported.
var (
	supportedRestartPolicies = []corev1.RestartPolicy{corev1.RestartPolicyAlways,
		corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure}
	supportedDNSPolicies = []corev1.DNSPolicy{corev1.DNSClusterFirst,
		corev1.DNSClusterFirstWithHostNet, corev1.DNSDefault, corev1.DNSNone}
)

// Pod DNS limits (Kubernetes' validatePodDNSConfig).
const (
	maxDNSNameservers = 3
	maxDNSSearchPaths = 32
)

func validatePod(pod *corev1.Pod) field.ErrorList {
	errs := validateMeta(&pod.ObjectMeta, namespaced, nameIsDNSSubdomain)
	return append(errs, validatePodSpec(&pod.Spec, specPath)...)
}

func validatePodSpec(spec *corev1.PodSpec, p *field.Path) field.ErrorList {
	volumes, errs := validateVolumes(spec.Volumes, p.Child("volumes"))
	names := map[string]bool{}
	if len(spec.Containers) == 0 {
		errs = append(errs, field.Required(p.Child("containers"), ""))
	}
	errs = append(errs, validateContainers(spec.Containers, volumes, names, false, p.Child("containers"))...)
	errs = append(errs, validateContainers(spec.InitContainers, volumes, names, true, p.Child("initContainers"))...)
	errs = append(errs, validateHostPorts(spec, p)...)
	errs = append(errs, validatePodPolicies(spec, p)...)
	errs = append(errs, validatePodNames(spec, p)...)
	errs = append(errs, validateDNSConfig(spec, p)...)
	errs = append(errs, validateTolerations(spec.Tolerations, p.Child("tolerations"))...)
	errs = append(errs, validateHostAliases(spec.HostAliases, p.Child("hostAliases"))...)
	if ads := spec.ActiveDeadlineSeconds; ads != nil && (*ads < 1 || *ads > math.MaxInt32) {
		errs = append(errs, field.Invalid(p.Child("activeDeadlineSeconds"), *ads, validation.InclusiveRangeError(1, math.MaxInt32)))
	}
	return errs
}

func validatePodPolicies(spec *corev1.PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch rp := spec.RestartPolicy; {
	case rp == "":
		errs = append(errs, field.Required(p.Child("restartPolicy"), ""))
	case !slices.Contains(supportedRestartPolicies, rp):
		errs = append(errs, field.NotSupported(p.Child("restartPolicy"), rp, supportedRestartPolicies))
	}
	switch dp := spec.DNSPolicy; {
	case dp == "":
		errs = append(errs, field.Required(p.Child("dnsPolicy"), ""))
	case !slices.Contains(supportedDNSPolicies, dp):
		errs = append(errs, field.NotSupported(p.Child("dnsPolicy"), dp, supportedDNSPolicies))
	}
	return errs
}

// validatePodNames checks the names a pod spec refers to or sets.
func validatePodNames(spec *corev1.PodSpec, p *field.Path) field.ErrorList {
	errs := metav1validation.ValidateLabels(spec.NodeSelector, p.Child("nodeSelector"))
	subdomains := []struct {
		v    string
		name string
	}{{spec.ServiceAccountName, "serviceAccountName"}, {spec.NodeName, "nodeName"}, {spec.SchedulerName, "schedulerName"}}
	for _, s := range subdomains {
		if s.v != "" {
			errs = append(errs, validateDNSSubdomain(s.v, p.Child(s.name))...)
		}
	}
	if spec.Hostname != "" {
		errs = append(errs, validateDNSLabel(spec.Hostname, p.Child("hostname"))...)
	}
	if spec.Subdomain != "" {
		errs = append(errs, validateDNSLabel(spec.Subdomain, p.Child("subdomain"))...)
	}
	return errs
}

// validateHostPorts: no two containers bind the same host IP, protocol and
// port; with hostNetwork the host port is the container port.
func validateHostPorts(spec *corev1.PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, group := range []struct {
		cs   []corev1.Container
		path *field.Path
	}{{spec.Containers, p.Child("containers")}, {spec.InitContainers, p.Child("initContainers")}} {
		seen := map[string]bool{}
		for i, c := range group.cs {
			for j, cp := range c.Ports {
				pp := group.path.Index(i).Child("ports").Index(j)
				if spec.HostNetwork && cp.HostPort != cp.ContainerPort {
					errs = append(errs, field.Invalid(pp.Child("hostPort"), cp.ContainerPort, "must match `containerPort` when `hostNetwork` is true"))
				}
				if cp.HostPort == 0 {
					continue
				}
				key := fmt.Sprintf("%s/%s/%d", cp.HostIP, cp.Protocol, cp.HostPort)
				if seen[key] {
					errs = append(errs, field.Duplicate(pp.Child("hostPort"), key))
				}
				seen[key] = true
			}
		}
	}
	return errs
}

func validateDNSConfig(spec *corev1.PodSpec, p *field.Path) field.ErrorList {
	cfg, cp := spec.DNSConfig, p.Child("dnsConfig")
	if spec.DNSPolicy == corev1.DNSNone && (cfg == nil || len(cfg.Nameservers) == 0) {
		if cfg == nil {
			return field.ErrorList{field.Required(cp, "must provide `dnsConfig` when `dnsPolicy` is None")}
		}
		return field.ErrorList{field.Required(cp.Child("nameservers"), "must provide at least one DNS nameserver when `dnsPolicy` is None")}
	}
	if cfg == nil {
		return nil
	}
	var errs field.ErrorList
	if len(cfg.Nameservers) > maxDNSNameservers {
		errs = append(errs, field.Invalid(cp.Child("nameservers"), cfg.Nameservers, fmt.Sprintf("must not have more than %d nameservers", maxDNSNameservers)))
	}
	for i, ns := range cfg.Nameservers {
		errs = append(errs, validateIP(ns, cp.Child("nameservers").Index(i))...)
	}
	if len(cfg.Searches) > maxDNSSearchPaths {
		errs = append(errs, field.Invalid(cp.Child("searches"), cfg.Searches, fmt.Sprintf("must not have more than %d search paths", maxDNSSearchPaths)))
	}
	for i, s := range cfg.Searches {
		// A search domain may be fully qualified (trailing dot) or "." itself.
		if s = strings.TrimSuffix(s, "."); s != "" {
			errs = append(errs, validateDNSSubdomain(s, cp.Child("searches").Index(i))...)
		}
	}
	for i, o := range cfg.Options {
		if o.Name == "" {
			errs = append(errs, field.Required(cp.Child("options").Index(i).Child("name"), "must not be empty"))
		}
	}
	return errs
}

func validateHostAliases(aliases []corev1.HostAlias, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, a := range aliases {
		ip := p.Index(i).Child("ip")
		if a.IP == "" {
			errs = append(errs, field.Required(ip, ""))
		} else {
			errs = append(errs, validateIP(a.IP, ip)...)
		}
		for j, h := range a.Hostnames {
			errs = append(errs, validateDNSSubdomain(h, p.Index(i).Child("hostnames").Index(j))...)
		}
	}
	return errs
}

// validateVolumes checks volume names (unique DNS labels) and that each
// volume has exactly one source; it returns the set of names.
func validateVolumes(vols []corev1.Volume, p *field.Path) (map[string]bool, field.ErrorList) {
	var errs field.ErrorList
	names := map[string]bool{}
	for i := range vols {
		v, idx := &vols[i], p.Index(i)
		switch {
		case v.Name == "":
			errs = append(errs, field.Required(idx.Child("name"), ""))
		case names[v.Name]:
			errs = append(errs, field.Duplicate(idx.Child("name"), v.Name))
		default:
			errs = append(errs, validateDNSLabel(v.Name, idx.Child("name"))...)
		}
		names[v.Name] = true
		errs = append(errs, validateVolumeSource(&v.VolumeSource, idx)...)
	}
	return names, errs
}

func validateVolumeSource(vs *corev1.VolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	set := setPointerFields(reflectValue(vs))
	if len(set) == 0 {
		return field.ErrorList{field.Required(p, "must specify a volume type")}
	}
	for _, name := range set[1:] {
		errs = append(errs, field.Forbidden(p.Child(name), "may not specify more than 1 volume type"))
	}
	switch {
	case vs.HostPath != nil && vs.HostPath.Path == "":
		errs = append(errs, field.Required(p.Child("hostPath", "path"), ""))
	case vs.Secret != nil && vs.Secret.SecretName == "":
		errs = append(errs, field.Required(p.Child("secret", "secretName"), ""))
	case vs.ConfigMap != nil && vs.ConfigMap.Name == "":
		errs = append(errs, field.Required(p.Child("configMap", "name"), ""))
	}
	return append(errs, validateVolumeContents(vs, p)...)
}

// setPointerFields lists the JSON names of the non-nil pointer fields of
// struct v, in declaration order.
func setPointerFields(v reflect.Value) []string {
	var set []string
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() != reflect.Pointer || f.IsNil() {
			continue
		}
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		set = append(set, name)
	}
	return set
}

// reflectValue is the struct ptr points to.
func reflectValue(ptr any) reflect.Value { return reflect.ValueOf(ptr).Elem() }
