package validation

import (
	"slices"
	"sort"
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	// maxDataSize bounds the data of a ConfigMap or Secret (1 MiB).
	maxDataSize = 1 << 20
	// maxControllerLen bounds an IngressClass controller name.
	maxControllerLen = 250
	immutableData    = "field is immutable when `immutable` is set"
)

var supportedParameterScopes = []string{networkingv1.IngressClassParametersReferenceScopeCluster,
	networkingv1.IngressClassParametersReferenceScopeNamespace}

func validateNamespace(ns *corev1.Namespace) field.ErrorList {
	errs := validateMeta(&ns.ObjectMeta, cluster, nameIsDNSLabel)
	for i, f := range ns.Spec.Finalizers {
		errs = append(errs, apivalidation.ValidateFinalizerName(string(f), specPath.Child("finalizers").Index(i))...)
	}
	return errs
}

func validateLease(l *coordinationv1.Lease) field.ErrorList {
	errs := validateMeta(&l.ObjectMeta, namespaced, nameIsDNSSubdomain)
	if d := l.Spec.LeaseDurationSeconds; d != nil && *d <= 0 {
		errs = append(errs, field.Invalid(specPath.Child("leaseDurationSeconds"), *d, "must be greater than 0"))
	}
	if t := l.Spec.LeaseTransitions; t != nil && *t < 0 {
		errs = append(errs, field.Invalid(specPath.Child("leaseTransitions"), *t, "must be greater than or equal to 0"))
	}
	return errs
}

func validateIngressClass(ic *networkingv1.IngressClass) field.ErrorList {
	errs := validateMeta(&ic.ObjectMeta, cluster, nameIsDNSSubdomain)
	cp := specPath.Child("controller")
	if len(ic.Spec.Controller) > maxControllerLen {
		errs = append(errs, field.TooLong(cp, "", maxControllerLen))
	}
	errs = append(errs, validation.IsDomainPrefixedPath(cp, ic.Spec.Controller)...)
	if params := ic.Spec.Parameters; params != nil {
		errs = append(errs, validateClassParameters(params, specPath.Child("parameters"))...)
	}
	return errs
}

func validateClassParameters(params *networkingv1.IngressClassParametersReference, p *field.Path) field.ErrorList {
	errs := validateTypedRef(params.APIGroup, params.Kind, params.Name, p)
	switch {
	case params.Scope == nil:
		return append(errs, field.Required(p.Child("scope"), ""))
	case !slices.Contains(supportedParameterScopes, *params.Scope):
		return append(errs, field.NotSupported(p.Child("scope"), *params.Scope, supportedParameterScopes))
	case *params.Scope == networkingv1.IngressClassParametersReferenceScopeCluster && params.Namespace != nil:
		return append(errs, field.Forbidden(p.Child("namespace"), "`parameters.scope` is set to 'Cluster'"))
	case *params.Scope == networkingv1.IngressClassParametersReferenceScopeNamespace && params.Namespace == nil:
		return append(errs, field.Required(p.Child("namespace"), "`parameters.scope` is set to 'Namespace'"))
	case params.Namespace != nil:
		return append(errs, invalid(p.Child("namespace"), *params.Namespace, apivalidation.ValidateNamespaceName(*params.Namespace, false))...)
	}
	return errs
}

func validateIngressClassUpdate(ic, old *networkingv1.IngressClass) field.ErrorList {
	return immutable(ic.Spec.Controller, old.Spec.Controller, specPath.Child("controller"))
}

