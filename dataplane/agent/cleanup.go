package agent

import (
	"context"
	"regexp"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-net/switchyard/dataplane/podnet"
)

// cleanup runs once the pod informer has synced, before any pod is
// processed: it removes the namespaces and pod cgroups of pods that no
// longer exist and releases their IPs. Pods that do exist are adopted by
// their first sync (the pool returns their IP again, EnsurePod converges,
// the runner re-attaches to their processes).
func (a *Agent) cleanup(ctx context.Context) {
	live := a.liveUIDs()
	a.holdReady(a.livePods())
	wired, err := a.dp.WiredPods(a.netnsPrefix())
	if err != nil {
		a.log.Warn("list wired pods", "err", err)
	}
	var wg sync.WaitGroup
	for _, w := range orphanNetNS(wired, live, a.netnsPrefix()) {
		wg.Add(1)
		go func() { // removal waits for an RCU grace period: do them together
			defer wg.Done()
			err := a.dp.RemovePod(ctx, w.NetNS, w.HostVeth)
			a.log.Info("removed orphaned pod netns", "netns", w.NetNS, "err", err)
		}()
	}
	uids, err := a.runner.Pods()
	if err != nil {
		a.log.Warn("list pod cgroups", "err", err)
	}
	for _, uid := range orphanUIDs(uids, live) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := a.runner.Stop(ctx, uid, 0)
			a.log.Info("stopped orphaned pod", "uid", uid, "err", err)
		}()
	}
	wg.Wait()
	released, err := a.pool.GC(ctx, func(owner string) bool { return keepOwner(owner, live) }, 0)
	if err != nil {
		a.log.Warn("pod IP GC", "err", err)
	}
	if len(released) > 0 {
		a.log.Info("released IPs of deleted pods", "owners", released)
	}
}

func (a *Agent) liveUIDs() map[types.UID]bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	live := make(map[types.UID]bool, len(a.pods))
	for uid := range a.pods {
		live[uid] = true
	}
	return live
}

func (a *Agent) livePods() []*corev1.Pod {
	a.mu.Lock()
	defer a.mu.Unlock()
	pods := make([]*corev1.Pod, 0, len(a.pods))
	for _, p := range a.pods {
		pods = append(pods, p)
	}
	return pods
}

// orphanNetNS returns the wired namespaces named prefix+<8 chars> whose
// suffix is not the start of a live pod's UID.
func orphanNetNS(wired []podnet.Wired, live map[types.UID]bool, prefix string) []podnet.Wired {
	short := make(map[string]bool, len(live))
	for uid := range live {
		short[uid8(uid)] = true
	}
	var out []podnet.Wired
	for _, w := range wired {
		suffix, ok := strings.CutPrefix(w.NetNS, prefix)
		if ok && len(suffix) == 8 && !short[suffix] {
			out = append(out, w)
		}
	}
	return out
}

// orphanUIDs returns the UIDs that are not live.
func orphanUIDs(uids []types.UID, live map[types.UID]bool) []types.UID {
	var out []types.UID
	for _, uid := range uids {
		if !live[uid] {
			out = append(out, uid)
		}
	}
	return out
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// keepOwner decides the pool GC: allocations owned by a pod UID are kept
// while the pod exists; other owners (CNI attachments) are not the
// agent's to collect.
func keepOwner(owner string, live map[types.UID]bool) bool {
	return !uuidRE.MatchString(owner) || live[types.UID(owner)]
}
