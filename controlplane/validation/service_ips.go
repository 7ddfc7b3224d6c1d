package validation

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	clusterIPsPath     = specPath.Child("clusterIPs")
	ipFamiliesPath     = specPath.Child("ipFamilies")
	ipFamilyPolicyPath = specPath.Child("ipFamilyPolicy")

	supportedIPFamilies       = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	supportedIPFamilyPolicies = []corev1.IPFamilyPolicy{corev1.IPFamilyPolicyPreferDualStack,
		corev1.IPFamilyPolicyRequireDualStack, corev1.IPFamilyPolicySingleStack}
)

// validateClusterIPs checks clusterIP, clusterIPs, ipFamilies and
// ipFamilyPolicy together. ExternalName services have their own rule.
func validateClusterIPs(svc *corev1.Service) field.ErrorList {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	spec := &svc.Spec
	errs := validateClusterIPSync(spec)
	errs = append(errs, validateIPFamilies(spec)...)
	ipErrs := validateClusterIPValues(spec.ClusterIPs)
	errs = append(errs, ipErrs...)
	if len(ipErrs) > 0 {
		// Later checks would only restate a bad address.
		return errs
	}
	if len(spec.ClusterIPs) > 1 && !isDualStackPair(spec.ClusterIPs) {
		errs = append(errs, field.Invalid(clusterIPsPath, spec.ClusterIPs, "may specify no more than one IP for each IP family"))
	}
	if !isHeadless(svc) {
		errs = append(errs, validateClusterIPFamilies(spec)...)
	}
	return errs
}

// validateClusterIPSync: clusterIPs[0] is clusterIP, and clusterIPs is
// empty when clusterIP is.
func validateClusterIPSync(spec *corev1.ServiceSpec) field.ErrorList {
	switch {
	case spec.ClusterIP != "" && len(spec.ClusterIPs) == 0:
		return field.ErrorList{field.Required(clusterIPsPath, "")}
	case spec.ClusterIP != "" && spec.ClusterIPs[0] != spec.ClusterIP:
		return field.ErrorList{field.Invalid(clusterIPsPath, spec.ClusterIPs, "first value must match `clusterIP`")}
	case spec.ClusterIP == "" && len(spec.ClusterIPs) > 0:
		return field.ErrorList{field.Invalid(clusterIPsPath, spec.ClusterIPs, "must be empty when `clusterIP` is not specified")}
	}
	return nil
}

func validateIPFamilies(spec *corev1.ServiceSpec) field.ErrorList {
	var errs field.ErrorList
	seen := map[corev1.IPFamily]bool{}
	for i, fam := range spec.IPFamilies {
		if !slices.Contains(supportedIPFamilies, fam) {
			errs = append(errs, field.NotSupported(ipFamiliesPath.Index(i), fam, supportedIPFamilies))
		}
		if seen[fam] {
			errs = append(errs, field.Duplicate(ipFamiliesPath.Index(i), fam))
		}
		seen[fam] = true
	}
	if len(spec.IPFamilies) > 2 {
		errs = append(errs, field.Invalid(ipFamiliesPath, spec.IPFamilies, "may only hold up to 2 values"))
	}
	pol := spec.IPFamilyPolicy
	if pol != nil && !slices.Contains(supportedIPFamilyPolicies, *pol) {
		errs = append(errs, field.NotSupported(ipFamilyPolicyPath, *pol, supportedIPFamilyPolicies))
	}
	if pol != nil && *pol == corev1.IPFamilyPolicySingleStack && len(spec.IPFamilies) > 1 {
		errs = append(errs, field.Invalid(ipFamiliesPath, spec.IPFamilies, "must hold a single value when `ipFamilyPolicy` is 'SingleStack'"))
	}
	return errs
}

// validateClusterIPValues checks each address; "None" is allowed only as
// the one and only value.
func validateClusterIPValues(ips []string) field.ErrorList {
	var errs field.ErrorList
	for i, ip := range ips {
		if i == 0 && ip == corev1.ClusterIPNone {
			if len(ips) > 1 {
				errs = append(errs, field.Invalid(clusterIPsPath, ips, "'None' must be the first and only value"))
			}
			continue
		}
		errs = append(errs, validateIP(ip, clusterIPsPath.Index(i))...)
	}
	if len(ips) > 2 {
		errs = append(errs, field.Invalid(clusterIPsPath, ips, "may only hold up to 2 values"))
	}
	return errs
}

// validateClusterIPFamilies: each cluster IP is of the family at the same
// index of ipFamilies.
func validateClusterIPFamilies(spec *corev1.ServiceSpec) field.ErrorList {
	var errs field.ErrorList
	for i, ip := range spec.ClusterIPs {
		if i >= len(spec.IPFamilies) {
			break
		}
		a, _ := parseAddr(ip)
		want := spec.IPFamilies[i]
		if (want == corev1.IPv4Protocol && !a.Is4()) || (want == corev1.IPv6Protocol && a.Is4()) {
			errs = append(errs, field.Invalid(clusterIPsPath.Index(i), ip,
				fmt.Sprintf("expected an %s value as indicated by `ipFamilies[%d]`", want, i)))
		}
	}
	return errs
}

// validateClusterIPRange checks requested cluster IPs against the service
// CIDRs, with the message of Kubernetes' IP allocator. Addresses old
// already holds are exempt.
func validateClusterIPRange(svc, old *corev1.Service, opts Options) field.ErrorList {
	if len(opts.ServiceCIDRs) == 0 || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	ips, p := svc.Spec.ClusterIPs, clusterIPsPath
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		// Not defaulted: check the one address given.
		ips, p = []string{svc.Spec.ClusterIP}, specPath.Child("clusterIP")
	}
	var errs field.ErrorList
	for i, ip := range ips {
		a, ok := parseAddr(ip)
		if !ok || (old != nil && slices.Contains(old.Spec.ClusterIPs, ip)) || inPrefixes(opts.ServiceCIDRs, a) {
			continue
		}
		fp := p
		if p == clusterIPsPath {
			fp = p.Index(i)
		}
		errs = append(errs, field.Invalid(fp, ip, fmt.Sprintf(
			"failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is %s",
			ip, ip, prefixList(opts.ServiceCIDRs))))
	}
	return errs
}

func inPrefixes(prefixes []netip.Prefix, a netip.Addr) bool {
	return slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(a) })
}

func prefixList(prefixes []netip.Prefix) string {
	s := make([]string, len(prefixes))
	for i, p := range prefixes {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}
