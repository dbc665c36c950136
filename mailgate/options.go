package mailgate

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mailoauth/mailoauth/retry"
)

// Options configure a Gate. A nil *Options, like the zero value, marks
// handled messages read.
type Options struct {
	// After is what happens to a message once its handler succeeded.
	After Action
	// MoveTo is the destination folder of Move. It must exist.
	MoveTo string
	// MaxSize is the largest message, in bytes, given to the handler;
	// zero: no limit. A larger message is moved to OversizeFolder, or,
	// when that is empty, left untouched; either way a warning is logged.
	MaxSize int64
	// OversizeFolder receives messages larger than MaxSize. It must exist.
	OversizeFolder string
	// RetryBackoff spaces the attempts at a message whose handler failed,
	// with retry.Backoff's jitter; zero: from 30 seconds up to 30 minutes.
	RetryBackoff retry.Backoff
	// ReconnectBackoff spaces new sessions after a failure; zero: from one
	// second up to five minutes. A server that asks for a longer wait
	// (a throttling reply) gets it.
	ReconnectBackoff retry.Backoff
	// ReconnectBeforeExpiry is how long before its credentials expire a
	// session is replaced by a new one; zero: two minutes. Sessions are
	// kept at least half their credentials' remaining lifetime.
	ReconnectBeforeExpiry time.Duration
	// Clock tells the time for retry schedules and credential expiry and
	// waits between sessions; nil: retry.System.
	Clock retry.Clock
	// Logger receives what the gate does (nil: discard).
	Logger *slog.Logger
}

// Defaults of Options.
const defaultReconnectBeforeExpiry = 2 * time.Minute

var (
	defaultRetryBackoff     = retry.Backoff{Min: 30 * time.Second, Max: 30 * time.Minute}
	defaultReconnectBackoff = retry.Backoff{Min: time.Second, Max: 5 * time.Minute}
)

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() Options {
	o.RetryBackoff = o.RetryBackoff.Or(defaultRetryBackoff)
	o.ReconnectBackoff = o.ReconnectBackoff.Or(defaultReconnectBackoff)
	if o.ReconnectBeforeExpiry <= 0 {
		o.ReconnectBeforeExpiry = defaultReconnectBeforeExpiry
	}
	o.Clock = retry.Or(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// validate reports options that cannot work.
func (o Options) validate() error {
	switch o.After {
	case MarkSeen, Delete:
	case Move:
		if o.MoveTo == "" {
			return errors.New("mailgate: After is Move but MoveTo is empty")
		}
	default:
		return fmt.Errorf("mailgate: unknown After action %d", int(o.After))
	}
	if o.MaxSize < 0 {
		return fmt.Errorf("mailgate: MaxSize %d is negative", o.MaxSize)
	}
	return nil
}

// plan is the work these options describe.
func (o Options) plan() *Plan {
	p := &Plan{After: o.After, MaxSize: o.MaxSize, OversizeFolder: o.OversizeFolder, MinLifetime: 2 * o.ReconnectBeforeExpiry}
	if o.After == Move {
		p.MoveTo = o.MoveTo
	}
	return p
}
