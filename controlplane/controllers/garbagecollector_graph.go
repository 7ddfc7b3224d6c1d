package controllers

import (
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// gcNode is what the garbage collector knows of one object.
type gcNode struct {
	gvr        schema.GroupVersionResource
	namespace  string
	name       string
	uid        types.UID
	rv         string
	owners     []metav1.OwnerReference
	finalizers []string
	deleting   bool
}

func nodeOf(gvr schema.GroupVersionResource, u *unstructured.Unstructured) *gcNode {
	return &gcNode{
		gvr: gvr, namespace: u.GetNamespace(), name: u.GetName(), uid: u.GetUID(), rv: u.GetResourceVersion(),
		owners: u.GetOwnerReferences(), finalizers: u.GetFinalizers(), deleting: u.GetDeletionTimestamp() != nil,
	}
}

func (n *gcNode) has(finalizer string) bool { return slices.Contains(n.finalizers, finalizer) }

// ownerRef returns n's reference to owner.
func (n *gcNode) ownerRef(owner types.UID) *metav1.OwnerReference {
	for i := range n.owners {
		if n.owners[i].UID == owner {
			return &n.owners[i]
		}
	}
	return nil
}

// gcGraph holds every object of every collected kind by UID, and the
// reverse edges owner → dependents (upstream's GraphBuilder uidToNode,
// without virtual nodes: an owner missing from the graph is looked up in
// the API). It is safe for concurrent use.
type gcGraph struct {
	mu         sync.RWMutex
	nodes      map[types.UID]*gcNode            // guarded by mu
	dependents map[types.UID]map[types.UID]bool // guarded by mu: owner → dependents
}

func newGCGraph() *gcGraph {
	return &gcGraph{nodes: map[types.UID]*gcNode{}, dependents: map[types.UID]map[types.UID]bool{}}
}

// upsert stores n and returns the previous version, if any.
func (g *gcGraph) upsert(n *gcNode) *gcNode {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.nodes[n.uid]
	if old != nil {
		g.unlink(old)
	}
	g.nodes[n.uid] = n
	for _, r := range n.owners {
		if g.dependents[r.UID] == nil {
			g.dependents[r.UID] = map[types.UID]bool{}
		}
		g.dependents[r.UID][n.uid] = true
	}
	return old
}

func (g *gcGraph) unlink(n *gcNode) {
	for _, r := range n.owners {
		delete(g.dependents[r.UID], n.uid)
		if len(g.dependents[r.UID]) == 0 {
			delete(g.dependents, r.UID)
		}
	}
}

func (g *gcGraph) remove(uid types.UID) *gcNode {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := g.nodes[uid]
	if n != nil {
		g.unlink(n)
		delete(g.nodes, uid)
	}
	return n
}

func (g *gcGraph) get(uid types.UID) *gcNode {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.nodes[uid]
}

// dependentsOf returns the known objects that name uid as an owner.
func (g *gcGraph) dependentsOf(uid types.UID) []*gcNode {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var out []*gcNode
	for d := range g.dependents[uid] {
		if n := g.nodes[d]; n != nil {
			out = append(out, n)
		}
	}
	return out
}

func (g *gcGraph) dependentUIDs(uid types.UID) []types.UID {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var out []types.UID
	for d := range g.dependents[uid] {
		out = append(out, d)
	}
	return out
}
