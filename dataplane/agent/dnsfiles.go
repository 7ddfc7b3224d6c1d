package agent

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/switchyard-net/switchyard/dataplane/runner"
)

// Limits kubelet applies to a pod's resolv.conf (pkg/kubelet/network/dns):
// glibc reads at most three nameservers, and the search line is capped.
const (
	maxDNSNameservers  = 3
	maxDNSSearches     = 32
	maxDNSSearchLength = 2048
)

// hostDNS is what the node's own resolv.conf says (kubelet's
// --resolv-conf): the base of dnsPolicy Default, and the search domains
// ClusterFirst appends to the cluster's.
type hostDNS struct {
	servers, search, options []string
}

// parseResolvConf reads the nameserver, search/domain and options lines.
func parseResolvConf(data []byte) hostDNS {
	var h hostDNS
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) > 1 {
				h.servers = append(h.servers, f[1])
			}
		case "search", "domain": // the last one wins, as in glibc
			h.search = append([]string(nil), f[1:]...)
		case "options":
			h.options = append(h.options, f[1:]...)
		}
	}
	return h
}

// resolvConf returns the pod's /etc/resolv.conf, following the pod's
// dnsPolicy as kubelet does: ClusterFirst (the default) uses the cluster
// DNS with the search path <ns>.svc.<domain> svc.<domain> <domain> then
// the host's search domains, and ndots:5; Default starts from the host's
// file (nil, the file itself, when there is no dnsConfig to merge), as
// does ClusterFirst for hostNetwork pods; None starts empty. dnsConfig is
// merged in every case, then kubelet's limits apply (3 nameservers, 32
// search domains of at most 2048 characters in all).
func resolvConf(pod *corev1.Pod, dns netip.Addr, domain string, host hostDNS) []byte {
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	hostBased := policy == corev1.DNSDefault || (policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork)
	if hostBased && pod.Spec.DNSConfig == nil {
		return nil
	}
	var servers, search, opts []string
	switch {
	case hostBased:
		servers = append(servers, host.servers...)
		search = append(search, host.search...)
		opts = append(opts, host.options...)
	case policy != corev1.DNSNone:
		servers = []string{dns.String()}
		search = appendNew([]string{pod.Namespace + ".svc." + domain, "svc." + domain, domain}, host.search...)
		opts = []string{"ndots:5"}
	}
	if c := pod.Spec.DNSConfig; c != nil {
		servers = appendNew(servers, c.Nameservers...)
		search = appendNew(search, c.Searches...)
		for _, o := range c.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			opts = mergeOption(opts, o.Name, opt)
		}
	}
	if len(servers) > maxDNSNameservers {
		servers = servers[:maxDNSNameservers]
	}
	search = capSearch(search)
	var b bytes.Buffer
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(opts) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(opts, " "))
	}
	return b.Bytes()
}

// capSearch keeps the first domains within kubelet's limits.
func capSearch(search []string) []string {
	n := 0
	for i, s := range search {
		n += len(s) + 1
		if i == maxDNSSearches || n-1 > maxDNSSearchLength {
			return search[:i]
		}
	}
	return search
}

func appendNew(list []string, more ...string) []string {
	for _, m := range more {
		dup := false
		for _, l := range list {
			dup = dup || l == m
		}
		if !dup {
			list = append(list, m)
		}
	}
	return list
}

// mergeOption replaces the option called name, or appends opt.
func mergeOption(opts []string, name, opt string) []string {
	for i, o := range opts {
		if n, _, _ := strings.Cut(o, ":"); n == name {
			opts[i] = opt
			return opts
		}
	}
	return append(opts, opt)
}

// hostsFile returns the pod's /etc/hosts the way kubelet writes it: the
// localhost entries, the pod's own address with its hostname (and FQDN
// when spec.subdomain is set), then spec.hostAliases. hostNetwork pods
// get nil (the host's file).
func hostsFile(pod *corev1.Pod, ip netip.Addr, domain string) []byte {
	if pod.Spec.HostNetwork {
		return nil
	}
	var b bytes.Buffer
	b.WriteString(runner.HostsHeader)
	if ip.IsValid() {
		host := runner.PodHostname(pod)
		if pod.Spec.Subdomain != "" {
			fmt.Fprintf(&b, "%s\t%s.%s.%s.svc.%s\t%s\n", ip, host, pod.Spec.Subdomain, pod.Namespace, domain, host)
		} else {
			fmt.Fprintf(&b, "%s\t%s\n", ip, host)
		}
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range pod.Spec.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	return b.Bytes()
}
