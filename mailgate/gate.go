package mailgate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/mailoauth/mailoauth/provider"
)

// Gate turns the messages arriving in one folder of a Backend into calls of
// a handler. Each message not yet handled is given to the handler; once the
// handler succeeded, the configured Action is applied. A message whose
// handler failed stays untouched and is tried again later, with backoff.
//
// "Not yet handled" is what the backend lists (for MarkSeen the unread
// messages, for Move and Delete every message in the folder), less what
// this gate handled: within one process and one epoch of the folder it
// remembers which messages it handled, so a message is given to the
// handler once and its action applied once, even when sessions break
// between the two; if the folder's epoch changes (IMAP's UIDVALIDITY), that
// memory is reset.
type Gate struct {
	b      Backend
	opts   Options
	handle func(context.Context, *Message) error
	log    *slog.Logger

	running atomic.Bool
	st      *state // used by the Run goroutine only
}

// New returns a gate that reads b and calls handle for each message; a nil
// opts means the defaults. Nothing happens before Run.
func New(b Backend, opts *Options, handle func(context.Context, *Message) error) *Gate {
	if opts == nil {
		opts = &Options{}
	}
	o := opts.withDefaults()
	log := o.Logger
	if lv, ok := b.(slog.LogValuer); ok {
		log = log.With("mailgate", lv)
	}
	return &Gate{b: b, opts: o, handle: handle, log: log}
}

// errRenew ends a session whose credentials are about to expire.
var errRenew = errors.New("mailgate: the session's credentials are about to expire")

// Run watches the folder until ctx is cancelled, and then returns ctx's
// error once the message in hand is finished: its handler returned and its
// action was applied. The handler's context is not cancelled with ctx (so
// that a ticket is not left half made); give the handler its own deadline
// if it may hang.
//
// Run returns another error only for unusable options, or what the
// backend's Check rejects; every failure of the server, the network or the
// credentials is logged and followed by a new session. Run must not be
// called again while it runs.
func (g *Gate) Run(ctx context.Context) error {
	if g.handle == nil || g.b == nil {
		return errors.New("mailgate: nil handler or backend")
	}
	if err := g.opts.validate(); err != nil {
		return err
	}
	plan := g.opts.plan()
	if c, ok := g.b.(Checker); ok {
		if err := c.Check(plan); err != nil {
			return err
		}
	}
	if !g.running.CompareAndSwap(false, true) {
		return errors.New("mailgate: Run is already running")
	}
	defer g.running.Store(false)

	attempt := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		end := g.session(ctx, plan)
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := g.opts.Clock.Sleep(ctx, g.pause(ctx, end, &attempt)); err != nil {
			return err
		}
	}
}

// sessionEnd is how a session ended.
type sessionEnd struct {
	err    error
	opened bool // Open succeeded
}

// session opens a session and works in it until it fails, its credentials
// are about to expire, or ctx is cancelled.
func (g *Gate) session(ctx context.Context, plan *Plan) sessionEnd {
	s, err := g.b.Open(ctx, plan)
	if err != nil {
		return sessionEnd{err: err}
	}
	w := &work{g: g, s: s, renewAt: g.renewAt(s)}
	err = w.run(ctx)
	_ = s.Close()
	return sessionEnd{err: err, opened: true}
}

// renewAt returns when s should be replaced: ReconnectBeforeExpiry before
// its credentials expire, but not before half their remaining lifetime.
// Zero when they do not expire.
func (g *Gate) renewAt(s Session) time.Time {
	e, ok := s.(Expirer)
	if !ok {
		return time.Time{}
	}
	exp := e.Expiry()
	if exp.IsZero() {
		return time.Time{}
	}
	now := g.opts.Clock.Now()
	at := exp.Add(-g.opts.ReconnectBeforeExpiry)
	if half := now.Add(exp.Sub(now) / 2); at.Before(half) {
		at = half
	}
	return at
}

// pause logs how a session ended and returns how long to wait before the
// next one.
func (g *Gate) pause(ctx context.Context, end sessionEnd, attempt *int) time.Duration {
	b := g.opts.ReconnectBackoff
	switch wait, asked := serverWait(end.err); {
	case errors.Is(end.err, errRenew):
		*attempt = 0
		g.log.InfoContext(ctx, "mailgate: renewing the session before its credentials expire")
		return 0
	case asked:
		*attempt++
		g.log.WarnContext(ctx, "mailgate: the server is throttling; waiting before reconnecting",
			"wait", wait, "error", end.err)
		return wait
	case errors.Is(end.err, ErrSessionExpired) && end.opened:
		*attempt = 0
		g.log.InfoContext(ctx, "mailgate: the server ended the session because its credentials expired; reconnecting",
			"error", end.err)
		return 0
	}
	if end.opened {
		*attempt = 0
	}
	*attempt++
	wait := b.Delay(*attempt)
	attrs := []any{"wait", wait, "error", end.err}
	if d := provider.Diagnose(end.err); d != nil {
		attrs = append(attrs, "diagnosis", d.Error())
	}
	g.log.WarnContext(ctx, "mailgate: session ended; reconnecting", attrs...)
	return wait
}

// serverWait returns the wait a server's answer in err asks for (a
// throttling reply's "Suggested Backoff Time", a Retry-After).
func serverWait(err error) (time.Duration, bool) {
	var r provider.Replier
	if !errors.As(err, &r) {
		return 0, false
	}
	w := r.Reply().Wait
	return w, w > 0
}

// call runs the handler; a panic becomes an error.
func (g *Gate) call(ctx context.Context, m *Message) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("mailgate: handler panicked: %v\n%s", v, debug.Stack())
		}
	}()
	return g.handle(context.WithoutCancel(ctx), m)
}

// epoch returns the state for the folder's epoch e, forgetting what was
// handled under another one.
func (g *Gate) epoch(ctx context.Context, e string) *state {
	if g.st == nil || g.st.epoch != e {
		if g.st != nil {
			g.log.WarnContext(ctx, "mailgate: the folder's epoch changed (for IMAP: its UIDVALIDITY changed); forgetting what was handled under the old one",
				"old", g.st.epoch, "new", e, "unconfirmed", len(g.st.pending))
		}
		g.st = newState(e)
	}
	return g.st
}
