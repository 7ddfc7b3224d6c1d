package validation

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Sorted value lists, as Kubernetes reports them in NotSupported.
var (
	supportedPullPolicies    = []corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}
	supportedTermMsgPolicies = []corev1.TerminationMessagePolicy{
		corev1.TerminationMessageFallbackToLogsOnError, corev1.TerminationMessageReadFile}
	supportedContainerRestartPolicies = []corev1.ContainerRestartPolicy{corev1.ContainerRestartPolicyAlways}
)

// validateContainers checks a list of containers. names collects container
// names across lists, for the uniqueness rule; volumes are the pod's
// volume names. Init containers may not have probes or lifecycle hooks
// unless they are sidecars (restartPolicy Always).
func validateContainers(cs []corev1.Container, volumes, names map[string]bool, init bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i := range cs {
		c, idx := &cs[i], p.Index(i)
		errs = append(errs, validateContainerName(c.Name, names, idx.Child("name"))...)
		if c.Image == "" {
			errs = append(errs, field.Required(idx.Child("image"), ""))
		}
		errs = append(errs, validateContainerPorts(c.Ports, idx.Child("ports"))...)
		errs = append(errs, validateEnv(c.Env, idx.Child("env"))...)
		errs = append(errs, validateEnvFrom(c.EnvFrom, idx.Child("envFrom"))...)
		errs = append(errs, validateVolumeMounts(c.VolumeMounts, volumes, idx.Child("volumeMounts"))...)
		errs = append(errs, validateContainerPolicies(c, init, idx)...)
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		if init && !sidecar {
			errs = append(errs, forbidInitHooks(c, idx)...)
		} else {
			errs = append(errs, validateProbes(c, idx)...)
			errs = append(errs, validateLifecycle(c.Lifecycle, idx.Child("lifecycle"))...)
		}
	}
	return errs
}

func validateContainerName(name string, names map[string]bool, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	errs := validateDNSLabel(name, p)
	if names[name] {
		errs = append(errs, field.Duplicate(p, name))
	}
	names[name] = true
	return errs
}

func validateContainerPolicies(c *corev1.Container, init bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch pp := c.ImagePullPolicy; {
	case pp == "":
		errs = append(errs, field.Required(p.Child("imagePullPolicy"), ""))
	case !slices.Contains(supportedPullPolicies, pp):
		errs = append(errs, field.NotSupported(p.Child("imagePullPolicy"), pp, supportedPullPolicies))
	}
	switch tp := c.TerminationMessagePolicy; {
	case tp == "":
		errs = append(errs, field.Required(p.Child("terminationMessagePolicy"), ""))
	case !slices.Contains(supportedTermMsgPolicies, tp):
		errs = append(errs, field.NotSupported(p.Child("terminationMessagePolicy"), tp, supportedTermMsgPolicies))
	}
	if rp := c.RestartPolicy; rp != nil && init && !slices.Contains(supportedContainerRestartPolicies, *rp) {
		errs = append(errs, field.NotSupported(p.Child("restartPolicy"), *rp, supportedContainerRestartPolicies))
	}
	return errs
}

// validateContainerPorts checks names (unique IANA service names), port
// numbers, host IP and protocol of each container port.
func validateContainerPorts(ports []corev1.ContainerPort, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	for i, cp := range ports {
		idx := p.Index(i)
		if cp.Name != "" {
			msgs := validation.IsValidPortName(cp.Name)
			errs = append(errs, invalid(idx.Child("name"), cp.Name, msgs)...)
			if len(msgs) == 0 && names[cp.Name] {
				errs = append(errs, field.Duplicate(idx.Child("name"), cp.Name))
			}
			names[cp.Name] = true
		}
		if cp.ContainerPort == 0 {
			errs = append(errs, field.Required(idx.Child("containerPort"), ""))
		} else {
			errs = append(errs, validatePortNum(cp.ContainerPort, idx.Child("containerPort"))...)
		}
		if cp.HostPort != 0 {
			errs = append(errs, validatePortNum(cp.HostPort, idx.Child("hostPort"))...)
		}
		if cp.HostIP != "" {
			errs = append(errs, validateIP(cp.HostIP, idx.Child("hostIP"))...)
		}
		errs = append(errs, validateProtocol(cp.Protocol, idx.Child("protocol"))...)
	}
	return errs
}

// validateVolumeMounts: each mount names a pod volume and a unique path.
func validateVolumeMounts(mounts []corev1.VolumeMount, volumes map[string]bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	paths := map[string]bool{}
	for i, m := range mounts {
		idx := p.Index(i)
		switch {
		case m.Name == "":
			errs = append(errs, field.Required(idx.Child("name"), ""))
		case !volumes[m.Name]:
			errs = append(errs, field.NotFound(idx.Child("name"), m.Name))
		}
		switch {
		case m.MountPath == "":
			errs = append(errs, field.Required(idx.Child("mountPath"), ""))
		case paths[m.MountPath]:
			errs = append(errs, field.Invalid(idx.Child("mountPath"), m.MountPath, "must be unique"))
		}
		paths[m.MountPath] = true
		if m.SubPath != "" {
			errs = append(errs, validateLocalDescendingPath(m.SubPath, idx.Child("subPath"))...)
		}
		if m.SubPathExpr != "" {
			if m.SubPath != "" {
				errs = append(errs, field.Invalid(idx.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
			}
			errs = append(errs, validateLocalDescendingPath(m.SubPathExpr, idx.Child("subPathExpr"))...)
		}
	}
	return errs
}

// forbidInitHooks: a plain init container runs to completion, so probes
// and lifecycle hooks make no sense on it.
func forbidInitHooks(c *corev1.Container, p *field.Path) field.ErrorList {
	const msg = "may not be set for init containers without restartPolicy=Always"
	var errs field.ErrorList
	if c.Lifecycle != nil {
		errs = append(errs, field.Forbidden(p.Child("lifecycle"), msg))
	}
	for _, pr := range []struct {
		set  bool
		name string
	}{{c.LivenessProbe != nil, "livenessProbe"}, {c.ReadinessProbe != nil, "readinessProbe"}, {c.StartupProbe != nil, "startupProbe"}} {
		if pr.set {
			errs = append(errs, field.Forbidden(p.Child(pr.name), msg))
		}
	}
	return errs
}
