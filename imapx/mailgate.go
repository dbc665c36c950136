package imapx

import (
	"context"

	"github.com/mailoauth/mailoauth/mailgate"
	"github.com/mailoauth/mailoauth/provider"
)

// Mailgate turns the messages arriving in one IMAP folder into calls of a
// handler, the receiver a helpdesk runs to make tickets from mail: a
// mailgate.Gate over the IMAP backend (NewBackend), with a handler that
// receives the IMAP view of each message. Each message not yet handled is
// given to the handler; once the handler succeeded, the configured Action
// is applied. A message whose handler failed stays untouched and is tried
// again later, with backoff.
//
// "Not yet handled" is decided by UID: with MarkSeen, the folder's unseen
// messages; with Move and Delete, every message in the folder (not flagged
// \Deleted). Within one process and one UIDVALIDITY the mailgate also
// remembers which UIDs it handled, so a message is given to the handler once
// and its action applied once, even when connections break between the two;
// if the server changes the folder's UIDVALIDITY that memory is reset. After
// a restart of the process a message whose handler succeeded just before
// the crash, but whose action was not applied yet, is handled again: make
// handlers idempotent (Message.Key makes a key).
//
// Messages are streamed to the handler one after the other from FETCH
// commands of about 64 MiB of mail (judged from the sizes seen so far); the
// actions of the messages of one FETCH are applied together when it is
// over.
//
// The mailgate learns of new mail with IDLE where the server offers it and
// by polling otherwise; it reconnects, with backoff and a fresh token, after
// any failure, and shortly before the access token of its session expires.
type Mailgate struct {
	gate *mailgate.Gate
}

// NewMailgate returns a mailgate for the folder opts.Folder of mb that calls
// handle for each message; a nil opts means the defaults. Nothing happens
// before Run. A handler for every transport takes a *mailgate.Message
// instead: mailgate.New(NewBackend(mb, ...), ...).
func NewMailgate(mb *provider.Mailbox, opts *MailgateOptions, handle func(context.Context, *Message) error) *Mailgate {
	if opts == nil {
		opts = &MailgateOptions{}
	}
	bo, gopts := opts.split()
	b := newBackend(mb, bo)
	var h func(context.Context, *mailgate.Message) error
	if handle != nil {
		h = func(ctx context.Context, m *mailgate.Message) error { return handle(ctx, b.native(m)) }
	}
	return &Mailgate{gate: mailgate.New(b, gopts, h)}
}

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
	return g.gate.Run(ctx)
}
