package auth

import (
	"context"
	"log/slog"
	"sync"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

const (
	podsPrefix      = "/registry/core/pods/"
	ingressesPrefix = "/registry/networking.k8s.io/ingresses/"
	gatewaysPrefix  = "/registry/gateway.networking.k8s.io/gateways/"
)

// ref names one object a node may read because a pod uses it.
type ref struct {
	kind      string // "secrets", "configmaps", "serviceaccounts", "persistentvolumeclaims"
	namespace string
	name      string
}

// podRefs is what the graph keeps of a pod.
type podRefs struct {
	node string
	refs []ref
}

// graph indexes which node may read which object, as kube-apiserver's
// node authorizer graph does (plugin/pkg/auth/authorizer/node/graph.go):
// a pod bound to a node gives the node its Secrets, ConfigMaps,
// ServiceAccount and PersistentVolumeClaims. Deviation: every node serves
// every Ingress and Gateway (the ingress proxy runs on all nodes), so the
// TLS Secrets of Ingresses and the certificateRefs of Gateway listeners
// are readable by all nodes, as they are in a Kubernetes cluster by an
// ingress or gateway controller DaemonSet's service account.
type graph struct {
	src source

	mu     sync.RWMutex
	pods   map[string]podRefs     // pod key → node and refs
	byNode map[string]map[ref]int // node → ref → number of its pods using it
	ingTLS map[string][]ref       // ingress key → TLS secrets
	gwTLS  map[string][]ref       // gateway key → listener certificate secrets
	anyTLS map[ref]int            // TLS secret → number of ingresses and gateways using it
	// notify is closed (and replaced) at every change of the graph.
	notify chan struct{}

	podsM *mirror[corev1.Pod]
	ingsM *mirror[networkingv1.Ingress]
	gwsM  *mirror[gwv1.Gateway]
}

func newGraph(src source, log *slog.Logger) *graph {
	g := &graph{src: src, pods: map[string]podRefs{}, byNode: map[string]map[ref]int{}, ingTLS: map[string][]ref{}, gwTLS: map[string][]ref{}, anyTLS: map[ref]int{},
		notify: make(chan struct{})}
	g.podsM = newMirror(src, podsPrefix, log,
		func(m map[string]corev1.Pod) {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.pods, g.byNode = map[string]podRefs{}, map[string]map[ref]int{}
			for k, p := range m {
				g.setPod(k, &p)
			}
			g.bump()
		},
		func(k string, p corev1.Pod) { g.mu.Lock(); g.setPod(k, &p); g.bump(); g.mu.Unlock() },
		func(k string) { g.mu.Lock(); g.delPod(k); g.bump(); g.mu.Unlock() })
	g.ingsM = newMirror(src, ingressesPrefix, log,
		func(m map[string]networkingv1.Ingress) {
			g.mu.Lock()
			defer g.mu.Unlock()
			for k := range g.ingTLS {
				g.delIngress(k)
			}
			for k, ing := range m {
				g.setIngress(k, &ing)
			}
			g.bump()
		},
		func(k string, ing networkingv1.Ingress) { g.mu.Lock(); g.setIngress(k, &ing); g.bump(); g.mu.Unlock() },
		func(k string) { g.mu.Lock(); g.delIngress(k); g.bump(); g.mu.Unlock() })
	g.gwsM = newMirror(src, gatewaysPrefix, log,
		func(m map[string]gwv1.Gateway) {
			g.mu.Lock()
			defer g.mu.Unlock()
			for k := range g.gwTLS {
				g.delGateway(k)
			}
			for k, gw := range m {
				g.setGateway(k, &gw)
			}
			g.bump()
		},
		func(k string, gw gwv1.Gateway) { g.mu.Lock(); g.setGateway(k, &gw); g.bump(); g.mu.Unlock() },
		func(k string) { g.mu.Lock(); g.delGateway(k); g.bump(); g.mu.Unlock() })
	return g
}

func (g *graph) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); g.podsM.run(ctx) }()
	go func() { defer wg.Done(); g.ingsM.run(ctx) }()
	go func() { defer wg.Done(); g.gwsM.run(ctx) }()
	wg.Wait()
}

