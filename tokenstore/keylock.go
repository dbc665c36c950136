package tokenstore

import (
	"context"
	"sync"
)

// keyLocks is a set of in-process mutexes, one per key, that a waiter can
// abandon when its context ends. Entries exist only while someone holds or
// waits for them, so the set does not grow with the number of keys seen.
type keyLocks struct {
	mu    sync.Mutex          // guards locks
	locks map[string]*keyLock // by key
}

type keyLock struct {
	sem  chan struct{} // holds one value while the lock is held
	refs int           // holders and waiters; guarded by keyLocks.mu
}

// lock blocks until the lock on key is held or ctx is done, and returns the
// function that releases it.
func (k *keyLocks) lock(ctx context.Context, key string) (release func(), err error) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = make(map[string]*keyLock)
	}
	l := k.locks[key]
	if l == nil {
		l = &keyLock{sem: make(chan struct{}, 1)}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()

	select {
	case l.sem <- struct{}{}:
		return func() { <-l.sem; k.done(key, l) }, nil
	case <-ctx.Done():
		k.done(key, l)
		return nil, ctx.Err()
	}
}

// done drops one reference to l and forgets it when nobody needs it.
func (k *keyLocks) done(key string, l *keyLock) {
	k.mu.Lock()
	defer k.mu.Unlock()
	l.refs--
	if l.refs == 0 {
		delete(k.locks, key)
	}
}
