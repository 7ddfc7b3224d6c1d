package agent

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestResolvConf(t *testing.T) {
	dns := netip.MustParseAddr("10.96.0.10")
	ndots := "2"
	tests := []struct {
		name string
		spec corev1.PodSpec
		want string
	}{
		{"cluster first by default, host search domains appended", corev1.PodSpec{},
			"search web.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\noptions ndots:5\n"},
		{"default keeps the host's", corev1.PodSpec{DNSPolicy: corev1.DNSDefault}, ""},
		{"host network cluster first keeps the host's", corev1.PodSpec{HostNetwork: true}, ""},
		{"host network with ClusterFirstWithHostNet", corev1.PodSpec{HostNetwork: true, DNSPolicy: corev1.DNSClusterFirstWithHostNet},
			"search web.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\noptions ndots:5\n"},
		{"dnsConfig merges", corev1.PodSpec{DNSConfig: &corev1.PodDNSConfig{
			Nameservers: []string{"1.1.1.1"}, Searches: []string{"example.com", "svc.cluster.local"},
			Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &ndots}, {Name: "edns0"}},
		}}, "search web.svc.cluster.local svc.cluster.local cluster.local corp.example example.com\nnameserver 10.96.0.10\nnameserver 1.1.1.1\noptions ndots:2 edns0\n"},
		{"none uses dnsConfig only", corev1.PodSpec{DNSPolicy: corev1.DNSNone, DNSConfig: &corev1.PodDNSConfig{Nameservers: []string{"9.9.9.9"}}},
			"nameserver 9.9.9.9\n"},
		{"default merges dnsConfig into the host's", corev1.PodSpec{DNSPolicy: corev1.DNSDefault, DNSConfig: &corev1.PodDNSConfig{
			Nameservers: []string{"9.9.9.9"}, Searches: []string{"pod.example"}}},
			"search corp.example pod.example\nnameserver 192.0.2.53\nnameserver 9.9.9.9\noptions rotate\n"},
		{"at most three nameservers", corev1.PodSpec{DNSConfig: &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1", "8.8.8.8", "9.9.9.9"}}},
			"search web.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\nnameserver 1.1.1.1\nnameserver 8.8.8.8\noptions ndots:5\n"},
	}
	host := parseResolvConf([]byte("# host\nnameserver 192.0.2.53\nsearch corp.example\noptions rotate\n"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "web"}, Spec: tt.spec}
			if diff := cmp.Diff(tt.want, string(resolvConf(pod, dns, "cluster.local", host))); diff != "" {
				t.Errorf("resolv.conf (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCapSearch(t *testing.T) {
	many := make([]string, 40)
	for i := range many {
		many[i] = "d.example"
	}
	if got := capSearch(many); len(got) != maxDNSSearches {
		t.Errorf("capSearch kept %d of 40 domains, want %d", len(got), maxDNSSearches)
	}
	long := []string{strings.Repeat("a", 1500), strings.Repeat("b", 600), "c"}
	if got := capSearch(long); len(got) != 1 {
		t.Errorf("capSearch kept %d domains over 2048 characters, want 1", len(got))
	}
}

func TestHostsFile(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "shop"}, Spec: corev1.PodSpec{
		Hostname: "db", Subdomain: "backend",
		HostAliases: []corev1.HostAlias{{IP: "10.1.2.3", Hostnames: []string{"foo.local", "bar.local"}}},
	}}
	want := "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n" +
		"10.244.0.7\tdb.backend.shop.svc.cluster.local\tdb\n" +
		"\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n"
	if diff := cmp.Diff(want, string(hostsFile(pod, netip.MustParseAddr("10.244.0.7"), "cluster.local"))); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}
	pod.Spec = corev1.PodSpec{}
	if got := string(hostsFile(pod, netip.MustParseAddr("10.244.0.7"), "cluster.local")); got[len(got)-len("10.244.0.7\tweb-0\n"):] != "10.244.0.7\tweb-0\n" {
		t.Errorf("hosts without hostname ends with %q", got)
	}
	pod.Spec.HostNetwork = true
	if got := hostsFile(pod, netip.Addr{}, "cluster.local"); got != nil {
		t.Errorf("host network pod gets hosts %q, want nil", got)
	}
}
