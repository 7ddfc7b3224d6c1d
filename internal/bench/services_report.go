package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// WriteJSON writes the result to path, creating its directory.
func (r *ServicesResult) WriteJSON(path string) error { return writeJSON(path, r) }

// find returns the summary row of path at n services.
func (r *ServicesResult) find(path string, n int) (PathResult, bool) {
	for _, s := range r.Summary {
		if s.Path == path && s.Services == n {
			return s, true
		}
	}
	return PathResult{}, false
}

// counts lists the service counts of the summary, in order.
func (r *ServicesResult) counts() []int {
	var ns []int
	for _, s := range r.Summary {
		if !slices.Contains(ns, s.Services) {
			ns = append(ns, s.Services)
		}
	}
	return ns
}

// WriteTable prints the summary as Markdown tables (readable on a
// terminal, pasteable into BENCHMARKS.md).
func (r *ServicesResult) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "\nservice routing, pod → service → pod on one node: %d endpoints per service over %d server pods; "+
		"%s per test, %d connections for req/s and conn/s; medians of %d run(s)\n",
		r.Endpoints, r.Servers, r.Duration, r.Concurrency, len(r.Runs))
	fmt.Fprintf(w, "CPU = usage_usec of the cgroup holding the servers and the load generator (kernel work included); "+
		"%d CPUs, load at start %s, kernel %s, bridge-nf-call-iptables=%s\n", r.CPUs, r.LoadAvg, r.Kernel, r.BrNetfilter)
	if r.Command != "" {
		fmt.Fprintf(w, "command: `%s`\n", r.Command)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| services | path | 1 stream Gbit/s | 4 streams Gbit/s | keep-alive req/s | µs CPU/req | req p50 / p99 µs | new conn/s | µs CPU/conn | conn p50 / p99 µs | conn/s vs direct | CPU/conn vs direct |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, s := range r.Summary {
		if s.Error != "" {
			fmt.Fprintf(w, "| %d | %s | failed: %s |||||||||\n", s.Services, s.Path, oneLine(s.Error))
			continue
		}
		t := s.Tests
		cell := func(test string, f func(Figures) string) string {
			x, ok := t[test]
			if !ok {
				return "-"
			}
			return f(x)
		}
		gbps := func(x Figures) string { return fmt.Sprintf("%.2f", x.Rate) }
		rate := func(x Figures) string { return fmt.Sprintf("%.0f", x.Rate) }
		cpu := func(x Figures) string { return fmt.Sprintf("%.1f", x.CPUUs) }
		lat := func(x Figures) string { return fmt.Sprintf("%.0f / %.0f", x.P50Us, x.P99Us) }
		connRatio, cpuRatio := "-", "-"
		if d, ok := r.find("direct", s.Services); ok && d.Error == "" {
			if a, b := t[TestConn], d.Tests[TestConn]; b.Rate > 0 && a.Rate > 0 {
				connRatio = fmt.Sprintf("%.2f", a.Rate/b.Rate)
				cpuRatio = fmt.Sprintf("%.2f", a.CPUUs/b.CPUUs)
			}
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s.Services, s.Path,
			cell(TestStream1, gbps), cell(TestStream4, gbps), cell(TestRR, rate), cell(TestRR, cpu), cell(TestRR, lat),
			cell(TestConn, rate), cell(TestConn, cpu), cell(TestConn, lat), connRatio, cpuRatio)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| services | path | program all services from nothing | one endpoint change with all present |")
	fmt.Fprintln(w, "|---:|---|---:|---:|")
	for _, s := range r.Summary {
		if s.Path == "direct" {
			continue
		}
		if s.Error != "" {
			fmt.Fprintf(w, "| %d | %s | %s | - |\n", s.Services, s.Path, oneLine(s.Error))
			continue
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s (median of %d) |\n", s.Services, s.Path, fmtMs(s.ProgramMs), fmtMs(s.ChangeMs), s.ChangeN)
	}
	var paths []string
	for p := range r.Notes {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		fmt.Fprintf(w, "\n%s: %s", p, r.Notes[p])
	}
	fmt.Fprintln(w)
}

func fmtMs(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.1f s", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	default:
		return fmt.Sprintf("%.1f ms", v)
	}
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return strings.ReplaceAll(s, "|", "/")
}
