package auth

import (
	"fmt"
	"log/slog"
	"time"
)

// What the types holding a token print of themselves: never the token.

func (c *client) String() string {
	return fmt.Sprintf("auth.NewClient(%s, %q, %s)", c.mech, c.user, hideToken(c.token))
}

func (c *client) GoString() string { return c.String() }

func (c *client) LogValue() slog.Value {
	return slog.GroupValue(slog.String("mechanism", string(c.mech)), slog.String("username", c.user),
		slog.String("token", hideToken(c.token)))
}

func (t *twoStep) String() string   { return fmt.Sprintf("auth.TwoStep(%v)", t.inner) }
func (t *twoStep) GoString() string { return t.String() }

func (t *twoStep) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("two_step", t.inner))
}

// String describes the cached token by its expiry, never its value.
func (s *Source) String() string {
	st := s.Stats()
	return fmt.Sprintf("auth.Source{token: %s, refreshes: %d, failures: %d}", s.cachedState(), st.Refreshes, st.Failures)
}

// GoString is String, for %#v.
func (s *Source) GoString() string { return s.String() }

// LogValue describes the Source to log/slog without its token.
func (s *Source) LogValue() slog.Value {
	st := s.Stats()
	return slog.GroupValue(slog.String("token", s.cachedState()),
		slog.Int64("refreshes", st.Refreshes), slog.Int64("failures", st.Failures))
}

// cachedState names the cached token by its expiry.
func (s *Source) cachedState() string {
	c := s.cur.Load()
	switch {
	case c == nil:
		return "none"
	case c.tok.Expiry.IsZero():
		return redacted + ", no expiry"
	default:
		return redacted + ", expires " + c.tok.Expiry.Format(time.RFC3339)
	}
}

// hideToken redacts a token that is there; a missing one shows as empty.
func hideToken(token string) string {
	if token == "" {
		return `""`
	}
	return redacted
}
