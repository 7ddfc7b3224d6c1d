package cnibackend

import (
	"sync"
	"testing"
)

// TestKeyedMutex: each key's counter is only touched under its key's lock
// (the race detector checks), and no lock outlives its last user.
func TestKeyedMutex(t *testing.T) {
	var k keyedMutex
	var wg sync.WaitGroup
	keys := []string{"a", "b", "c"}
	counts := map[string]*int{"a": new(int), "b": new(int), "c": new(int)}
	for i := range 300 {
		key := keys[i%3]
		wg.Go(func() {
			unlock := k.lock(key)
			*counts[key]++
			unlock()
		})
	}
	wg.Wait()
	for _, key := range keys {
		if *counts[key] != 100 {
			t.Errorf("%s counted %d, want 100", key, *counts[key])
		}
	}
	if len(k.m) != 0 {
		t.Errorf("locks left: %v", k.m)
	}
}
