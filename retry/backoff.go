package retry

import (
	"math/rand/v2"
	"time"
)

// Backoff spaces the attempts after failures: the wait before attempt n+1
// after n failures in a row is Min doubled n-1 times, at most Max, of which
// a random part of the upper half is taken ("equal jitter"), so that many
// clients that failed together do not come back together.
//
// The zero Backoff waits nothing; the fields of the options that hold one
// document their defaults.
type Backoff struct {
	Min, Max time.Duration
}

// Delay returns the wait after n (1 or more) failures in a row: a value
// in [d/2, d], where d is Min·2^(n-1) capped at Max. A Max below Min is
// taken as Min.
func (b Backoff) Delay(n int) time.Duration {
	d := b.Cap(n)
	if d <= 1 {
		return max(d, 0)
	}
	return d/2 + rand.N(d-d/2+1)
}

// Cap returns the wait after n failures before jitter: Min doubled n-1
// times, at most Max.
func (b Backoff) Cap(n int) time.Duration {
	hi := max(b.Max, b.Min)
	d := b.Min
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// Or returns b with each zero or negative bound replaced by def's.
func (b Backoff) Or(def Backoff) Backoff {
	if b.Min <= 0 {
		b.Min = def.Min
	}
	if b.Max <= 0 {
		b.Max = def.Max
	}
	if b.Max < b.Min {
		b.Max = b.Min
	}
	return b
}
