package bench

import (
	"fmt"
	"io"
	"strings"
)

// IngressBackends parses a comma-separated list.
func IngressBackends(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// WriteJSON writes the result to path (directories created).
func (r *IngressResult) WriteJSON(path string) error { return writeJSON(path, r) }

// WriteTable prints the medians side by side.
func (r *IngressResult) WriteTable(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "ingress proxy: switchyard (%s engine) vs %s — %d netexec backends, %d-byte responses, %d runs of %s, proxies on CPU %q, wrk (-t%d) + backends on CPU %q; load before: %s\n",
		o.Engine, r.NginxVersion, o.Backends, o.ResponseSize, o.Runs, o.Duration, o.ProxyCPU, o.Threads, o.LoadCPU, r.Load)
	fmt.Fprintf(w, "%-32s %12s %12s %7s %9s %9s %9s %9s %10s %10s %7s\n", "scenario", "sy req/s", "nginx req/s", "ratio",
		"sy p50", "nginx p50", "sy p99", "nginx p99", "sy µs/req", "ng µs/req", "errors")
	for _, row := range r.Rows {
		s, n := row.Switchyard, row.Nginx
		ratio := 0.0
		if n.RPS > 0 {
			ratio = s.RPS / n.RPS
		}
		fmt.Fprintf(w, "%-32s %12.0f %12.0f %6.2fx %7.2fms %7.2fms %7.2fms %7.2fms %10.1f %10.1f %3d/%-3d\n",
			row.Scenario.Name, s.RPS, n.RPS, ratio, s.P50, n.P50, s.P99, n.P99, s.CPUus, n.CPUus, s.Errors, n.Errors)
	}
}
