package controllers

import (
	"strconv"
	"sync"
	"time"

	discovery "k8s.io/api/discovery/v1"
)

// expectationTimeout bounds how long a sync waits for the informer to show
// one of its own writes; past it the cache is trusted again.
const expectationTimeout = 30 * time.Second

// sliceTracker remembers the controller's own EndpointSlice writes until
// the informer cache shows them, so that a sync never plans from a cache
// older than the previous sync's writes (which would create duplicate
// slices). It is safe for concurrent use.
type sliceTracker struct {
	mu      sync.Mutex
	pending map[string]map[string]expectation // service key → slice name → expectation
}

type expectation struct {
	deleted bool   // expect the slice gone
	rv      string // else expect this resourceVersion or a newer one
	at      time.Time
}

func newSliceTracker() *sliceTracker {
	return &sliceTracker{pending: map[string]map[string]expectation{}}
}

// wrote records a create or update of s (as the API server returned it).
func (t *sliceTracker) wrote(svcKey string, s *discovery.EndpointSlice) {
	t.expect(svcKey, s.Name, expectation{rv: s.ResourceVersion, at: time.Now()})
}

// deleted records a delete of the named slice.
func (t *sliceTracker) deleted(svcKey, name string) {
	t.expect(svcKey, name, expectation{deleted: true, at: time.Now()})
}

func (t *sliceTracker) expect(svcKey, name string, e expectation) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.pending[svcKey]
	if m == nil {
		m = map[string]expectation{}
		t.pending[svcKey] = m
	}
	m[name] = e
}

// observedDelete drops the expectations about a slice the informer saw
// deleted: nothing newer about it can arrive.
func (t *sliceTracker) observedDelete(svcKey, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if m := t.pending[svcKey]; m != nil {
		delete(m, name)
		if len(m) == 0 {
			delete(t.pending, svcKey)
		}
	}
}

// fresh reports whether cached (the service's slices in the informer
// cache, by name) reflects every write recorded for the service, and
// forgets the expectations that are met or expired.
func (t *sliceTracker) fresh(svcKey string, cached map[string]*discovery.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.pending[svcKey]
	for name, e := range m {
		if e.met(cached[name]) || time.Since(e.at) > expectationTimeout {
			delete(m, name)
		}
	}
	if len(m) == 0 {
		delete(t.pending, svcKey)
		return true
	}
	return false
}

func (e expectation) met(s *discovery.EndpointSlice) bool {
	if e.deleted || s == nil {
		return e.deleted == (s == nil)
	}
	if e.rv == "" || s.ResourceVersion == e.rv {
		return true
	}
	// Resource versions are opaque, but both Kubernetes' and switchyard's
	// are etcd revisions: a larger one is a later write.
	have, err1 := strconv.ParseUint(s.ResourceVersion, 10, 64)
	want, err2 := strconv.ParseUint(e.rv, 10, 64)
	return err1 == nil && err2 == nil && have > want
}
