package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// median of one figure over the runs of path/test.
func (r *OverlayResult) median(path, test string, fig func(OverlayFigure) float64) (float64, bool) {
	var vs []float64
	for _, f := range r.Figures {
		if f.Path == path && f.Test == test {
			vs = append(vs, fig(f))
		}
	}
	if len(vs) == 0 {
		return 0, false
	}
	return MedianOf(vs), true
}

// WriteTable prints the medians, each with its ratio to the underlay
// (and, for the ClusterIP paths, to pod-to-pod on the same overlay).
func (r *OverlayResult) WriteTable(w io.Writer) {
	runs := 0
	for _, f := range r.Figures {
		runs = max(runs, f.Run+1)
	}
	fmt.Fprintf(w, "\n### bench overlay — %s, %d CPUs, medians of %d runs\n\n", r.Started.Format("2006-01-02 15:04 UTC"), r.CPUs, runs)
	if r.Command != "" {
		fmt.Fprintf(w, "`%s`\n\n", r.Command)
	}
	fmt.Fprintf(w, "Pod MTU: route %d, vxlan %d (underlay 1500). Load generator pinned to CPU 0, servers to CPU 1; CPU = the cgroup of both.\n\n", r.MTURoute, r.MTUVXLAN)
	fmt.Fprintln(w, "| path | keep-alive req/s | × underlay | µs CPU/req | new conn/s | × underlay | µs CPU/conn | 1 stream Gbit/s | × underlay | µs CPU/MB |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	ops := func(f OverlayFigure) float64 { return f.OpsPerSec }
	gbps := func(f OverlayFigure) float64 { return f.Gbps }
	cpu := func(f OverlayFigure) float64 { return f.CPUUsPerOp }
	for _, p := range OverlayPaths {
		if _, ok := r.median(p, "rr", ops); !ok {
			continue
		}
		row := "| " + p
		for _, t := range []struct {
			test string
			fig  func(OverlayFigure) float64
			unit string
		}{{"rr", ops, "%.0f"}, {"conn", ops, "%.0f"}, {"bulk", gbps, "%.2f"}} {
			v, _ := r.median(p, t.test, t.fig)
			base, _ := r.median(PathUnderlay, t.test, t.fig)
			c, _ := r.median(p, t.test, cpu)
			ratio := "–"
			if base > 0 {
				ratio = fmt.Sprintf("%.2f", v/base)
			}
			row += " | " + fmt.Sprintf(t.unit, v) + " | " + ratio + " | " + fmt.Sprintf("%.1f", c)
		}
		fmt.Fprintln(w, row+" |")
	}
	fmt.Fprintln(w, "\nCPU time per operation (cgroup of load generator and servers) relative to the underlay's — the steadier figure on a shared machine; its inverse is the efficiency:")
	fmt.Fprintln(w, "\n| path | CPU/req × underlay | CPU/conn × underlay | CPU/MB × underlay |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, p := range OverlayPaths {
		if _, ok := r.median(p, "rr", cpu); !ok {
			continue
		}
		row := "| " + p
		for _, test := range []string{"rr", "conn", "bulk"} {
			v, _ := r.median(p, test, cpu)
			base, _ := r.median(PathUnderlay, test, cpu)
			if base > 0 {
				row += fmt.Sprintf(" | %.2f", v/base)
			} else {
				row += " | –"
			}
		}
		fmt.Fprintln(w, row+" |")
	}
	for _, pair := range [][2]string{{PathClusterRoute, PathRoute}, {PathClusterVXLAN, PathVXLAN}} {
		var parts []string
		for _, t := range []struct {
			test string
			fig  func(OverlayFigure) float64
		}{{"rr", ops}, {"conn", ops}, {"bulk", gbps}} {
			a, ok1 := r.median(pair[0], t.test, t.fig)
			b, ok2 := r.median(pair[1], t.test, t.fig)
			ca, _ := r.median(pair[0], t.test, cpu)
			cb, _ := r.median(pair[1], t.test, cpu)
			if ok1 && ok2 && b > 0 && cb > 0 {
				parts = append(parts, fmt.Sprintf("%s rate %.3f, CPU/op %.3f", t.test, a/b, ca/cb))
			}
		}
		if len(parts) > 0 {
			fmt.Fprintf(w, "\n%s ÷ %s: %v", pair[0], pair[1], parts)
		}
	}
	fmt.Fprintln(w)
	for p, why := range r.Skipped {
		fmt.Fprintf(w, "\n%s skipped: %s\n", p, why)
	}
	if len(r.ChangeMs) > 0 {
		s := Summarize(msDurations(r.ChangeMs))
		fmt.Fprintf(w, "\nNode IP change → the other node's FDB entry replaced (vxlan): median %.1f ms, max %.1f ms (%d changes)\n",
			s.Median, s.Max, s.N)
	}
}

func msDurations(ms []float64) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, v := range ms {
		out[i] = time.Duration(v * float64(time.Millisecond))
	}
	return out
}

// WriteJSON writes the result to path, creating its directory.
func (r *OverlayResult) WriteJSON(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
