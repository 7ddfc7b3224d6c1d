package controllers

import (
	"sync"
	"time"
)

// expectationsTTL bounds how long a controller waits for the informer to
// show its own writes; after it the controller trusts its cache again
// (upstream ExpectationsTimeout).
const expectationsTTL = 5 * time.Minute

// expectations remembers, per controller key, the pod creations and
// deletions a sync issued that the informer has not shown yet. Until they
// are observed the controller must not act on its cache, or a burst of
// creates would be issued twice (upstream
// pkg/controller/controller_utils.go UIDTrackingControllerExpectations).
// It is safe for concurrent use.
type expectations struct {
	mu sync.Mutex
	m  map[string]*podExpectation // guarded by mu
}

type podExpectation struct {
	adds int
	dels map[string]bool // pod keys still to disappear
	at   time.Time
}

func newExpectations() *expectations { return &expectations{m: map[string]*podExpectation{}} }

func (e *expectations) get(key string) *podExpectation {
	x := e.m[key]
	if x == nil {
		x = &podExpectation{dels: map[string]bool{}}
		e.m[key] = x
	}
	return x
}

// expectCreations records that n creations were issued.
func (e *expectations) expectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.get(key)
	x.adds += n
	x.at = time.Now()
}

// creationObserved lowers the pending creations (an add event, or a
// create that failed or was skipped).
func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.m[key]; x != nil && x.adds > 0 {
		x.adds--
	}
}

// expectDeletions records the pods whose deletion was issued.
func (e *expectations) expectDeletions(key string, podKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.get(key)
	for _, k := range podKeys {
		x.dels[k] = true
	}
	x.at = time.Now()
}

// deletionObserved forgets a pod whose deletion the informer showed (or
// whose delete call failed).
func (e *expectations) deletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.m[key]; x != nil {
		delete(x.dels, podKey)
	}
}

// satisfied reports whether the controller may trust its cache for key.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.m[key]
	return x == nil || (x.adds <= 0 && len(x.dels) == 0) || time.Since(x.at) > expectationsTTL
}

// forget drops key, e.g. when its owner is deleted.
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
