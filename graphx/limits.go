package graphx

import (
	"context"
	"sync"
	"time"

	"github.com/mailoauth/mailoauth/retry"
)

// limiter keeps one mailbox's requests inside Graph's Outlook limits
// (https://learn.microsoft.com/en-us/graph/throttling-limits#outlook-service-limits):
// at most a number of requests in flight, at most a number started in any
// window, and none while Graph asked everyone to wait (a 429 or 503 with
// Retry-After applies to the mailbox, not to one request).
type limiter struct {
	clock    retry.Clock
	slots    chan struct{} // one per request in flight; nil: no cap
	requests *window       // nil: no cap

	mu         sync.Mutex // guards pauseUntil
	pauseUntil time.Time
}

func newLimiter(clock retry.Clock, concurrent, perWindow int, span time.Duration) *limiter {
	l := &limiter{clock: clock}
	if concurrent > 0 {
		l.slots = make(chan struct{}, concurrent)
	}
	if perWindow > 0 {
		l.requests = newWindow(perWindow, span)
	}
	return l
}

// acquire waits until a request may start and returns the function that
// ends it, to be called once. It waits out a pause first, then for a free
// slot, then for room in the window.
func (l *limiter) acquire(ctx context.Context) (release func(), err error) {
	if err := l.waitPause(ctx); err != nil {
		return nil, err
	}
	if l.slots != nil {
		select {
		case l.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if l.requests != nil {
		if err := l.requests.wait(ctx, l.clock); err != nil {
			l.release()
			return nil, err
		}
	}
	return l.release, nil
}

// release ends a request that acquire let start; call it once per
// request.
func (l *limiter) release() {
	if l.slots != nil {
		<-l.slots
	}
}

// waitPause sleeps until the pause Graph asked for is over.
func (l *limiter) waitPause(ctx context.Context) error {
	for {
		l.mu.Lock()
		d := l.pauseUntil.Sub(l.clock.Now())
		l.mu.Unlock()
		if d <= 0 {
			return ctx.Err()
		}
		if err := l.clock.Sleep(ctx, d); err != nil {
			return err
		}
	}
}

// pause makes every request of the mailbox wait d from now, unless a
// longer pause is on already.
func (l *limiter) pause(d time.Duration) {
	if d <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if until := l.clock.Now().Add(d); until.After(l.pauseUntil) {
		l.pauseUntil = until
	}
}

// windowBuckets is how many parts a window is counted in. A request is
// counted in the part it started in, and a start is allowed while the
// parts that overlap the last window (one more than windowBuckets) hold
// fewer than the cap: never more than the cap in any window, at the cost
// of at most one part's worth of headroom.
const windowBuckets = 60

// window caps the events started in any span of time.
type window struct {
	limit  int
	bucket time.Duration

	mu   sync.Mutex // guards ring
	ring [windowBuckets + 1]slot
}

type slot struct {
	index int64 // the bucket's number since the epoch
	count int
}

func newWindow(limit int, span time.Duration) *window {
	return &window{limit: limit, bucket: max(span/windowBuckets, time.Nanosecond)}
}

// wait blocks until an event may start in the window, and counts it.
func (w *window) wait(ctx context.Context, clock retry.Clock) error {
	for {
		d := w.take(clock.Now())
		if d == 0 {
			return nil
		}
		if err := clock.Sleep(ctx, d); err != nil {
			return err
		}
	}
}

// take counts an event at now and returns 0, or returns how long to wait
// before trying again.
func (w *window) take(now time.Time) time.Duration {
	idx := now.UnixNano() / int64(w.bucket)
	w.mu.Lock()
	defer w.mu.Unlock()
	sum := 0
	oldest := idx
	for i := range w.ring {
		s := &w.ring[i]
		if s.count > 0 && s.index > idx-int64(len(w.ring)) && s.index <= idx {
			sum += s.count
			oldest = min(oldest, s.index)
		}
	}
	if sum < w.limit {
		s := &w.ring[idx%int64(len(w.ring))]
		if s.index != idx {
			s.index, s.count = idx, 0
		}
		s.count++
		return 0
	}
	// Room comes back when the oldest counted part leaves the window.
	free := time.Unix(0, (oldest+int64(len(w.ring)))*int64(w.bucket))
	return max(free.Sub(now), time.Nanosecond)
}
