package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/retry"
)

// Timing of Source.
const (
	// DefaultMargin is how long before expiry Source starts refreshing in
	// the background: Exchange Online's high-volume endpoint refuses tokens
	// that expire soon (501 5.5.127).
	DefaultMargin = 10 * time.Minute
	// DefaultRefreshTimeout bounds one call to the base source.
	DefaultRefreshTimeout = time.Minute

	// expiryLeeway: a token is not handed out in its last seconds, so that
	// it does not expire on its way to the server (x/oauth2 uses the same
	// 10 s). Tokens shorter than four times this lose a quarter of their
	// life instead.
	expiryLeeway = 10 * time.Second
)

// Spacing of refreshes after setbacks.
var (
	// failureBackoff spaces the attempts after a failed refresh.
	failureBackoff = retry.Backoff{Min: time.Second, Max: time.Minute}
	// staleBackoff spaces early refreshes after one that did not move the
	// expiry (a base that hands back a cached token).
	staleBackoff = retry.Backoff{Min: 30 * time.Second, Max: 5 * time.Minute}
)

// Source is the token cache every transport uses, and the only one on any
// path from an identity provider or a grant store to a server: it wraps a
// [Refresher], hands out its token to any number of goroutines, and
// refreshes it once, however many ask.
//
// A refresh starts in the background a margin before expiry
// (SourceOptions.Margin) while callers keep the still-valid token; a token whose
// whole life is shorter than twice the margin is refreshed at half its
// life. [Source.Invalidate] drops a token a server refused. After a failed
// refresh, callers get the error and further attempts are spaced with
// exponential backoff and jitter. A token with a zero Expiry never expires.
//
// The margin lives here only: a base returns any token that is valid now
// and is not the one it replaces, and Source decides when to renew. Each
// refresh names that token to the base (the one due, or the one a server
// refused), so a base that reads a shared store (tokenstore.Refresher) can
// tell a token another process already renewed from the stale one. A base
// that hands back the stale token anyway defeats early refresh, which
// Source then spaces out until the token really expires. Tokens handed out
// are shared: do not modify them. A Source is safe for concurrent use, and
// prints (fmt, slog) without its token.
type Source struct {
	base Refresher
	cfg  sourceConfig

	// cur is the token handed out, read without the lock by Token's fast
	// path; it is only written with mu held.
	cur atomic.Pointer[cachedToken]
	// busy mirrors flight != nil so the fast path need not take the lock.
	busy atomic.Bool

	// mu guards the refresh state below and every write of cur: it makes
	// sure at most one refresh runs, and that Invalidate never drops a token
	// that has already replaced the one it names.
	mu       sync.Mutex
	flight   *refreshFlight // the refresh running, or nil
	failures int            // failed refreshes in a row
	lastErr  error          // the last failure, handed out until retryAt
	retryAt  time.Time      // no refresh before this, after a failure
	stale    int            // early refreshes in a row that did not move the expiry
	held     *oauth2.Token  // the token last fetched, kept after Invalidate: the next refresh names it stale

	refreshes, failed atomic.Int64
}

// cachedToken is a token with its schedule. It is never modified once
// stored in Source.cur.
type cachedToken struct {
	tok       *oauth2.Token
	validTill time.Time // handed out before this; zero: always
	refreshAt time.Time // a background refresh starts from this; zero: never
}

func (c *cachedToken) valid(now time.Time) bool {
	return c.validTill.IsZero() || now.Before(c.validTill)
}

func (c *cachedToken) due(now time.Time) bool {
	return !c.refreshAt.IsZero() && !now.Before(c.refreshAt)
}

// refreshFlight is one call to the base source; callers that need its
// result wait for done.
type refreshFlight struct {
	done    chan struct{}
	waiters int           // callers waiting for the result; guarded by Source.mu
	tok     *oauth2.Token // set before done closes, on success
	err     error         // set before done closes, on failure
}

// SourceStats counts a Source's calls to its base, by outcome.
type SourceStats struct {
	Refreshes int64 // calls that gave a usable token, the first fetch included
	Failures  int64 // calls that failed or gave an unusable token
}

// NewSource returns a Source over base. A nil opts means the defaults.
func NewSource(base Refresher, opts *SourceOptions) *Source {
	return &Source{base: base, cfg: newSourceConfig(opts)}
}

// Token returns a token that is valid now. It waits only when there is no
// valid token; then it shares one refresh with every other caller and stops
// waiting when ctx ends. The refresh itself runs with a context detached
// from the callers' (keeping ctx's values, such as oauth2.HTTPClient) and
// bounded by the refresh timeout.
//
// With a valid token cached, Token neither blocks nor allocates.
func (s *Source) Token(ctx context.Context) (*oauth2.Token, error) {
	if c := s.cur.Load(); c != nil {
		now := s.cfg.now()
		if c.valid(now) {
			if c.due(now) && !s.busy.Load() {
				s.refreshEarly(ctx, c)
			}
			return c.tok, nil
		}
	}
	return s.wait(ctx)
}

