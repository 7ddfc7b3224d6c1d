package agent

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/switchyard-net/switchyard/dataplane/runner"
)

// resolvConf returns the pod's /etc/resolv.conf, following the pod's
// dnsPolicy as kubelet does: ClusterFirst (the default) uses the cluster
// DNS with the search path <ns>.svc.<domain> svc.<domain> <domain> and
// ndots:5; Default (and ClusterFirst for hostNetwork pods) keeps the
// host's file (nil); None starts empty. dnsConfig is appended in every
// case but Default.
func resolvConf(pod *corev1.Pod, dns netip.Addr, domain string) []byte {
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	if policy == corev1.DNSDefault || (policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork) {
		return nil
	}
	var servers, search, opts []string
	if policy != corev1.DNSNone {
		servers = []string{dns.String()}
		search = []string{pod.Namespace + ".svc." + domain, "svc." + domain, domain}
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
		host := podHostname(pod)
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

func podHostname(pod *corev1.Pod) string {
	if pod.Spec.Hostname != "" {
		return pod.Spec.Hostname
	}
	return pod.Name
}
