package authorize

import (
	"container/list"
	"sync"
	"time"
)

// Bounds of the in-memory table of authorizations started and not yet
// finished.
const (
	// StateLifetime is how long a started authorization waits for its
	// callback.
	StateLifetime = 10 * time.Minute
	// DefaultMaxPending is the number of started authorizations kept; when
	// full, the oldest is dropped, so hitting the start handler cannot grow
	// memory without bound.
	DefaultMaxPending = 1000
)

// pendingAuth is one authorization started by a start handler.
type pendingAuth struct {
	state       string
	verifier    string
	browserHash [32]byte // SHA-256 of the browser-binding cookie's value
	created     time.Time
}

// pendingTable holds started authorizations by state, oldest first. Take
// removes an entry, so a state is usable once.
type pendingTable struct {
	mu      sync.Mutex // guards byState and order
	byState map[string]*list.Element
	order   *list.List // of *pendingAuth, oldest at the front
}

func newPendingTable() *pendingTable {
	return &pendingTable{byState: make(map[string]*list.Element), order: list.New()}
}

// Put adds p, first dropping expired entries and then, while the table
// holds max entries or more, the oldest ones.
func (t *pendingTable) Put(p *pendingAuth, now time.Time, max int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for e := t.order.Front(); e != nil; e = t.order.Front() {
		old := e.Value.(*pendingAuth)
		if now.Sub(old.created) < StateLifetime && t.order.Len() < max {
			break
		}
		t.order.Remove(e)
		delete(t.byState, old.state)
	}
	t.byState[p.state] = t.order.PushBack(p)
}

// Take removes and returns the entry for state; ok is false when the state
// is unknown, already used, evicted or expired.
func (t *pendingTable) Take(state string, now time.Time) (p *pendingAuth, expired, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, found := t.byState[state]
	if !found {
		return nil, false, false
	}
	t.order.Remove(e)
	delete(t.byState, state)
	p = e.Value.(*pendingAuth)
	if now.Sub(p.created) >= StateLifetime {
		return nil, true, false
	}
	return p, false, true
}

// Len returns the number of entries held.
func (t *pendingTable) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.order.Len()
}