// validateNode checks the node name and its pod CIDRs: valid, led by
// podCIDR, at most one per family.
func validateNode(n *corev1.Node) field.ErrorList {
	errs := validateMeta(&n.ObjectMeta, cluster, nameIsDNSSubdomain)
	if n.Spec.PodCIDR != "" {
		errs = append(errs, validateCIDR(n.Spec.PodCIDR, specPath.Child("podCIDR"))...)
	}
	cp := specPath.Child("podCIDRs")
	for i, c := range n.Spec.PodCIDRs {
		errs = append(errs, validateCIDR(c, cp.Index(i))...)
	}
	if len(errs) > 0 || len(n.Spec.PodCIDRs) == 0 {
		return append(errs, validateTaints(n.Spec.Taints)...)
	}
	if n.Spec.PodCIDR != "" && n.Spec.PodCIDRs[0] != n.Spec.PodCIDR {
		errs = append(errs, field.Invalid(cp, n.Spec.PodCIDRs, "first value must match `podCIDR`"))
	}
	if len(n.Spec.PodCIDRs) > 1 && !isDualStackCIDRs(n.Spec.PodCIDRs) {
		errs = append(errs, field.Invalid(cp, n.Spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
	}
	return append(errs, validateTaints(n.Spec.Taints)...)
}

func isDualStackCIDRs(cidrs []string) bool {
	ips := make([]string, len(cidrs))
	for i, c := range cidrs {
		ips[i], _, _ = strings.Cut(c, "/")
	}
	return isDualStackPair(ips)
}

func validateTaints(taints []corev1.Taint) field.ErrorList {
	var errs field.ErrorList
	seen := map[corev1.Taint]bool{}
	for i, t := range taints {
		idx := specPath.Child("taints").Index(i)
		errs = append(errs, validateQualifiedName(t.Key, idx.Child("key"))...)
		errs = append(errs, invalid(idx.Child("value"), t.Value, validation.IsValidLabelValue(t.Value))...)
		if t.Effect == "" {
			errs = append(errs, field.Required(idx.Child("effect"), ""))
		} else {
			errs = append(errs, validateTaintEffect(t.Effect, idx.Child("effect"))...)
		}
		key := corev1.Taint{Key: t.Key, Effect: t.Effect}
		if seen[key] {
			errs = append(errs, field.Duplicate(idx, t))
		}
		seen[key] = true
	}
	return errs
}

// validateNodeUpdate: pod CIDRs and providerID may be set once, then
// never changed.
func validateNodeUpdate(n, old *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	if len(old.Spec.PodCIDRs) > 0 && !slices.Equal(n.Spec.PodCIDRs, old.Spec.PodCIDRs) {
		errs = append(errs, field.Forbidden(specPath.Child("podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
	}
	if old.Spec.ProviderID != "" && n.Spec.ProviderID != old.Spec.ProviderID {
		errs = append(errs, field.Forbidden(specPath.Child("providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	return errs
}

func validateConfigMap(cm *corev1.ConfigMap) field.ErrorList {
	errs := validateMeta(&cm.ObjectMeta, namespaced, nameIsDNSSubdomain)
	size := 0
	for _, k := range sortedKeys(cm.Data) {
		p := field.NewPath("data").Key(k)
		errs = append(errs, invalid(p, k, validation.IsConfigMapKey(k))...)
		if _, dup := cm.BinaryData[k]; dup {
			errs = append(errs, field.Invalid(p, k, "duplicate of key present in binaryData"))
		}
		size += len(cm.Data[k])
	}
	for _, k := range sortedKeys(cm.BinaryData) {
		errs = append(errs, invalid(field.NewPath("binaryData").Key(k), k, validation.IsConfigMapKey(k))...)
		size += len(cm.BinaryData[k])
	}
	if size > maxDataSize {
		errs = append(errs, field.TooLong(rootPath, "", maxDataSize))
	}
	return errs
}

func validateConfigMapUpdate(cm, old *corev1.ConfigMap) field.ErrorList {
	if old.Immutable == nil || !*old.Immutable {
		return nil
	}
	var errs field.ErrorList
	if cm.Immutable == nil || !*cm.Immutable {
		errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableData))
	}
	if !apiequality.Semantic.DeepEqual(cm.Data, old.Data) {
		errs = append(errs, field.Forbidden(field.NewPath("data"), immutableData))
	}
	if !apiequality.Semantic.DeepEqual(cm.BinaryData, old.BinaryData) {
		errs = append(errs, field.Forbidden(field.NewPath("binaryData"), immutableData))
	}
	return errs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
