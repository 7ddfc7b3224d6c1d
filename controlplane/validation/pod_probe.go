package validation

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var supportedHTTPSchemes = []corev1.URIScheme{corev1.URISchemeHTTP, corev1.URISchemeHTTPS}

// handler is the union of a probe's and a lifecycle hook's actions.
type handler struct {
	exec    *corev1.ExecAction
	httpGet *corev1.HTTPGetAction
	tcp     *corev1.TCPSocketAction
	grpc    *corev1.GRPCAction
	sleep   *corev1.SleepAction
}

func validateProbes(c *corev1.Container, p *field.Path) field.ErrorList {
	errs := validateProbe(c.LivenessProbe, p.Child("livenessProbe"))
	errs = append(errs, validateProbe(c.ReadinessProbe, p.Child("readinessProbe"))...)
	errs = append(errs, validateProbe(c.StartupProbe, p.Child("startupProbe"))...)
	for _, pr := range []struct {
		probe *corev1.Probe
		name  string
	}{{c.LivenessProbe, "livenessProbe"}, {c.StartupProbe, "startupProbe"}} {
		if pr.probe != nil && pr.probe.SuccessThreshold != 1 {
			errs = append(errs, field.Invalid(p.Child(pr.name, "successThreshold"), pr.probe.SuccessThreshold, "must be 1"))
		}
	}
	if rp := c.ReadinessProbe; rp != nil && rp.TerminationGracePeriodSeconds != nil {
		errs = append(errs, field.Invalid(p.Child("readinessProbe", "terminationGracePeriodSeconds"),
			*rp.TerminationGracePeriodSeconds, "must not be set for readinessProbes"))
	}
	return errs
}

func validateProbe(pr *corev1.Probe, p *field.Path) field.ErrorList {
	if pr == nil {
		return nil
	}
	ph := pr.ProbeHandler
	errs := validateHandler(handler{exec: ph.Exec, httpGet: ph.HTTPGet, tcp: ph.TCPSocket, grpc: ph.GRPC}, p)
	for _, n := range []struct {
		v    int32
		name string
	}{{pr.InitialDelaySeconds, "initialDelaySeconds"}, {pr.TimeoutSeconds, "timeoutSeconds"},
		{pr.PeriodSeconds, "periodSeconds"}, {pr.SuccessThreshold, "successThreshold"}, {pr.FailureThreshold, "failureThreshold"}} {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(n.v), p.Child(n.name))...)
	}
	if t := pr.TerminationGracePeriodSeconds; t != nil && *t <= 0 {
		errs = append(errs, field.Invalid(p.Child("terminationGracePeriodSeconds"), *t, "must be greater than 0"))
	}
	return errs
}

func validateLifecycle(lc *corev1.Lifecycle, p *field.Path) field.ErrorList {
	if lc == nil {
		return nil
	}
	var errs field.ErrorList
	for _, h := range []struct {
		lh   *corev1.LifecycleHandler
		name string
	}{{lc.PostStart, "postStart"}, {lc.PreStop, "preStop"}} {
		if h.lh != nil {
			errs = append(errs, validateHandler(handler{exec: h.lh.Exec, httpGet: h.lh.HTTPGet,
				tcp: h.lh.TCPSocket, sleep: h.lh.Sleep}, p.Child(h.name))...)
		}
	}
	return errs
}

// validateHandler: exactly one action, each well formed.
func validateHandler(h handler, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	add := func(set bool, name string, check func(*field.Path) field.ErrorList) {
		switch {
		case !set:
		case n > 0:
			errs = append(errs, field.Forbidden(p.Child(name), "may not specify more than 1 handler type"))
		default:
			n++
			errs = append(errs, check(p.Child(name))...)
		}
	}
	add(h.exec != nil, "exec", func(p *field.Path) field.ErrorList {
		if len(h.exec.Command) == 0 {
			return field.ErrorList{field.Required(p.Child("command"), "")}
		}
		return nil
	})
	add(h.httpGet != nil, "httpGet", func(p *field.Path) field.ErrorList { return validateHTTPGet(h.httpGet, p) })
	add(h.tcp != nil, "tcpSocket", func(p *field.Path) field.ErrorList { return validatePortNumOrName(h.tcp.Port, p.Child("port")) })
	add(h.grpc != nil, "grpc", func(p *field.Path) field.ErrorList { return validatePortNum(h.grpc.Port, p.Child("port")) })
	add(h.sleep != nil, "sleep", func(p *field.Path) field.ErrorList {
		return apivalidation.ValidateNonnegativeField(h.sleep.Seconds, p.Child("seconds"))
	})
	if n == 0 {
		errs = append(errs, field.Required(p, "must specify a handler type"))
	}
	return errs
}

func validateHTTPGet(h *corev1.HTTPGetAction, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if h.Path == "" {
		errs = append(errs, field.Required(p.Child("path"), ""))
	}
	errs = append(errs, validatePortNumOrName(h.Port, p.Child("port"))...)
	if !slices.Contains(supportedHTTPSchemes, h.Scheme) {
		errs = append(errs, field.NotSupported(p.Child("scheme"), h.Scheme, supportedHTTPSchemes))
	}
	for _, hdr := range h.HTTPHeaders {
		errs = append(errs, invalid(p.Child("httpHeaders"), hdr.Name, validation.IsHTTPHeaderName(hdr.Name))...)
	}
	return errs
}
