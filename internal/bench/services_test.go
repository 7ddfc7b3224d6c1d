package bench

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// childEnv makes the test binary act as a `bench services` child process
// (server or load generator) instead of running the tests.
const childEnv = "SWITCHYARD_BENCH_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		ctx, stop := signalContext()
		defer stop()
		if err := ChildMain(ctx, os.Args[1:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var update = os.Getenv("UPDATE_GOLDEN") == "1"

func TestIptablesRulesetGolden(t *testing.T) {
	servers := []netip.Addr{netip.MustParseAddr("10.244.1.10"), netip.MustParseAddr("10.244.1.11"), netip.MustParseAddr("10.244.1.12")}
	svcs := synthServices(2, 3, servers)
	g := iptRuleset{clusterCIDR: svcClusterCIDR}
	changed := withChangedEndpoint(svcs, 1, true, svcs[1].Endpoints[0])
	tests := []struct {
		name string
		got  []byte
	}{
		{"iptables-full.golden", g.Full(svcs)},
		{"iptables-partial.golden", g.Partial(changed, []int{1}, staleChains(&svcs[1], &changed[1]))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "testdata/" + tt.name
			if update {
				if err := os.WriteFile(path, tt.got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (UPDATE_GOLDEN=1 writes it)", err)
			}
			if d := cmp.Diff(string(want), string(tt.got)); d != "" {
				t.Errorf("ruleset differs from %s (-want +got):\n%s", path, d)
			}
		})
	}
}

func TestIptablesLargeClusterDropsEndpointComments(t *testing.T) {
	servers := []netip.Addr{netip.MustParseAddr("10.244.1.10")}
	small := string(iptRuleset{clusterCIDR: svcClusterCIDR}.Full(synthServices(10, 1, servers)))
	large := string(iptRuleset{clusterCIDR: svcClusterCIDR}.Full(synthServices(1001, 1, servers)))
	if !strings.Contains(small, `--comment "bench/svc-000000:http -> 10.244.1.10:8080"`) {
		t.Error("small ruleset lacks the endpoint comment")
	}
	if strings.Contains(large, " -> 10.244.1.10:8080") {
		t.Error("ruleset above 1000 endpoints keeps endpoint comments (kube-proxy's large cluster mode drops them)")
	}
	if got := strings.Count(large, "-A KUBE-SERVICES "); got != 1002 {
		t.Errorf("KUBE-SERVICES has %d rules, want 1001 services + the nodeports jump", got)
	}
}

func TestIptProbability(t *testing.T) {
	for n, want := range map[int]string{5: "0.2000000000", 4: "0.2500000000", 3: "0.3333333333", 2: "0.5000000000"} {
		if got := iptProbability(n); got != want {
			t.Errorf("iptProbability(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestTargetIndexes(t *testing.T) {
	tests := []struct {
		n, k int
		want []int
	}{
		{1, 8, []int{0}},
		{3, 8, []int{0, 1, 2}},
		{1000, 5, []int{0, 249, 499, 749, 999}},
		{2, 1, []int{1}},
	}
	for _, tt := range tests {
		if got := targetIndexes(tt.n, tt.k); !cmp.Equal(got, tt.want) {
			t.Errorf("targetIndexes(%d, %d) = %v, want %v", tt.n, tt.k, got, tt.want)
		}
	}
}

func TestSynthServices(t *testing.T) {
	servers := []netip.Addr{netip.MustParseAddr("10.244.1.10"), netip.MustParseAddr("10.244.1.11")}
	svcs := synthServices(50000, 2, servers)
	seen := map[netip.Addr]bool{}
	for _, s := range svcs {
		if !svcServiceCIDR.Contains(s.ClusterIP) || seen[s.ClusterIP] {
			t.Fatalf("%s: ClusterIP %s outside %s or repeated", s.Name, s.ClusterIP, svcServiceCIDR)
		}
		seen[s.ClusterIP] = true
	}
	if svcs[1].Endpoints[0].Addr() != servers[1] || svcs[1].Endpoints[1].Addr() != servers[0] {
		t.Errorf("endpoints not cycled: %v", svcs[1].Endpoints)
	}
}

func TestParseUsage(t *testing.T) {
	got, err := parseUsage([]byte("usage_usec 123456\nuser_usec 100\nsystem_usec 23456\n"))
	if err != nil || got != 123456 {
		t.Errorf("parseUsage = %d, %v", got, err)
	}
	if _, err := parseUsage([]byte("user_usec 1\n")); err == nil {
		t.Error("parseUsage without usage_usec: no error")
	}
}

func FuzzContentLength(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 64\r\nDate: x")
	f.Add("HTTP/1.1 200 OK\r\ncontent-length:-1")
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999")
	f.Fuzz(func(t *testing.T, hdr string) {
		if n, err := contentLength([]byte(hdr)); err == nil && n < 0 {
			t.Errorf("negative Content-Length %d accepted", n)
		}
	})
}

// TestRoundTrip drives the HTTP client of the load generator against a
// netexec server over loopback.
func TestRoundTrip(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	errc := make(chan error, 1)
	go func() {
		errc <- ChildMain(ctx, []string{"serve", "--port", strings.Split(addr, ":")[1], "--response-size", "64", "--hostname", "x"}, nil)
	}()
	for _, mode := range []string{ModeRR, ModeConn, ModeStream} {
		t.Run(mode, func(t *testing.T) {
			var r LoadResult
			var err error
			for range 50 { // until the server listens
				r, err = RunLoad(ctx, LoadSpec{Mode: mode, Targets: []string{addr}, Conns: 2,
					Duration: 200 * time.Millisecond, Warmup: 50 * time.Millisecond, StreamSize: 1 << 20})
				if err == nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				t.Fatal(err)
			}
			want := int64(64)
			if mode == ModeStream {
				want = 1 << 20
			}
			if r.Ops == 0 || r.Bytes != r.Ops*want || r.Errors != 0 {
				t.Errorf("%s: %+v, want ops > 0 of %d bytes and no errors", mode, r, want)
			}
			if mode != ModeStream && (r.P50Us <= 0 || r.P99Us < r.P50Us) {
				t.Errorf("%s: latencies p50 %v p99 %v", mode, r.P50Us, r.P99Us)
			}
		})
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("server: %v", err)
	}
}

// TestServicesSmoke runs the harness at one service, one short run, and
// checks that the direct and the iptables paths both carry traffic.
func TestServicesSmoke(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bench services: privileged test needs root (network namespaces, cgroups); run it with sudo")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	prefix := "sybt-" + sandbox.UniqueSuffix()
	o := ServicesOptions{Services: []int{1}, Endpoints: 2, Runs: 1, Duration: 300 * time.Millisecond, StreamSize: 1 << 20,
		Warmup: 100 * time.Millisecond, Concurrency: 4, Changes: 2, Prefix: prefix,
		Exec: []string{os.Args[0]}, Env: []string{childEnv + "=1"}, Log: testLog{t}}
	res, err := RunServices(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"direct", "iptables"} {
		s, ok := res.find(path, 1)
		if !ok || s.Error != "" {
			t.Fatalf("%s: missing or failed: %+v", path, s)
		}
		for _, test := range AllTests {
			f := s.Tests[test]
			if f.Rate <= 0 || f.Ops == 0 || f.CPUUs <= 0 {
				t.Errorf("%s %s carried no traffic or no CPU was counted: %+v", path, test, f)
			}
		}
		if path == "iptables" && (s.ProgramMs <= 0 || s.ChangeN != 2) {
			t.Errorf("iptables programming not timed: %+v", s)
		}
	}
	var sb strings.Builder
	res.WriteTable(&sb)
	t.Log(sb.String())
	if paths, _ := os.ReadDir(sandbox.NetNSDir); true {
		for _, p := range paths {
			if strings.HasPrefix(p.Name(), prefix) {
				t.Errorf("namespace %s left behind", p.Name())
			}
		}
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestWriteTable(t *testing.T) {
	res := &ServicesResult{Runs: make([][]PathResult, 1), Notes: map[string]string{"iptables": "iptables-restore v1.8.9 (nf_tables)"},
		Summary: []PathResult{
			{Path: "direct", Services: 1000, Tests: map[string]Figures{TestConn: {Rate: 6000, CPUUs: 200, P50Us: 900, P99Us: 4000}}},
			{Path: "iptables", Services: 1000, ProgramMs: 2030, ChangeMs: 148, ChangeN: 5,
				Tests: map[string]Figures{TestConn: {Rate: 3000, CPUUs: 300}}},
			{Path: "iptables", Services: 10000, Error: "not measured: programming 10000 services took over 3m0s"},
		}}
	var b strings.Builder
	res.WriteTable(&b)
	out := b.String()
	for _, want := range []string{
		"| 1000 | direct | - | - | - | - | - | 6000 | 200.0 | 900 / 4000 | 1.00 | 1.00 |",
		"| 1000 | iptables | - | - | - | - | - | 3000 | 300.0 | 0 / 0 | 0.50 | 1.50 |",
		"| 1000 | iptables | 2030 ms | 148 ms (median of 5) |",
		"| 10000 | iptables | not measured: programming 10000 services took over 3m0s | - |",
		"iptables: iptables-restore v1.8.9 (nf_tables)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
