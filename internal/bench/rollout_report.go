package bench

import (
	"fmt"
	"io"
	"strings"
)

// WriteJSON writes the result to path.
func (r *RolloutResult) WriteJSON(path string) error { return writeJSON(path, r) }

// WriteTable prints the per-target figures side by side.
func (r *RolloutResult) WriteTable(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "bench rollout: %d replicas (%s), rolled %d times, --lb %s; per target %d kept-alive connections every %v + %.0f new connections/s\n",
		o.Replicas, o.Workload, o.Rollouts, o.LB, o.Hold, o.Interval, o.Rate)
	fmt.Fprintf(w, "pods drain %v after SIGTERM (--delay-shutdown), preStop sleep %v; load average before: %s\n", o.Drain, o.PreStop, r.Load)
	fmt.Fprintf(w, "time per rollout: median %.1fs (%s)\n", r.MedianSecs, joinFloats(r.RolloutSecs))
	if r.NginxVersion != "" {
		fmt.Fprintf(w, "nginx %s reloaded %d times from the EndpointSlices\n", r.NginxVersion, r.NginxReloads)
	}
	fmt.Fprintf(w, "%-26s %10s %8s %9s %10s %10s %8s %9s\n", "target", "requests", "failed", "failed %", "p50 before", "p99 before", "p99 during", "ratio")
	for _, t := range r.Targets {
		total := 0
		for _, d := range t.During {
			total += d.Requests
		}
		pct := 0.0
		if total > 0 {
			pct = 100 * float64(t.Failed) / float64(total)
		}
		fmt.Fprintf(w, "%-26s %10d %8d %8.3f%% %8.2fms %8.2fms %8.2fms %8.2fx\n", t.Name, total, t.Failed, pct, t.Before.P50, t.Before.P99, t.DuringP99, t.P99Ratio)
	}
	for _, t := range r.Targets {
		if len(t.Errors) > 0 {
			fmt.Fprintf(w, "%s, first failures:\n  %s\n", t.Name, strings.Join(t.Errors, "\n  "))
		}
	}
}

func joinFloats(fs []float64) string {
	var s []string
	for _, f := range fs {
		s = append(s, fmt.Sprintf("%.1fs", f))
	}
	return strings.Join(s, ", ")
}
