package main

// The server process of `switchyard bench dns` (bench dns serve): the
// real DNS server and index over the benchmark cluster. It lives here, not
// in internal/bench, because internal sits below the components.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/switchyard-net/switchyard/dns"
	"github.com/switchyard-net/switchyard/dns/index"
	"github.com/switchyard-net/switchyard/internal/bench"
)

// serveBenchDNS runs switchyard's DNS server on addr over the benchmark
// cluster (fed to the index as Namespace and Service objects), forwarding
// to upstream, until ctx ends. It is configured as the node daemon
// configures it: loop probe on, metrics registered (and served on
// metricsAddr when valid, as the daemon serves them). It writes "ready" to
// ready once it serves.
func serveBenchDNS(ctx context.Context, addr netip.AddrPort, names int, upstream, metricsAddr netip.AddrPort, ready io.Writer) error {
	ix, err := index.New(index.Config{Zone: bench.Zone, TTL: 5, DNSIP: netip.MustParseAddr("10.96.0.10"),
		Reverse: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")}})
	if err != nil {
		return err
	}
	ix.UpsertNamespace("default")
	for i := range names {
		ix.UpsertService(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("svc-%d", i)},
			Spec: corev1.ServiceSpec{ClusterIP: bench.ServiceIP(i).String()}})
	}
	ix.SetSynced()
	var ups []netip.AddrPort
	if upstream.IsValid() {
		ups = []netip.AddrPort{upstream}
	}
	reg := prometheus.NewRegistry()
	s, err := dns.New(dns.Config{Addr: addr, Index: ix, Upstreams: ups, LoopProbe: true, Registry: reg})
	if err != nil {
		return err
	}
	if metricsAddr.IsValid() {
		go serveMetrics(ctx, metricsAddr.String(), reg, slog.New(slog.DiscardHandler))
	}
	if err := s.Listen(); err != nil {
		return err
	}
	fmt.Fprintln(ready, "ready")
	return s.Serve(ctx)
}
