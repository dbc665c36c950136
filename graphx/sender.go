package graphx

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/mailoauth/mailoauth/provider"
)

// Envelope is who a message goes from and to (provider.Envelope, which
// smtpx takes too). Graph sends to the message's header recipients, so
// Send checks the two agree; see Sender.
type Envelope = provider.Envelope

// Sender sends MIME messages through Microsoft Graph for one mailbox; it
// is a provider.Sender, like smtpx.Sender. It is safe for concurrent use.
//
// A message up to SendMailLimit goes in one sendMail request
// (https://learn.microsoft.com/en-us/graph/api/user-sendmail), base64 with
// Content-Type text/plain. A larger one becomes a draft in the mailbox's
// Drafts folder: its top-level attachments leave the MIME and are added to
// the draft, through upload sessions from 3 MB (up to 150 MB), then the
// draft is sent (https://learn.microsoft.com/en-us/graph/outlook-large-attachments).
// That path needs Mail.ReadWrite besides Mail.Send, and that Graph takes
// attachments on a draft made from MIME, which Microsoft does not
// document: check it against a test tenant before relying on it. Only
// top-level parts of a multipart/mixed message leave the MIME, largest
// first, until the rest fits in SendMailLimit; a message that cannot be
// cut so is refused (ErrTooLarge). A failure before the draft is sent
// deletes the draft and, when temporary, starts over from a new one; a
// draft whose creation's answer was lost stays in Drafts, as the Sender
// never learned its id (it is never sent). A message the Sender cannot
// read twice is spooled to Options.TempDir when it is larger than 256 KiB;
// none is ever held in memory whole.
//
// Recipients. Graph has no envelope: it sends to the addresses in the
// message's To, Cc and Bcc fields. So the Sender makes them agree with the
// Envelope: a header recipient the envelope leaves out is refused
// (ErrRecipients), and so is an envelope recipient the header leaves out,
// unless Options.AddBcc lets the Sender write a Bcc field for it.
// Microsoft does not document whether the copies To and Cc recipients get
// still show a Bcc field, so by default the Sender writes no header field
// at all: the caller who wants Bcc recipients writes the Bcc field itself,
// or opts in to AddBcc. The envelope's sender must be the mailbox or the
// message's From address. Send-as and send-on-behalf: the request goes to
// the mailbox (Options.User), the message's From names the other mailbox,
// and Graph checks the right (ErrorSendAsDenied).
//
// A nil error means Graph accepted the message (202 Accepted), never that
// it was delivered: a recipient Exchange cannot deliver to comes back as a
// non-delivery report in the mailbox's Inbox, and the message is saved to
// Sent Items (MIME sendMail has no saveToSentItems).
//
// Throttling (429, 503) is waited out as Retry-After asks, for every
// request of the mailbox, within MaxRetries; no request that may have sent
// the message is ever repeated: its error is Uncertain.
type Sender struct {
	c       *Client
	own     bool // Close closes c
	initErr error
}

// NewSender returns a Sender for mb with a Client of its own; a nil opts
// means the defaults. A mailbox or options that cannot work make every
// Send fail with the reason.
func NewSender(mb *provider.Mailbox, opts *Options) *Sender {
	c, err := New(mb, opts)
	return &Sender{c: c, own: true, initErr: err}
}

// Sender returns a Sender that uses c and shares its limits with c's
// other requests.
func (c *Client) Sender() *Sender { return &Sender{c: c} }

// Close closes the Sender's own Client (from NewSender); a Sender from
// Client.Sender leaves its Client open.
func (s *Sender) Close() error {
	if s.own && s.c != nil {
		return s.c.Close()
	}
	return nil
}

// Send sends msg, a complete MIME message (RFC 5322), to env's
// recipients, as the Sender's documentation says. Errors are *Error
// values annotated for provider.Diagnose; one with Uncertain set means
// Graph may have accepted the message. The message is read before Send
// returns and not after.
func (s *Sender) Send(ctx context.Context, env provider.Envelope, msg io.Reader) error {
	if s.initErr != nil {
		return s.initErr
	}
	if err := s.c.send(ctx, env, msg); err != nil {
		return provider.Annotate(err)
	}
	return nil
}

// send is Send without the annotation.
func (c *Client) send(ctx context.Context, env provider.Envelope, msg io.Reader) error {
	if err := c.enter(); err != nil {
		return err
	}
	defer c.calls.Done()
	if msg == nil {
		return localError(PhaseMessage, nil, "nil message")
	}
	if env.From == "" {
		env.From = c.mb.Address
	}
	if err := env.Validate(); err != nil {
		return localError(PhaseMessage, err, "%v", err)
	}
	if c.maxRcpt > 0 && len(env.To) > c.maxRcpt {
		return localError(PhaseMessage, ErrRecipients, "%d recipients, and the mailbox takes %d per message: Graph cannot split a message", len(env.To), c.maxRcpt)
	}
	src, err := readSource(msg, c.tempDir)
	if err != nil {
		return localError(PhaseMessage, err, "%v", err)
	}
	defer src.close()
	h, err := parseHeader(src.header)
	if err != nil {
		return localError(PhaseMessage, err, "%v", err)
	}
	bcc, err := checkEnvelope(env, c.mb.Address, h, c.addBcc)
	if err != nil {
		return localError(PhaseMessage, err, "%v", err)
	}
	if bcc != nil {
		src.header = append(bcc, src.header...)
	}
	if c.messages != nil {
		if err := c.messages.wait(ctx, c.clock); err != nil {
			return &Error{Phase: PhaseMessage, Message: "interrupted", Err: err}
		}
	}
	if src.size() > c.sendLimit {
		return c.sendLarge(ctx, src, h, c.sendLimit)
	}
	err = c.sendMail(ctx, src)
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusRequestEntityTooLarge {
		return err
	}
	// Refused before it was handled: Graph's limit is below ours.
	c.log.InfoContext(ctx, "graphx: sendMail refused the message as too large; sending it through a draft without its attachments",
		"size", src.size(), "mailbox", c.mb.Address)
	return c.sendLarge(ctx, src, h, -1)
}

// sendMail posts the whole message to sendMail.
func (c *Client) sendMail(ctx context.Context, src *source) error {
	if err := src.encodeSmall(); err != nil {
		return localError(PhaseMessage, err, "%v", err)
	}
	resp, err := c.do(ctx, &request{
		phase:  PhaseSendMail,
		method: http.MethodPost,
		url:    c.userPath + "/sendMail",
		body:   src.base64Body,
		length: base64Len(src.size()),
		ctype:  "text/plain",
		accept: []int{http.StatusAccepted},
		sends:  true,
	})
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

// base64Len is the length of n octets in padded base64.
func base64Len(n int64) int64 { return (n + 2) / 3 * 4 }

// maxDrain is how much of an answer's body is read to reuse the
// connection; the rest is dropped with it.
const maxDrain = 64 << 10

// drain reads a little of resp's body and closes it.
func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	resp.Body.Close()
}