func (g *graph) waitSynced(ctx context.Context) error {
	for _, c := range []chan struct{}{g.podsM.synced, g.ingsM.synced, g.gwsM.synced} {
		select {
		case <-c:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (g *graph) setPod(key string, p *corev1.Pod) {
	g.delPod(key)
	pr := podRefs{node: p.Spec.NodeName, refs: PodRefs(p)}
	g.pods[key] = pr
	if pr.node == "" {
		return
	}
	m := g.byNode[pr.node]
	if m == nil {
		m = map[ref]int{}
		g.byNode[pr.node] = m
	}
	for _, r := range pr.refs {
		m[r]++
	}
}

func (g *graph) delPod(key string) {
	old, ok := g.pods[key]
	if !ok {
		return
	}
	delete(g.pods, key)
	m := g.byNode[old.node]
	if m == nil { // a pod not bound to a node counted nowhere
		return
	}
	for _, r := range old.refs {
		if m[r]--; m[r] <= 0 {
			delete(m, r)
		}
	}
	if len(m) == 0 {
		delete(g.byNode, old.node)
	}
}

func (g *graph) setIngress(key string, ing *networkingv1.Ingress) {
	g.delIngress(key)
	var refs []ref
	for _, t := range ing.Spec.TLS {
		if t.SecretName != "" {
			refs = append(refs, ref{"secrets", ing.Namespace, t.SecretName})
		}
	}
	g.ingTLS[key] = refs
	for _, r := range refs {
		g.anyTLS[r]++
	}
}

func (g *graph) delIngress(key string) {
	for _, r := range g.ingTLS[key] {
		if g.anyTLS[r]--; g.anyTLS[r] <= 0 {
			delete(g.anyTLS, r)
		}
	}
	delete(g.ingTLS, key)
}

// setGateway records the Secrets a Gateway's listeners name as
// certificateRefs (core Secrets; another namespace only through a
// ReferenceGrant, which the gateway controller checks before it uses one).
func (g *graph) setGateway(key string, gw *gwv1.Gateway) {
	g.delGateway(key)
	var refs []ref
	for _, l := range gw.Spec.Listeners {
		if l.TLS == nil {
			continue
		}
		for _, c := range l.TLS.CertificateRefs {
			if c.Group != nil && *c.Group != "" || c.Kind != nil && *c.Kind != "Secret" {
				continue
			}
			ns := gw.Namespace
			if c.Namespace != nil {
				ns = string(*c.Namespace)
			}
			refs = append(refs, ref{"secrets", ns, string(c.Name)})
		}
	}
	g.gwTLS[key] = refs
	for _, r := range refs {
		g.anyTLS[r]++
	}
}

func (g *graph) delGateway(key string) {
	for _, r := range g.gwTLS[key] {
		if g.anyTLS[r]--; g.anyTLS[r] <= 0 {
			delete(g.anyTLS, r)
		}
	}
	delete(g.gwTLS, key)
}

// bump tells the watchers of changed that the graph changed. g.mu is held.
func (g *graph) bump() {
	close(g.notify)
	g.notify = make(chan struct{})
}

// changed returns a channel closed at the next change of the graph.
func (g *graph) changed() <-chan struct{} {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.notify
}

// nodeMayRead says whether node's pods (or an Ingress) use r.
func (g *graph) nodeMayRead(node string, r ref) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.byNode[node][r] > 0 || g.anyTLS[r] > 0
}

// podNode returns the node a pod is bound to, and whether the pod exists.
func (g *graph) podNode(namespace, name string) (string, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	p, ok := g.pods[podsPrefix+namespace+"/"+name]
	return p.node, ok
}

// podNodeFresh is podNode read from the store, for a pod the graph may
// not have seen bound yet.
func (g *graph) podNodeFresh(ctx context.Context, namespace, name string) (string, bool, error) {
	key := podsPrefix + namespace + "/" + name
	kvs, _, err := g.src.List(ctx, key, 0)
	if err != nil {
		return "", false, err
	}
	for _, kv := range kvs {
		if kv.Key != key {
			continue
		}
		p, err := decodeJSON[corev1.Pod](kv.Value)
		if err != nil {
			return "", false, err
		}
		return p.Spec.NodeName, true, nil
	}
	return "", false, nil
}

// PodRefs lists the Secrets, ConfigMaps, ServiceAccount and
// PersistentVolumeClaims a pod uses: volumes (projected ones included),
// env and envFrom of every container, image pull secrets.
func PodRefs(p *corev1.Pod) []ref {
	ns := p.Namespace
	seen := map[ref]bool{}
	var out []ref
	add := func(kind, name string) {
		r := ref{kind, ns, name}
		if name != "" && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	sa := p.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	add("serviceaccounts", sa)
	for _, s := range p.Spec.ImagePullSecrets {
		add("secrets", s.Name)
	}
	for _, v := range p.Spec.Volumes {
		switch {
		case v.Secret != nil:
			add("secrets", v.Secret.SecretName)
		case v.ConfigMap != nil:
			add("configmaps", v.ConfigMap.Name)
		case v.PersistentVolumeClaim != nil:
			add("persistentvolumeclaims", v.PersistentVolumeClaim.ClaimName)
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					add("secrets", src.Secret.Name)
				}
				if src.ConfigMap != nil {
					add("configmaps", src.ConfigMap.Name)
				}
			}
		}
	}
	visit := func(env []corev1.EnvVar, from []corev1.EnvFromSource) {
		for _, e := range env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				add("secrets", r.Name)
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				add("configmaps", r.Name)
			}
		}
		for _, f := range from {
			if f.SecretRef != nil {
				add("secrets", f.SecretRef.Name)
			}
			if f.ConfigMapRef != nil {
				add("configmaps", f.ConfigMapRef.Name)
			}
		}
	}
	for _, c := range p.Spec.InitContainers {
		visit(c.Env, c.EnvFrom)
	}
	for _, c := range p.Spec.Containers {
		visit(c.Env, c.EnvFrom)
	}
	for _, c := range p.Spec.EphemeralContainers {
		visit(c.Env, c.EnvFrom)
	}
	return out
}

// nodeMayReadFresh is nodeMayRead answered from the store rather than the
// mirror, for a request that the mirror denies: a pod bound a moment ago
// may not have reached it yet, and the node acts on the binding at once.
func (g *graph) nodeMayReadFresh(ctx context.Context, node string, r ref) (bool, error) {
	kvs, _, err := g.src.List(ctx, podsPrefix+r.namespace+"/", 0)
	if err != nil {
		return false, err
	}
	for _, kv := range kvs {
		p, err := decodeJSON[corev1.Pod](kv.Value)
		if err != nil || p.Spec.NodeName != node {
			continue
		}
		for _, pr := range PodRefs(&p) {
			if pr == r {
				return true, nil
			}
		}
	}
	if r.kind != "secrets" {
		return false, nil
	}
	kvs, _, err = g.src.List(ctx, ingressesPrefix+r.namespace+"/", 0)
	if err != nil {
		return false, err
	}
	for _, kv := range kvs {
		ing, err := decodeJSON[networkingv1.Ingress](kv.Value)
		if err != nil {
			continue
		}
		for _, t := range ing.Spec.TLS {
			if t.SecretName == r.name {
				return true, nil
			}
		}
	}
	return false, nil
}
