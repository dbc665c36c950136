package smtpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/retry"
)

// Bounds of the interval at which idle connections are looked at.
const (
	minJanitorInterval = 10 * time.Millisecond
	maxJanitorInterval = 30 * time.Second
)

// Sender sends messages for one mailbox over a pool of authenticated
// connections. It is safe for concurrent use; all callers share its
// connection cap and its rate limit.
//
// A connection is reused after a completed transaction without RSET; it
// proves itself with NOOP after an idle period and is closed after
// IdleTimeout. A 421 or a closed connection makes the Sender dial again,
// with a fresh token if the old one expired. A "432 4.3.2" reply (too many
// connections) shrinks the pool for ShrinkFor.
//
// Temporary failures (4yz replies, network failures before the message was
// complete) are retried with exponential backoff and jitter, up to
// MaxRetries, when the message can be read again: pass an io.ReadSeeker
// such as *bytes.Reader or *strings.Reader. A plain io.Reader is retried
// only while none of it has been read; after that the temporary error goes
// back to the caller. No retry ever follows a message the server accepted
// or may have accepted (Error.Uncertain).
type Sender struct {
	d           *dialer
	initErr     error
	clock       retry.Clock
	log         *slog.Logger
	maxConns    int
	maxRcpt     int
	maxPerConn  int
	idleTimeout time.Duration
	noopAfter   time.Duration
	maxRetries  int
	backoff     retry.Backoff
	shrinkFor   time.Duration
	bucket      *bucket

	inflight    sync.WaitGroup
	janitorStop chan struct{}
	janitorDone chan struct{}

	mu          sync.Mutex // guards the fields below
	idle        []*Client  // most recently used last
	open        int        // connections open or being dialled
	limit       int        // the cap now: maxConns, or less after a 432; 0: none
	shrinkUntil time.Time
	wake        chan struct{} // closed and replaced when a connection frees up
	waiters     int           // callers waiting on wake
	closed      bool
}

// NewSender returns a Sender for mb; a nil opts means the defaults. It
// connects lazily, at the first Send. A mailbox that cannot work (no token
// source, bad address) makes every Send fail with the reason.
func NewSender(mb *provider.Mailbox, opts *SenderOptions) *Sender {
	if opts == nil {
		opts = &SenderOptions{}
	}
	s := &Sender{
		clock:       retry.Or(opts.Clock),
		log:         opts.logger(),
		maxPerConn:  opts.MaxMessagesPerConn,
		idleTimeout: durationOr(opts.IdleTimeout, DefaultIdleTimeout),
		noopAfter:   durationOr(opts.NoopAfter, DefaultNoopAfter),
		backoff:     opts.RetryBackoff.Or(DefaultRetryBackoff),
		shrinkFor:   durationOr(opts.ShrinkFor, DefaultShrinkFor),
		maxRetries:  opts.MaxRetries,
		wake:        make(chan struct{}),
		janitorStop: make(chan struct{}),
		janitorDone: make(chan struct{}),
	}
	switch {
	case s.maxRetries == 0:
		s.maxRetries = DefaultMaxRetries
	case s.maxRetries < 0:
		s.maxRetries = 0
	}
	s.d, s.initErr = newDialer(mb, opts.Options, "sender")
	if s.initErr == nil {
		s.maxConns = firstPositive(opts.MaxConns, mb.Limits.MaxConns)
		s.maxRcpt = firstPositive(opts.MaxRecipients, mb.Limits.MaxRecipients)
		s.bucket = newBucket(firstPositive(opts.MessagesPerMinute, mb.Limits.MessagesPerMinute))
	}
	s.limit = s.maxConns
	if s.idleTimeout > 0 {
		go s.janitor(min(max(s.idleTimeout/2, minJanitorInterval), maxJanitorInterval))
	} else {
		close(s.janitorDone)
	}
	return s
}

