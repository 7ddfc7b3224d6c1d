package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// apiProbe measures the API while the workloads ramp up, at fixed rates
// so that the load it adds does not depend on how fast the server is:
//   - list: GET /api/v1/pods (all namespaces, no limit) every
//     ListInterval;
//   - mutate: an update of one ConfigMap every ProbeInterval (a
//     single-object mutating call);
//   - watch: the time from sending that update to a watcher on the
//     ConfigMap seeing the new value — the write → watch-event delivery
//     latency through the same path (store, watch cache, HTTP stream) as
//     the agent's pod status writes take to the controllers.
type apiProbe struct {
	c kubernetes.Interface
	o WorkloadsOptions

	mu     sync.Mutex
	list   []time.Duration
	mutate []time.Duration
	watch  []time.Duration
	sent   map[string]time.Time // value → when its update was sent
	errs   []error

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

const probeCM = "bench-probe"

func newAPIProbe(c kubernetes.Interface, o WorkloadsOptions) *apiProbe {
	return &apiProbe{c: c, o: o, sent: map[string]time.Time{}}
}

func (p *apiProbe) start(ctx context.Context) error {
	cms := p.c.CoreV1().ConfigMaps(workloadsNS)
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: probeCM},
		Data: map[string]string{"seq": "0"}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create probe configmap: %w", err)
	}
	ctx, p.cancel = context.WithCancel(ctx)
	w, err := cms.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + probeCM})
	if err != nil {
		p.cancel()
		return fmt.Errorf("watch probe configmap: %w", err)
	}
	p.wg.Go(func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			now := time.Now()
			cm, ok := ev.Object.(*corev1.ConfigMap)
			if !ok || ev.Type != watch.Modified {
				continue
			}
			p.mu.Lock()
			if t, ok := p.sent[cm.Data["seq"]]; ok {
				p.watch = append(p.watch, now.Sub(t))
				delete(p.sent, cm.Data["seq"])
			}
			p.mu.Unlock()
		}
	})
	p.wg.Go(func() {
		tick := time.NewTicker(p.o.ListInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			t0 := time.Now()
			_, err := p.c.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
			d := time.Since(t0)
			p.record(ctx, &p.list, d, err, "list pods")
		}
	})
	p.wg.Go(func() {
		tick := time.NewTicker(p.o.ProbeInterval)
		defer tick.Stop()
		for seq := 1; ; seq++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			v := strconv.Itoa(seq)
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: probeCM}, Data: map[string]string{"seq": v}}
			t0 := time.Now()
			p.mu.Lock()
			p.sent[v] = t0
			p.mu.Unlock()
			// No resourceVersion: an unconditional update, as
			// `kubectl replace` sends; it cannot conflict.
			_, err := cms.Update(ctx, cm, metav1.UpdateOptions{})
			p.record(ctx, &p.mutate, time.Since(t0), err, "update configmap")
		}
	})
	return nil
}

func (p *apiProbe) record(ctx context.Context, into *[]time.Duration, d time.Duration, err error, what string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			p.errs = append(p.errs, fmt.Errorf("%s: %w", what, err))
		}
		return
	}
	*into = append(*into, d)
}

// stop ends the probe and waits for its goroutines.
func (p *apiProbe) stop() {
	p.cancel()
	p.wg.Wait()
}

// results summarizes list, mutate and watch latencies. A watch delivery
// never seen counts as an error, not a latency.
func (p *apiProbe) results() (list, mutate, watch Stats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Summarize(p.list), Summarize(p.mutate), Summarize(p.watch)
}

// failures are the probe's failed calls (not counted in the latencies).
func (p *apiProbe) failures() []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errs
}
