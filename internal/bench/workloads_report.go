package bench

import (
	"fmt"
	"io"
)

// The peer: Kubernetes' published scalability SLOs
// (kubernetes/community, sig-scalability/slos/slos.md): API call latency
// p99 ≤ 1 s for mutating single-object calls and ≤ 30 s for LIST calls
// at cluster scope (≤ 5 s namespace scope); pod startup latency p99 ≤ 5 s
// excluding image pull, measured from pod creation to Ready seen by a
// watch. They are thresholds a cluster of up to 5,000 nodes must meet,
// not measurements of a particular cluster.
const (
	sloSource        = "kubernetes/community sig-scalability/slos/slos.md"
	sloMutatingP99Ms = 1000
	sloListClusterMs = 30000
	sloPodStartupP99 = 5000
	workloadsPodSpec = "`sleep 3600`, no readiness probe (Ready once started), terminationGracePeriodSeconds 0"
)

// summarizeWorkloads takes, figure by figure, the median over the runs
// (of their medians and of their p99s).
func summarizeWorkloads(runs []WorkloadsRun) WorkloadsRun {
	var s WorkloadsRun
	if len(runs) == 0 {
		return s
	}
	f := func(get func(WorkloadsRun) float64) float64 { return medianBy(runs, get) }
	st := func(get func(WorkloadsRun) Stats) Stats {
		n := 0
		for _, r := range runs {
			n += get(r).N
		}
		return Stats{N: n,
			Median: f(func(r WorkloadsRun) float64 { return get(r).Median }),
			P99:    f(func(r WorkloadsRun) float64 { return get(r).P99 }),
			Mean:   f(func(r WorkloadsRun) float64 { return get(r).Mean }),
			Max:    f(func(r WorkloadsRun) float64 { return get(r).Max })}
	}
	s.ReadyMs = f(func(r WorkloadsRun) float64 { return r.ReadyMs })
	s.GoneMs = f(func(r WorkloadsRun) float64 { return r.GoneMs })
	s.ProcsGoneMs = f(func(r WorkloadsRun) float64 { return r.ProcsGoneMs })
	s.PodStartup = st(func(r WorkloadsRun) Stats { return r.PodStartup })
	s.DaemonCPUSec = f(func(r WorkloadsRun) float64 { return r.DaemonCPUSec })
	s.DaemonUserSec = f(func(r WorkloadsRun) float64 { return r.DaemonUserSec })
	s.DaemonSysSec = f(func(r WorkloadsRun) float64 { return r.DaemonSysSec })
	s.DaemonCPUDeleteSec = f(func(r WorkloadsRun) float64 { return r.DaemonCPUDeleteSec })
	s.RSSIdleMiB = f(func(r WorkloadsRun) float64 { return r.RSSIdleMiB })
	s.RSSPeakMiB = f(func(r WorkloadsRun) float64 { return r.RSSPeakMiB })
	s.RSSHWMMiB = f(func(r WorkloadsRun) float64 { return r.RSSHWMMiB })
	s.List = st(func(r WorkloadsRun) Stats { return r.List })
	s.Mutate = st(func(r WorkloadsRun) Stats { return r.Mutate })
	s.Watch = st(func(r WorkloadsRun) Stats { return r.Watch })
	for _, r := range runs {
		s.APIErrors += r.APIErrors
		if s.FirstAPIError == "" {
			s.FirstAPIError = r.FirstAPIError
		}
	}
	return s
}

// WriteJSON writes the result to path, creating its directory.
func (r *WorkloadsResult) WriteJSON(path string) error { return writeJSON(path, r) }

// WriteTable prints the summary beside the Kubernetes SLOs.
func (r *WorkloadsResult) WriteTable(w io.Writer) {
	s := r.Summary
	fmt.Fprintf(w, "\nworkloads: %d pods in %d Deployments on one node (--node-cidr-mask %d), created from nothing to all Ready, then deleted; %d run(s), medians over runs\n",
		r.Pods, r.Deployments, r.NodeCIDRMask, len(r.Runs))
	fmt.Fprintf(w, "pod: %s\n", workloadsPodSpec)
	fmt.Fprintf(w, "%-44s %-26s %s\n", "figure", "switchyard", "Kubernetes SLO (threshold)")
	row := func(name, v, slo string) { fmt.Fprintf(w, "%-44s %-26s %s\n", name, v, slo) }
	row("first create → all pods Ready", fmt.Sprintf("%.1f s", s.ReadyMs/1000), "-")
	row("pod startup (watch: first seen → Ready)", fmt.Sprintf("%.0f / p99 %.0f ms", s.PodStartup.Median, s.PodStartup.P99), fmt.Sprintf("p99 ≤ %d ms", sloPodStartupP99))
	row(fmt.Sprintf("LIST pods, all namespaces (every %.0f ms)", r.ListEveryMs), fmt.Sprintf("%.1f / p99 %.1f ms", s.List.Median, s.List.P99), fmt.Sprintf("p99 ≤ %d ms (cluster scope)", sloListClusterMs))
	row(fmt.Sprintf("UPDATE one object (every %.0f ms)", r.ProbeEveryMs), fmt.Sprintf("%.1f / p99 %.1f ms", s.Mutate.Median, s.Mutate.P99), fmt.Sprintf("p99 ≤ %d ms (mutating)", sloMutatingP99Ms))
	row("watch delivery (update sent → event)", fmt.Sprintf("%.1f / p99 %.1f ms", s.Watch.Median, s.Watch.P99), "no SLO")
	row("daemon CPU, ramp up (user + system)", fmt.Sprintf("%.1f s (%.1f + %.1f)", s.DaemonCPUSec, s.DaemonUserSec, s.DaemonSysSec), "-")
	if s.ReadyMs > 0 {
		row("  = cores busy on average", fmt.Sprintf("%.2f of %d", s.DaemonCPUSec/(s.ReadyMs/1000), r.CPUs), "-")
	}
	row("daemon RSS: idle / peak (sampled) / VmHWM", fmt.Sprintf("%.0f / %.0f / %.0f MiB", s.RSSIdleMiB, s.RSSPeakMiB, s.RSSHWMMiB), "-")
	row("delete Deployments → no pod in the API", fmt.Sprintf("%.1f s", s.GoneMs/1000), "-")
	row("delete Deployments → no pod process left", fmt.Sprintf("%.1f s", s.ProcsGoneMs/1000), "-")
	row("daemon CPU, teardown", fmt.Sprintf("%.1f s", s.DaemonCPUDeleteSec), "-")
	if s.APIErrors > 0 {
		fmt.Fprintf(w, "API probe errors: %d (first: %s)\n", s.APIErrors, s.FirstAPIError)
	}
	fmt.Fprintf(w, "SLOs: %s — thresholds for clusters up to 5,000 nodes, not a measured peer.\n", sloSource)
	fmt.Fprintf(w, "daemon = API server + etcd + controllers + node agent in one process; CPU from its cgroup, pods' processes not counted. %d cores shared with the harness and the pods (load at start %s)\n",
		r.CPUs, r.LoadAvg)
}
