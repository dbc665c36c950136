// Package mailgate turns the messages arriving in a mail folder into calls
// of a handler, whatever the transport: a helpdesk's receiver that makes
// tickets from mail. The logic lives here once: what is new, retries with
// backoff, actions applied only after the handler succeeded, reconnection
// with backoff, renewal of a session before its credentials expire, waits a
// throttling server asks for, oversize messages, and the rule that within a
// process a message is handed over once and its action applied once. A
// transport supplies a Backend: imapx.NewBackend for IMAP.
//
//	gate := mailgate.New(imapx.NewBackend(mailbox, nil), &mailgate.Options{After: mailgate.Move, MoveTo: "Tickets"},
//		func(ctx context.Context, m *mailgate.Message) error {
//			return tickets.Create(ctx, m.Subject, m.Body) // an error: the message is tried again later
//		})
//	err := gate.Run(ctx) // until ctx is cancelled
//
// Delivery is at least once: a message whose handler succeeded just before
// the process stopped, but whose action was not applied yet, is handed over
// again by the next process. Make handlers idempotent; Message.Key names a
// message for that purpose.
package mailgate