func durationOr(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

func firstPositive(a, b int) int {
	if a > 0 {
		return a
	}
	return max(b, 0)
}

// Send submits msg to env's recipients, splitting them into transactions
// of at most MaxRecipients (which needs a rewindable message), and retries
// temporary failures as the Sender's documentation says.
//
// It returns nil when every recipient got the message, a *RecipientsError
// when some did not, or the *Error that stopped the whole message. Errors
// are annotated for provider.Diagnose. After Close it returns ErrClosed.
func (s *Sender) Send(ctx context.Context, env Envelope, msg io.Reader) error {
	if s.initErr != nil {
		return s.initErr
	}
	if env.From == "" {
		env.From = s.d.mb.Address
	}
	if err := env.Validate(); err != nil {
		return fmt.Errorf("smtpx: %w", err)
	}
	if msg == nil {
		return errors.New("smtpx: nil message")
	}
	if !s.enter() {
		return ErrClosed
	}
	defer s.inflight.Done()

	b := newBody(msg)
	batches := split(env.To, s.maxRcpt)
	if len(batches) > 1 && b.seeker == nil {
		return &Error{Phase: PhaseRcpt, Message: "more recipients than one transaction takes, and " + errNotRewindable.Error(), Err: errNotRewindable}
	}
	if len(batches) == 1 {
		return provider.Annotate(s.sendBatch(ctx, env.From, batches[0], b).result())
	}
	var all outcome
	for i, batch := range batches {
		if i > 0 {
			if err := b.rewind(); err != nil {
				all.rejected = append(all.rejected, perRecipient(&Error{Phase: PhaseData, Message: "cannot read the message again", Err: err}, batch)...)
				continue
			}
		}
		out := s.sendBatch(ctx, env.From, batch, b)
		all.delivered = append(all.delivered, out.delivered...)
		all.rejected = append(all.rejected, out.rejected...)
		if out.err != nil {
			all.rejected = append(all.rejected, perRecipient(out.err, out.failed)...)
		}
	}
	if len(all.rejected) == 0 {
		return nil
	}
	return provider.Annotate(&RecipientsError{Delivered: all.delivered, Rejected: all.rejected})
}

// split cuts to into slices of at most n (n <= 0: one slice).
func split(to []string, n int) [][]string {
	if n <= 0 || len(to) <= n {
		return [][]string{to}
	}
	var out [][]string
	for len(to) > 0 {
		k := min(n, len(to))
		out = append(out, to[:k])
		to = to[k:]
	}
	return out
}

// maxFreeRetries bounds the immediate retries after a pooled connection
// turned out to be dead before any of the message was read.
const maxFreeRetries = 3

// sendBatch sends one transaction's worth of recipients, retrying
// temporary failures.
func (s *Sender) sendBatch(ctx context.Context, from string, rcpts []string, b *body) outcome {
	var (
		final    outcome
		pending  = rcpts
		retries  int
		free     int
		lastTx   *Error // the last whole-transaction failure
		anyRcpt  bool   // some recipient was refused individually
		failures map[string]*Error
	)
	pace := true // false after a dead pooled connection: nothing was submitted
	for {
		if pace {
			if err := s.bucket.wait(ctx, s.clock); err != nil {
				lastTx = causeError(ctx, PhaseConnect, err)
				failures = allFailed(pending, lastTx)
				break
			}
		}
		pace = true
		c, reused, err := s.acquire(ctx)
		var out outcome
		if err != nil {
			out = outcome{err: causeError(ctx, PhaseConnect, err), failed: pending}
		} else {
			out = c.transact(ctx, from, pending, b)
			s.release(c, out.err)
			final.delivered = append(final.delivered, out.delivered...)
		}
		failures = nil
		if len(out.rejected) > 0 || out.err != nil {
			failures = make(map[string]*Error)
		}
		for _, r := range out.rejected {
			failures[r.Recipient] = r
			anyRcpt = true
		}
		if out.err != nil {
			lastTx = out.err
			for _, r := range out.failed {
				failures[r] = out.err
			}
		}
		if len(failures) == 0 {
			break
		}
		// A pooled connection the server had closed: try another at once.
		if out.err != nil && reused && b.fresh() && free < maxFreeRetries &&
			out.err.Phase != PhaseData && (out.err.Code == 0 || out.err.Code == codeServiceClosing) && ctx.Err() == nil {
			// The rate token paid for a transaction that never started.
			free++
			pace = false
			continue
		}
		var again []string
		for _, r := range pending {
			if e, ok := failures[r]; ok && e.Temporary {
				again = append(again, r)
			}
		}
		if len(again) == 0 || retries >= s.maxRetries || ctx.Err() != nil || b.rewind() != nil {
			break
		}
		retries++
		s.log.DebugContext(ctx, "smtpx: retrying after a temporary failure",
			"attempt", retries, "recipients", len(again), "error", firstError(failures, again))
		if err := s.clock.Sleep(ctx, s.backoff.Delay(retries)); err != nil {
			break
		}
		for _, r := range again {
			delete(failures, r)
		}
		s.keepFinal(&final, failures, pending)
		pending = again
		failures = nil
	}
	s.keepFinal(&final, failures, pending)
	if len(final.delivered) == 0 && !anyRcpt && lastTx != nil && len(final.rejected) == len(rcpts) {
		return outcome{err: lastTx, failed: rcpts}
	}
	return final
}

// keepFinal moves the failures of pending recipients into final.
func (s *Sender) keepFinal(final *outcome, failures map[string]*Error, pending []string) {
	for _, r := range pending {
		if e, ok := failures[r]; ok {
			if e.Recipient != r {
				cp := *e
				cp.Recipient = r
				e = &cp
			}
			final.rejected = append(final.rejected, e)
		}
	}
}

func allFailed(rcpts []string, e *Error) map[string]*Error {
	m := make(map[string]*Error, len(rcpts))
	for _, r := range rcpts {
		m[r] = e
	}
	return m
}

func firstError(failures map[string]*Error, rcpts []string) string {
	for _, r := range rcpts {
		if e := failures[r]; e != nil {
			return e.Error()
		}
	}
	return ""
}

// enter registers a Send in flight, unless the Sender is closed.
func (s *Sender) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.inflight.Add(1)
	return true
}

