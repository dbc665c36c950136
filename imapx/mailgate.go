package imapx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/provider"
)

// Mailgate turns the messages arriving in one IMAP folder into calls of a
// handler, the receiver a helpdesk runs to make tickets from mail. Each
// message not yet handled is given to the handler; once the handler
// succeeded, the configured Action is applied. A message whose handler
// failed stays untouched and is tried again later, with backoff.
//
// "Not yet handled" is decided by UID: with MarkSeen, the folder's unseen
// messages; with Move and Delete, every message in the folder (not flagged
// \Deleted). Within one process and one UIDVALIDITY the mailgate also
// remembers which UIDs it handled, so a message is given to the handler once
// and its action applied once, even when connections break between the two;
// if the server changes the folder's UIDVALIDITY that memory is reset. After
// a restart of the process a message whose handler succeeded just before
// the crash, but whose action was not applied yet, is handled again: make
// handlers idempotent (Message.UIDValidity and UID, or the Message-ID, make
// a key).
//
// Messages are streamed to the handler one after the other from FETCH
// commands of up to 16 MiB of mail; the actions of the messages of one FETCH
// are applied together when it is over.
//
// The mailgate learns of new mail with IDLE where the server offers it and
// by polling otherwise; it reconnects, with backoff and a fresh token, after
// any failure, and shortly before the access token of its session expires.
type Mailgate struct {
	mb     *provider.Mailbox
	opts   MailgateOptions
	handle func(context.Context, *Message) error
	log    *slog.Logger

	running atomic.Bool
	// Used by the Run goroutine only:
	st       *gateState
	sessions int
}

// NewMailgate returns a mailgate for the folder opts.Folder of mb that calls
// handle for each message; a nil opts means the defaults. Nothing happens
// before Run.
func NewMailgate(mb *provider.Mailbox, opts *MailgateOptions, handle func(context.Context, *Message) error) *Mailgate {
	if opts == nil {
		opts = &MailgateOptions{}
	}
	o := opts.withDefaults()
	if o.Debug != nil {
		o.Debug = &syncWriter{w: o.Debug}
	}
	return &Mailgate{mb: mb, opts: o, handle: handle, log: logger(o.Logger)}
}

// syncWriter serializes the transcripts of successive sessions, which may
// overlap while one logs out.
type syncWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// errPlannedReconnect ends a session whose token is about to expire.
var errPlannedReconnect = errors.New("imapx: the session's access token is about to expire")

// Run watches the folder until ctx is cancelled, and then returns ctx's
// error once the message in hand is finished: its handler returned and its
// action was applied. The handler's context is not cancelled with ctx (so
// that a ticket is not left half made); give the handler its own deadline if
// it may hang.
//
// Run returns another error only for unusable options or mailbox; every
// failure of the server, the network or the token is logged and followed by
// a reconnection. Run must not be called again while it runs.
func (g *Mailgate) Run(ctx context.Context) error {
	if g.handle == nil {
		return errf("mailgate: nil handler")
	}
	if err := g.opts.validate(); err != nil {
		return err
	}
	if err := (&dialer{mb: g.mb}).validate(); err != nil {
		return provider.Annotate(err)
	}
	if !g.running.CompareAndSwap(false, true) {
		return errf("mailgate: Run is already running")
	}
	defer g.running.Store(false)

	attempt := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		end := g.runSession(ctx)
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
	err       error
	worked    bool // the folder was selected
	token     *oauth2.Token
	bye       string
	byeSeen   bool
	throttle  time.Duration
	throttled bool
}

