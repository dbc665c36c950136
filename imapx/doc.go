// Package imapx reads mail over IMAP with OAuth2: Dial connects and
// authenticates with a bearer token (SASL XOAUTH2 or OAUTHBEARER), and a
// Mailgate turns each message arriving in a folder into a call of your
// handler, without losing or repeating a message when connections break.
//
//	gate := imapx.NewMailgate(mailbox, &imapx.MailgateOptions{After: imapx.Move, MoveTo: "Tickets"},
//		func(ctx context.Context, m *imapx.Message) error {
//			return tickets.Create(ctx, m.Envelope, m.Body) // an error: the message is tried again later
//		})
//	err := gate.Run(ctx) // until ctx is cancelled
//
// The Mailgate is package mailgate's Gate over this package's backend: a
// handler that should serve every transport takes a *mailgate.Message and
// runs on mailgate.New(imapx.NewBackend(mailbox, opts), ...).
//
// The mailbox (a *provider.Mailbox) comes from provider/entra or
// provider/google, or, in tests, from imapxtest.
//
// Tokens only travel over TLS 1.2 or later to a server whose certificate
// names the mailbox's IMAP host (provider.Plaintext is allowed to loopback
// addresses, for tests). A server that refuses a token gets one fresh token
// and one more try; errors carry the server's reply and are annotated for
// provider.Diagnose. Options.Debug receives the dialogue with the
// AUTHENTICATE exchange and every token redacted.
//
// The package wraps github.com/emersion/go-imap/v2; Dial returns its
// *imapclient.Client.
package imapx
