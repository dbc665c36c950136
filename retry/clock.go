package retry

import (
	"context"
	"time"
)

// Clock tells the time and waits. The module's schedules (token expiry,
// retries, pacing, polling) read it, so that a test can run them without
// waiting: providertest's Server is one.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep waits d, or until ctx is done, whichever comes first, and
	// returns ctx.Err() in the second case. A d of zero or less returns at
	// once.
	Sleep(ctx context.Context, d time.Duration) error
}

// System is the real clock: time.Now and a timer.
var System Clock = systemClock{}

// Or returns c, or System when c is nil: the default of every Clock field.
func Or(c Clock) Clock {
	if c == nil {
		return System
	}
	return c
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