// Invalidate drops rejected if it is still the cached token, so the next
// Token call fetches a new one; that refresh names rejected to the base as
// stale. Many goroutines invalidating the same token cause one refresh.
func (s *Source) Invalidate(rejected *oauth2.Token) {
	if rejected == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.cur.Load(); c != nil && c.tok.AccessToken == rejected.AccessToken {
		s.cur.Store(nil)
		s.cfg.log.Debug("auth: cached token invalidated", slog.Time("expiry", rejected.Expiry))
	}
}

// Stats returns how often the base was called, by outcome.
func (s *Source) Stats() SourceStats {
	return SourceStats{Refreshes: s.refreshes.Load(), Failures: s.failed.Load()}
}

// refreshEarly starts a background refresh of c unless one runs already or
// c has been replaced.
func (s *Source) refreshEarly(ctx context.Context, c *cachedToken) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flight != nil || s.cur.Load() != c || s.cfg.now().Before(s.retryAt) {
		return
	}
	s.startLocked(ctx)
}

// wait returns the cached token if it became valid, the last error while
// in backoff, or the result of the running (or a new) refresh.
func (s *Source) wait(ctx context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	now := s.cfg.now()
	if c := s.cur.Load(); c != nil && c.valid(now) {
		s.mu.Unlock()
		return c.tok, nil
	}
	f := s.flight
	if f == nil {
		if s.lastErr != nil && now.Before(s.retryAt) {
			err := s.lastErr
			s.mu.Unlock()
			return nil, err
		}
		f = s.startLocked(ctx)
	}
	f.waiters++
	s.mu.Unlock()
	select {
	case <-f.done:
		return f.tok, f.err
	case <-ctx.Done():
		s.mu.Lock()
		f.waiters--
		s.mu.Unlock()
		return nil, fmt.Errorf("auth: gave up waiting for a token refresh: %w", ctx.Err())
	}
}

// startLocked starts a refresh. s.mu must be held.
func (s *Source) startLocked(ctx context.Context) *refreshFlight {
	f := &refreshFlight{done: make(chan struct{})}
	s.flight = f
	s.busy.Store(true)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.timeout)
	stale := s.held
	go func() {
		defer cancel()
		s.finish(f, s.fetch(rctx, stale))
	}()
	return f
}

// fetched is what one call to the base produced.
type fetched struct {
	tok *oauth2.Token
	err error
}

// fetch calls the base, giving up when ctx ends even if the base does not
// (a base that ignores its context can block for ever; its call is then
// left to finish on its own).
func (s *Source) fetch(ctx context.Context, stale *oauth2.Token) fetched {
	if s.base == nil {
		return fetched{err: errors.New("auth: NewSource was given a nil Refresher")}
	}
	ch := make(chan fetched, 1)
	go func() {
		var r fetched
		r.tok, r.err = s.base.Refresh(ctx, stale)
		ch <- r
	}()
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		return fetched{err: fmt.Errorf("the base token source did not answer: %w", ctx.Err())}
	}
}

// finish records a refresh's outcome, wakes its waiters and tells the hooks.
func (s *Source) finish(f *refreshFlight, r fetched) {
	s.mu.Lock()
	now := s.cfg.now()
	prev := s.cur.Load()
	err := r.err
	if err == nil {
		err = checkFetched(r.tok, now)
	}
	var next *cachedToken
	var delay time.Duration
	if err != nil {
		s.failures++
		delay = failureBackoff.Delay(s.failures)
		s.retryAt = now.Add(delay)
		// The error states the failure; it promises no next attempt, which
		// comes only if someone asks again.
		if s.failures == 1 {
			err = fmt.Errorf("auth: token refresh failed: %w", err)
		} else {
			err = fmt.Errorf("auth: token refresh failed (%d in a row): %w", s.failures, err)
		}
		s.lastErr = err
		if prev != nil && prev.valid(now) && !prev.refreshAt.IsZero() && prev.refreshAt.Before(s.retryAt) {
			// Keep the valid token; try again early once the backoff ends.
			held := *prev
			held.refreshAt = s.retryAt
			s.cur.Store(&held)
		}
		f.err = err
		s.failed.Add(1)
	} else {
		s.failures, s.lastErr, s.retryAt = 0, nil, time.Time{}
		if prev != nil && !r.tok.Expiry.After(prev.tok.Expiry) && !r.tok.Expiry.IsZero() {
			s.stale++ // the base handed back a token no newer than ours
		} else {
			s.stale = 0
		}
		next = s.schedule(r.tok, now)
		s.cur.Store(next)
		s.held = r.tok
		f.tok = r.tok
		s.refreshes.Add(1)
	}
	s.flight = nil
	s.busy.Store(false)
	stale := s.stale
	seen := f.waiters > 0
	s.mu.Unlock()

	// Log before waking the waiters, so the log shows the refresh before
	// anything they do with its result; the hooks run after. A failure
	// the waiters receive is theirs to report; one that no caller sees (a
	// background refresh) is logged once here.
	switch {
	case err != nil && seen:
		s.cfg.log.Debug("auth: token refresh failed", slog.Any("error", err), slog.Duration("backoff", delay))
	case err != nil:
		s.cfg.log.Warn("auth: background token refresh failed", slog.Any("error", err), slog.Duration("backoff", delay))
	default:
		s.cfg.log.Debug("auth: token refreshed", slog.Time("expiry", r.tok.Expiry),
			slog.Time("refresh_at", next.refreshAt), slog.Int("stale_in_a_row", stale))
	}
	close(f.done)
	if err != nil && s.cfg.onError != nil {
		s.cfg.onError(err)
	}
	if err == nil && s.cfg.onRefresh != nil {
		s.cfg.onRefresh(r.tok.Expiry)
	}
}

