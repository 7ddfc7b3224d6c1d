package nodemetrics

import (
	"cmp"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// Summary returns the kubelet summary of the last two samples and the
// window the CPU rates were measured over. Before two samples the CPU
// entries carry no rate (UsageNanoCores nil) and window is 0; before any
// sample ok is false.
func (s *Sampler) Summary() (sum *statsv1alpha1.Summary, window time.Duration, ok bool) {
	s.mu.Lock()
	prev, cur := s.prev, s.cur
	s.mu.Unlock()
	if cur == nil {
		return nil, 0, false
	}
	if prev != nil {
		window = cur.at.Sub(prev.at)
	}
	at := metav1.NewTime(cur.at)
	sum = &statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{
		NodeName:  s.cfg.NodeName,
		StartTime: metav1.NewTime(s.start),
	}}
	var prevNode *usage
	if prev != nil {
		prevNode = &prev.node
	}
	sum.Node.CPU, sum.Node.Memory = stats(at, window, cur.node, prevNode)
	for uid, p := range cur.pods {
		sum.Pods = append(sum.Pods, s.podStats(at, window, uid, p, prev))
	}
	slices.SortFunc(sum.Pods, func(a, b statsv1alpha1.PodStats) int {
		return cmp.Or(cmp.Compare(a.PodRef.Namespace, b.PodRef.Namespace),
			cmp.Compare(a.PodRef.Name, b.PodRef.Name), cmp.Compare(a.PodRef.UID, b.PodRef.UID))
	})
	return sum, window, true
}

func (s *Sampler) podStats(at metav1.Time, window time.Duration, uid types.UID, p podSample, prev *sample) statsv1alpha1.PodStats {
	ps := statsv1alpha1.PodStats{PodRef: statsv1alpha1.PodReference{UID: string(uid)}}
	if s.cfg.PodRef != nil {
		ps.PodRef.Namespace, ps.PodRef.Name, _ = s.cfg.PodRef(uid)
	}
	var before *podSample
	if prev != nil {
		if b, ok := prev.pods[uid]; ok {
			before = &b
		}
	}
	var beforeUsage *usage
	if before != nil {
		beforeUsage = &before.usage
	}
	ps.CPU, ps.Memory = stats(at, window, p.usage, beforeUsage)
	for name, c := range p.containers {
		cs := statsv1alpha1.ContainerStats{Name: name}
		var bc *usage
		if before != nil {
			if u, ok := before.containers[name]; ok {
				bc = &u
			}
		}
		cs.CPU, cs.Memory = stats(at, window, c, bc)
		ps.Containers = append(ps.Containers, cs)
	}
	slices.SortFunc(ps.Containers, func(a, b statsv1alpha1.ContainerStats) int { return cmp.Compare(a.Name, b.Name) })
	return ps
}

// stats converts one cgroup's usage at the end of the window, with its
// usage at the start (nil: not seen then), to the kubelet's types.
func stats(at metav1.Time, window time.Duration, u usage, before *usage) (*statsv1alpha1.CPUStats, *statsv1alpha1.MemoryStats) {
	total := u.cpuUsec * 1000
	cpu := &statsv1alpha1.CPUStats{Time: at, UsageCoreNanoSeconds: &total}
	if before != nil {
		if rate, ok := cpuRate(before.cpuUsec, u.cpuUsec, window); ok {
			cpu.UsageNanoCores = &rate
		}
	}
	var mem *statsv1alpha1.MemoryStats
	if u.memOK {
		ws := u.workingSet
		mem = &statsv1alpha1.MemoryStats{Time: at, WorkingSetBytes: &ws}
	}
	return cpu, mem
}

// cpuRate is the CPU used between two readings of usage_usec taken window
// apart, in nanocores (1e9 = one CPU busy all the time). ok is false
// without a window or when the counter went back (the cgroup was
// recreated), as metrics-server drops such points.
func cpuRate(beforeUsec, afterUsec uint64, window time.Duration) (nanoCores uint64, ok bool) {
	if window <= 0 || afterUsec < beforeUsec {
		return 0, false
	}
	return uint64(float64(afterUsec-beforeUsec) * 1e3 * float64(time.Second) / float64(window)), true
}
