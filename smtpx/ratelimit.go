package smtpx

import (
	"context"
	"sync"
	"time"

	"github.com/mailoauth/mailoauth/retry"
)

// bucket paces transactions at a steady rate shared by all callers: a
// token bucket holding one token, refilled every interval. Each caller
// reserves the next free slot and waits for it.
type bucket struct {
	interval time.Duration

	mu   sync.Mutex // guards next
	next time.Time  // when the next token is available
}

func newBucket(perMinute int) *bucket {
	if perMinute <= 0 {
		return nil
	}
	return &bucket{interval: time.Minute / time.Duration(perMinute)}
}

// reserve takes the next token and returns how long after now it becomes
// available.
func (b *bucket) reserve(now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next.Before(now) {
		b.next = now
	}
	wait := b.next.Sub(now)
	b.next = b.next.Add(b.interval)
	return wait
}

// wait blocks until the caller's token is available or ctx is done.
func (b *bucket) wait(ctx context.Context, clock retry.Clock) error {
	if b == nil {
		return nil
	}
	return clock.Sleep(ctx, b.reserve(clock.Now()))
}
