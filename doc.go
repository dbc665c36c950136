// Package mailoauth lets Go programs send mail over SMTP and read it over
// IMAP with OAuth2 bearer tokens (SASL XOAUTH2 and OAUTHBEARER), against
// Microsoft Exchange Online (Entra ID), Google Gmail and any
// standards-following mail server such as Dovecot or Postfix.
//
// This package holds only this overview; the code lives in the packages
// below it.
//
// # The story of one mailbox
//
// A program gets a provider.Mailbox from an identity provider package: it
// names the mailbox, its SMTP and IMAP servers, the SASL mechanism, the
// provider's sending limits, and a token source.
//
//	// App-only (client credentials), Exchange Online:
//	mb, err := entra.ClientCredentials(ctx, entra.Config{
//		TenantID: tenant, ClientID: client, ClientSecret: secret,
//		Mailbox: "helpdesk@contoso.com",
//	})
//
//	// Delegated: a refresh token kept in a store, authorized once by an
//	// admin through a device code or the authorization-code handlers.
//	store, _ := tokenstore.NewFile("/var/lib/helpdesk/tokens")
//	mb, err := entra.Delegated(ctx, cfg, store)
//
//	// Google Workspace, service account with domain-wide delegation:
//	mb, err := google.ServiceAccount(ctx, google.Config{
//		ServiceAccountKey: keyJSON, Mailbox: "helpdesk@example.com",
//	})
//
//	// Any standards-following authorization server (Keycloak, Authentik,
//	// ...) in front of Dovecot, found from its issuer URL:
//	mb, err := oidc.ClientCredentials(ctx, oidc.Config{
//		Issuer: "https://sso.example.com/realms/mail", ClientID: client,
//		ClientSecret: secret, Scopes: []string{"mail"}, Mailbox: "helpdesk@example.com",
//		SMTP: provider.Server{Host: "mail.example.com", Port: 587},
//	})
//
// The token source is an auth.Source: a cache that hands out the current
// access token without locking, refreshes it in the background ten minutes
// before it expires, lets one refresh run however many goroutines ask, and
// backs off when the identity provider fails. Delegated grants refresh
// through a tokenstore.Refresher, which saves each rotated refresh token
// before the access token it came with is used, and, on a store that is a
// tokenstore.Locker (a file folder, PostgreSQL, SQLite), refreshes once
// across every process that shares the store.
//
// The transports take the mailbox. smtpx.Dial and the pooled
// smtpx.Sender send mail; imapx.Dial and the imapx.Mailgate read it:
//
//	sender := smtpx.NewSender(mb, nil) // nil: the provider's limits
//	defer sender.Close()
//	err = sender.Send(ctx, smtpx.Envelope{From: mb.Address, To: to}, msg)
//
//	gate := imapx.NewMailgate(mb, &imapx.MailgateOptions{After: imapx.Move, MoveTo: "Processed"},
//		func(ctx context.Context, m *imapx.Message) error { return openTicket(ctx, m) })
//	err = gate.Run(ctx)
//
// Both authenticate with the mailbox's mechanism, never send a token over a
// connection without TLS 1.2 or later and a verified host name, and, when a
// server refuses a token, invalidate it, take a fresh one and try once more.
// The Sender keeps at most the provider's number of connections, paces
// messages to its per-minute limit, splits long recipient lists, and retries
// temporary failures without ever sending a message twice. The Mailgate
// calls the handler once for each new message, applies the action only after
// the handler succeeded, and survives dropped connections, expiring tokens
// and throttling.
//
// # When something fails
//
// Every error the library returns can be given to provider.Diagnose, which
// finds the code in it (an AADSTS number, an OAuth error, an SMTP reply, an
// IMAP response, a SASL challenge) and says what kind of failure it is and
// what to fix:
//
//	if d := provider.Diagnose(err); d != nil {
//		log.Printf("%s: %s Fix: %s", d.Kind, d.Summary, d.Fix)
//	}
//
// # Tests
//
// The test doubles sit beside what they imitate, like net/http/httptest:
// [providertest] is a local identity provider speaking the Entra and Google
// wire formats, [smtpxtest] a local SMTP submission server and [imapxtest] a
// local IMAP server; both servers check tokens with the identity provider.
// The quickstart example runs all three: go run ./examples/quickstart.
//
// [providertest]: https://pkg.go.dev/github.com/mailoauth/mailoauth/provider/providertest
// [smtpxtest]: https://pkg.go.dev/github.com/mailoauth/mailoauth/smtpx/smtpxtest
// [imapxtest]: https://pkg.go.dev/github.com/mailoauth/mailoauth/imapx/imapxtest
package mailoauth
