// Package testclock is a retry.Clock for the module's tests: time stands
// still until a test or a Sleep moves it.
package testclock

import (
	"context"
	"sync"
	"time"
)

// Clock is a manual clock. Sleep advances it by the duration asked for and
// returns at once, so that schedules run without waiting. It is safe for
// concurrent use.
type Clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

// At returns a clock that reads t.
func At(t time.Time) *Clock { return &Clock{t: t} }

// New returns a clock that reads a fixed date in 2030.
func New() *Clock { return At(time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)) }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Sleep advances the clock by d and returns ctx.Err().
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if d > 0 {
		c.Advance(d)
	}
	return ctx.Err()
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Funcs is a Clock made of two functions, for tests that act at each wait
// (approve a device code at the second poll, say). A nil NowFunc reads
// time.Now; a nil SleepFunc returns ctx.Err() at once.
type Funcs struct {
	NowFunc   func() time.Time
	SleepFunc func(ctx context.Context, d time.Duration) error
}

// Now calls NowFunc.
func (f Funcs) Now() time.Time {
	if f.NowFunc == nil {
		return time.Now()
	}
	return f.NowFunc()
}

// Sleep calls SleepFunc.
func (f Funcs) Sleep(ctx context.Context, d time.Duration) error {
	if f.SleepFunc == nil {
		return ctx.Err()
	}
	return f.SleepFunc(ctx, d)
}