// runSession opens a session and works in it until it fails, its token is
// about to expire, or ctx is cancelled.
func (g *Mailgate) runSession(ctx context.Context) sessionEnd {
	g.sessions++
	newMail := make(chan struct{}, 1)
	d := &dialer{
		mb:   g.mb,
		opts: &g.opts.Options,
		log:  g.log,
		unilateral: &imapclient.UnilateralDataHandler{
			Mailbox: func(m *imapclient.UnilateralDataMailbox) {
				if m.NumMessages != nil {
					select {
					case newMail <- struct{}{}:
					default:
					}
				}
			},
		},
		minLifetime: 2 * g.opts.ReconnectBeforeExpiry,
		clock:       g.opts.Clock.Now,
		debugPrefix: fmt.Sprintf("[%d] ", g.sessions),
	}
	s, err := d.dial(ctx)
	if err != nil {
		end := sessionEnd{err: err}
		if delay, ok := SuggestedBackoff(err); ok {
			end.throttle, end.throttled = delay, true
		}
		return end
	}
	gs := &gateSession{g: g, s: s, addr: d.addr(), newMail: newMail}
	gs.reconnectAt = g.reconnectAt(s.token)
	err = gs.run(ctx)
	end := sessionEnd{err: err, worked: gs.selected, token: s.token}
	// Read before LOGOUT, whose own "* BYE" is no news.
	end.bye, end.byeSeen, end.throttle, end.throttled = s.wire.observed()
	s.logout()
	if d, ok := SuggestedBackoff(err); ok && !end.throttled {
		end.throttle, end.throttled = d, true
	}
	if end.byeSeen && err != nil && !errors.Is(err, errPlannedReconnect) {
		end.err = fmt.Errorf("%w (the server said BYE: %w)", err, byeError(end.bye))
	}
	return end
}

// reconnectAt returns when a session opened with tok should be replaced:
// ReconnectBeforeExpiry before the token expires, but not before half its
// remaining lifetime. Zero when the token has no expiry.
func (g *Mailgate) reconnectAt(tok *oauth2.Token) time.Time {
	if tok == nil || tok.Expiry.IsZero() {
		return time.Time{}
	}
	now := g.opts.Clock.Now()
	at := tok.Expiry.Add(-g.opts.ReconnectBeforeExpiry)
	if half := now.Add(tok.Expiry.Sub(now) / 2); at.Before(half) {
		at = half
	}
	return at
}

// pause logs how a session ended and returns how long to wait before the
// next one.
func (g *Mailgate) pause(ctx context.Context, end sessionEnd, attempt *int) time.Duration {
	b := g.opts.ReconnectBackoff
	switch {
	case errors.Is(end.err, errPlannedReconnect):
		*attempt = 0
		g.log.InfoContext(ctx, "imapx: mailgate: renewing the session before its access token expires",
			"mailbox", g.mb.Address, "folder", g.opts.Folder)
		return 0
	case end.throttled:
		*attempt++
		wait := end.throttle
		if wait <= 0 {
			wait = b.Delay(*attempt)
		}
		g.log.WarnContext(ctx, "imapx: mailgate: the server is throttling; waiting before reconnecting",
			"mailbox", g.mb.Address, "wait", wait, "error", end.err)
		return wait
	case end.byeSeen && strings.Contains(end.bye, byeTokenExpired) && end.worked:
		*attempt = 0
		if end.token != nil {
			g.mb.Tokens.Invalidate(end.token)
		}
		g.log.InfoContext(ctx, "imapx: mailgate: the server ended the session because its access token expired; reconnecting",
			"mailbox", g.mb.Address, "bye", end.bye)
		return 0
	}
	if end.worked {
		*attempt = 0
	}
	*attempt++
	wait := b.Delay(*attempt)
	attrs := []any{"mailbox", g.mb.Address, "folder", g.opts.Folder, "wait", wait, "error", end.err}
	if d := provider.Diagnose(end.err); d != nil {
		attrs = append(attrs, "diagnosis", d.Error())
	}
	if end.byeSeen {
		attrs = append(attrs, "bye", end.bye)
	}
	g.log.WarnContext(ctx, "imapx: mailgate: session ended; reconnecting", attrs...)
	return wait
}