// acquire returns an idle connection, or dials one when the pool has room,
// or waits for one to free up.
func (s *Sender) acquire(ctx context.Context) (c *Client, reused bool, err error) {
	for {
		s.mu.Lock()
		now := s.clock.Now()
		if !s.shrinkUntil.IsZero() && !now.Before(s.shrinkUntil) {
			s.limit, s.shrinkUntil = s.maxConns, time.Time{}
		}
		var stale []*Client
		for len(s.idle) > 0 && c == nil {
			cand := s.idle[len(s.idle)-1]
			s.idle = s.idle[:len(s.idle)-1]
			if s.idleTimeout > 0 && now.Sub(cand.lastUsed) >= s.idleTimeout {
				stale = append(stale, cand)
				s.open--
				continue
			}
			c = cand
		}
		dial := c == nil && (s.limit <= 0 || s.open < s.limit)
		if dial {
			s.open++
		} else if c == nil {
			s.waiters++
		}
		wake := s.wake
		s.mu.Unlock()
		for _, st := range stale {
			st.Close()
		}

		switch {
		case c != nil:
			if s.noopAfter > 0 && now.Sub(c.lastUsed) >= s.noopAfter {
				if err := c.Noop(ctx); err != nil {
					s.discard(c)
					c = nil
					if ctx.Err() != nil {
						return nil, false, ctx.Err()
					}
					continue
				}
			}
			return c, true, nil
		case dial:
			c, err := s.d.dial(ctx)
			if err != nil {
				s.mu.Lock()
				s.open--
				var e *Error
				if errors.As(err, &e) && e.Code == codeTooManyConns {
					s.shrinkLocked(now)
				}
				s.broadcastLocked()
				s.mu.Unlock()
				return nil, false, err
			}
			return c, false, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
		}
		s.mu.Lock()
		s.waiters--
		s.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
	}
}

// release returns c to the pool after a transaction that ended with txErr
// (nil on success), or closes it.
func (s *Sender) release(c *Client, txErr *Error) {
	s.mu.Lock()
	now := s.clock.Now()
	keep := !c.broken && (s.maxPerConn <= 0 || c.msgs < s.maxPerConn)
	if txErr != nil && txErr.Code == codeTooManyConns {
		keep = false
		s.shrinkLocked(now)
	}
	if keep {
		c.lastUsed = now
		s.idle = append(s.idle, c)
	} else {
		s.open--
	}
	s.broadcastLocked()
	s.mu.Unlock()
	if !keep {
		c.Close()
	}
}

// discard drops a connection that failed outside a transaction.
func (s *Sender) discard(c *Client) {
	s.mu.Lock()
	s.open--
	s.broadcastLocked()
	s.mu.Unlock()
	c.abandon()
}

// shrinkLocked lowers the cap below the connections open now, after the
// server said there are too many.
func (s *Sender) shrinkLocked(now time.Time) {
	newLimit := max(1, s.open-1)
	if s.limit > 0 {
		newLimit = min(newLimit, s.limit)
	}
	if newLimit != s.limit {
		s.log.Warn("smtpx: the server refused a connection as one too many; shrinking the pool",
			"from", s.limit, "to", newLimit, "for", s.shrinkFor)
	}
	s.limit = newLimit
	s.shrinkUntil = now.Add(s.shrinkFor)
}

func (s *Sender) broadcastLocked() {
	if s.waiters == 0 {
		return
	}
	close(s.wake)
	s.wake = make(chan struct{})
}

// janitor closes idle connections that outlived IdleTimeout.
func (s *Sender) janitor(every time.Duration) {
	defer close(s.janitorDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.janitorStop:
			return
		case <-t.C:
			s.closeIdle(false)
		}
	}
}

// closeIdle closes the idle connections older than IdleTimeout, or all of
// them.
func (s *Sender) closeIdle(all bool) {
	s.mu.Lock()
	now := s.clock.Now()
	var stale []*Client
	kept := s.idle[:0]
	for _, c := range s.idle {
		if all || now.Sub(c.lastUsed) >= s.idleTimeout {
			stale = append(stale, c)
		} else {
			kept = append(kept, c)
		}
	}
	clear(s.idle[len(kept):])
	s.idle = kept
	s.open -= len(stale)
	if len(stale) > 0 {
		s.broadcastLocked()
	}
	s.mu.Unlock()
	for _, c := range stale {
		c.Close()
	}
}

// Close stops new sends, waits for those in flight, then sends QUIT on
// every connection and closes it.
func (s *Sender) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.janitorStop)
	<-s.janitorDone
	s.inflight.Wait()
	s.closeIdle(true)
	return nil
}
