// Package nodemetrics measures the CPU and memory of a node and of its
// pods, as the kubelet does for metrics-server, and serves the figures as
// the kubelet's summary document (GET /stats/summary, the JSON of
// k8s.io/kubelet/pkg/apis/stats/v1alpha1) from an [http.Handler] that the
// node's HTTPS server mounts. The API server reads it to answer
// metrics.k8s.io (kubectl top).
//
// # What is measured
//
// Everything comes from cgroup v2, like cAdvisor's figures that
// metrics-server reports:
//
//   - CPU is a rate: the difference of cpu.stat's usage_usec between the
//     [Sampler]'s last two samples divided by the time between them (the
//     window, Config.Interval). A cgroup seen only once has no rate yet and
//     is left out, as metrics-server leaves out pods scraped once.
//   - Memory is the working set: memory.current minus memory.stat's
//     inactive_file (page cache the kernel may drop at once). Where the
//     memory controller is not enabled for the cgroup (hybrid hosts keep it
//     on cgroup v1, so memory.current does not exist), it is the sum of the
//     proportional set size (Pss in /proc/PID/smaps_rollup) of the
//     cgroup's processes: their resident memory, shared pages divided
//     among the processes sharing them, without page cache.
//
// # The node
//
// The node is its cgroup, Config.CgroupRoot (the daemon's --cgroup): the
// daemon, its pods and whatever else runs there. When that is the root of
// the hierarchy (the default, a real machine) the figures are the whole
// machine's, as the kubelet reports its root cgroup: the root's cpu.stat
// counts all CPU time, and its memory is /proc/meminfo's MemTotal - MemFree
// - Inactive(file). A sandbox node (a cgroup of its own) reports that
// cgroup only, so several sandbox nodes on one host do not all report the
// host.
//
// # Pods
//
// Pods are the children sy-pod-<uid> of CgroupRoot, each container the
// leaf sy-pod-<uid>/<container> (see package runner). Config.PodRef names
// them (namespace, name) when it knows the UID; the API server joins by
// UID in any case.
package nodemetrics
