package smtpx

import (
	"context"
	"errors"
	"io"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-smtp"
	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/internal/redact"
	"github.com/mailoauth/mailoauth/provider"
)

// quitTimeout bounds the QUIT sent when a connection is closed.
const quitTimeout = 5 * time.Second

// ErrClosed is returned by a Client or Sender used after Close, and by a
// Client whose connection broke.
var ErrClosed = errors.New("smtpx: connection closed")

// Client is one authenticated SMTP connection. It is not safe for
// concurrent use; a Sender pools Clients for concurrent callers.
type Client struct {
	d    *dialer
	c    *smtp.Client
	conn *ctxConn
	tr   *transcript // nil without Options.Debug
	// secrets are the tokens and SASL messages sent, scrubbed from every
	// server text that reaches an error.
	secrets *redact.Set
	id      int64         // connection number, for logs and transcripts
	token   *oauth2.Token // the token this connection authenticated with

	broken bool // the connection failed or the server closed it
	closed bool // Close was called
	msgs   int  // messages accepted on this connection

	lastUsed time.Time // when a Sender last released it (Sender's clock)
}

// Send submits msg from from to each address of to, streaming it: the
// message is read once, in chunks, and never held whole in memory. Lines
// may end in LF; they are sent as CRLF with dot-stuffing.
//
// A zero from means the mailbox's address. Invalid addresses are refused
// before anything is sent. When the server refuses some recipients, the
// message still goes to the others and the error is a *RecipientsError
// listing each refusal. Send does not retry; a Sender does.
func (c *Client) Send(ctx context.Context, from string, to []string, msg io.Reader) error {
	env := Envelope{From: from, To: to}
	if env.From == "" {
		env.From = c.d.mb.Address
	}
	if err := env.Validate(); err != nil {
		return err
	}
	if msg == nil {
		return errors.New("smtpx: nil message")
	}
	if c.closed || c.broken {
		return ErrClosed
	}
	out := c.transact(ctx, env.From, env.To, newBody(msg))
	return provider.Annotate(out.result())
}

// Noop checks that the connection still works.
func (c *Client) Noop(ctx context.Context) error {
	if c.closed || c.broken {
		return ErrClosed
	}
	release := c.conn.bind(ctx)
	defer release()
	if err := c.c.Noop(); err != nil {
		return c.fail(ctx, PhaseMail, err)
	}
	return nil
}

// Close sends QUIT (waiting at most a few seconds for the reply) and
// closes the connection.
func (c *Client) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	defer c.tr.flush()
	if !c.broken {
		ctx, cancel := context.WithTimeout(context.Background(), quitTimeout)
		release := c.conn.bind(ctx)
		err := c.c.Quit()
		release()
		cancel()
		if err == nil {
			return nil
		}
	}
	c.c.Close()
	return nil
}

// abandon closes the connection without QUIT.
func (c *Client) abandon() {
	c.broken = true
	c.closed = true
	c.c.Close()
	c.tr.flush()
}

// fail classifies err, the failure of phase p, with the connection's
// secrets scrubbed from it, and marks the connection broken when no usable
// reply came or the reply was 421.
func (c *Client) fail(ctx context.Context, p Phase, err error) *Error {
	e := causeError(ctx, p, err).scrub(c.secrets)
	if e.Code == 0 || e.Code == codeServiceClosing {
		c.broken = true
		c.c.Close()
	}
	return e
}

// outcome is the result of one transaction.
type outcome struct {
	delivered []string // recipients that got the message
	rejected  []*Error // recipients refused at RCPT, Recipient set
	err       *Error   // the transaction failed
	failed    []string // with err: the recipients not refused at RCPT, who did not get it either
}

// result turns an outcome into the error Send returns.
func (o outcome) result() error {
	switch {
	case o.err != nil && len(o.rejected) == 0:
		return o.err
	case o.err != nil:
		return &RecipientsError{Rejected: append(o.rejected, perRecipient(o.err, o.failed)...)}
	case len(o.rejected) == 0:
		return nil
	case len(o.delivered) == 0 && len(o.rejected) == 1:
		return o.rejected[0]
	}
	return &RecipientsError{Delivered: o.delivered, Rejected: o.rejected}
}

// perRecipient copies e once for each recipient, for a RecipientsError.
func perRecipient(e *Error, rcpts []string) []*Error {
	errs := make([]*Error, len(rcpts))
	for i, r := range rcpts {
		cp := *e
		cp.Recipient = r
		errs[i] = &cp
	}
	return errs
}

// transact runs MAIL, RCPT for each recipient, DATA. On a failed
// transaction that leaves the server mid-transaction it sends RSET; after a
// completed one it sends nothing, so the next MAIL follows at once.
func (c *Client) transact(ctx context.Context, from string, to []string, b *body) outcome {
	release := c.conn.bind(ctx)
	defer release()

	var out outcome
	var accepted []string
	failTx := func(e *Error) outcome {
		out.err = e
		out.failed = notRejected(to, out.rejected)
		return out
	}
	var mo *smtp.MailOptions
	if needsUTF8(from, to) {
		mo = &smtp.MailOptions{UTF8: true}
	}
	if err := c.c.Mail(from, mo); err != nil {
		return failTx(c.fail(ctx, PhaseMail, err))
	}
	for _, rcpt := range to {
		if err := c.c.Rcpt(rcpt, nil); err != nil {
			e := c.fail(ctx, PhaseRcpt, err)
			if c.broken {
				return failTx(e)
			}
			e.Recipient = rcpt
			out.rejected = append(out.rejected, e)
			continue
		}
		accepted = append(accepted, rcpt)
	}
	if len(accepted) == 0 {
		c.reset()
		return out
	}
	w, err := c.c.Data()
	if err != nil {
		e := c.fail(ctx, PhaseData, err)
		if !c.broken {
			c.reset()
		}
		return failTx(e)
	}
	if err := b.writeTo(w); err != nil {
		// DATA cannot be aborted without ending the message, which would
		// deliver it truncated: drop the connection instead.
		c.broken = true
		c.c.Close()
		if b.err != nil {
			return failTx(&Error{Phase: PhaseData, Message: "reading the message failed", Err: b.err})
		}
		return failTx(causeError(ctx, PhaseData, err).scrub(c.secrets))
	}
	if err := w.Close(); err != nil {
		e := c.fail(ctx, PhaseData, err)
		if e.Code == 0 && !c.conn.writeFailed.Load() && ctx.Err() == nil {
			// The whole message went out; only the reply is missing.
			e.Uncertain = true
			e.Temporary = false
			e.Message = "connection lost while waiting for the reply to the message"
		}
		return failTx(e)
	}
	c.msgs++
	out.delivered = accepted
	return out
}

// notRejected returns the addresses of to that no error in rejected names.
func notRejected(to []string, rejected []*Error) []string {
	if len(rejected) == 0 {
		return to
	}
	refused := make(map[string]bool, len(rejected))
	for _, r := range rejected {
		refused[r.Recipient] = true
	}
	var rest []string
	for _, t := range to {
		if !refused[t] {
			rest = append(rest, t)
		}
	}
	return rest
}

// reset sends RSET after a failed transaction.
func (c *Client) reset() {
	if err := c.c.Reset(); err != nil {
		c.broken = true
		c.c.Close()
	}
}

// needsUTF8 reports whether the envelope needs SMTPUTF8.
func needsUTF8(from string, to []string) bool {
	if !isASCII(from) {
		return true
	}
	for _, t := range to {
		if !isASCII(t) {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
