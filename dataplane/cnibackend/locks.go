package cnibackend

import "sync"

// keyedMutex serializes work per key (an attachment's owner) without
// making unrelated attachments wait for each other.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyLock // guarded by mu; entries live while refs > 0
}

type keyLock struct {
	sync.Mutex
	refs int // guarded by keyedMutex.mu
}

// lock locks key and returns its unlock, which may be called from another
// goroutine (DEL hands the lock to its background deletion).
func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*keyLock)
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