// checkFetched rejects what the base should never hand out.
func checkFetched(tok *oauth2.Token, now time.Time) error {
	switch {
	case tok == nil:
		return errors.New("the base token source returned no token")
	case tok.AccessToken == "":
		return errors.New("the base token source returned a token without an access token")
	case !tok.Expiry.IsZero() && !now.Before(tok.Expiry):
		return fmt.Errorf("the base token source returned a token that expired at %s", tok.Expiry.Format(time.RFC3339))
	}
	return nil
}

// schedule computes when tok stops being handed out and when its background
// refresh starts. s.mu must be held.
func (s *Source) schedule(tok *oauth2.Token, now time.Time) *cachedToken {
	c := &cachedToken{tok: tok}
	if tok.Expiry.IsZero() {
		return c
	}
	life := tok.Expiry.Sub(now)
	c.validTill = tok.Expiry.Add(-min(expiryLeeway, life/4))
	if life < 2*s.cfg.margin {
		c.refreshAt = now.Add(life / 2)
	} else {
		c.refreshAt = tok.Expiry.Add(-s.cfg.margin)
	}
	if s.stale > 0 {
		if spaced := now.Add(staleBackoff.Delay(s.stale)); spaced.After(c.refreshAt) {
			c.refreshAt = spaced
		}
	}
	return c
}

// sourceConfig is SourceOptions with the defaults filled in.
type sourceConfig struct {
	margin    time.Duration
	timeout   time.Duration
	clock     retry.Clock
	log       *slog.Logger
	onRefresh func(expiry time.Time)
	onError   func(error)
}

func (c *sourceConfig) now() time.Time { return c.clock.Now() }

// SourceOptions configure NewSource. A nil *SourceOptions, and the zero
// value of each field, mean the default named there.
type SourceOptions struct {
	// Margin is how long before expiry the background refresh starts;
	// zero: DefaultMargin; negative: refresh only when the token expires.
	Margin time.Duration
	// RefreshTimeout bounds each call to the base; zero or negative:
	// DefaultRefreshTimeout.
	RefreshTimeout time.Duration
	// Clock tells the time; it must agree with the clock that set the
	// tokens' Expiry. nil: retry.System.
	Clock retry.Clock
	// Logger gets refreshes and the failures callers receive (Debug), and
	// the failures of background refreshes that no caller sees (Warn),
	// never a token; nil discards.
	Logger *slog.Logger
	// OnRefresh is called after each successful refresh with the new
	// token's expiry (zero: none), from the refreshing goroutine; it must
	// not block.
	OnRefresh func(expiry time.Time)
	// OnRefreshError is called after each failed refresh with the error
	// callers get, from the refreshing goroutine; it must not block.
	OnRefreshError func(error)
}

func newSourceConfig(o *SourceOptions) sourceConfig {
	if o == nil {
		o = &SourceOptions{}
	}
	c := sourceConfig{
		margin:    o.Margin,
		timeout:   o.RefreshTimeout,
		clock:     retry.Or(o.Clock),
		log:       o.Logger,
		onRefresh: o.OnRefresh,
		onError:   o.OnRefreshError,
	}
	switch {
	case c.margin == 0:
		c.margin = DefaultMargin
	case c.margin < 0:
		c.margin = 0
	}
	if c.timeout <= 0 {
		c.timeout = DefaultRefreshTimeout
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c
}
