// Package google gives a provider.Mailbox for Gmail and Google Workspace:
// a service account with domain-wide delegation for a Workspace mailbox
// (ServiceAccount), or a user's own grant obtained once in a browser and
// refreshed from a tokenstore.Store (Delegated, with NewAuthCodeFlow for a
// web app or AuthorizeLoopback for a program on a desk).
//
//	key, _ := os.ReadFile("service-account.json")
//	mb, err := google.ServiceAccount(ctx, google.Config{ServiceAccountKey: key, Mailbox: "helpdesk@example.com"})
//	// mb goes to smtpx.Dial, smtpx.NewSender, imapx.Dial, imapx.NewMailgate.
//
// Google does not grant the Gmail scope (https://mail.google.com/) to the
// device-code flow, so this package offers none: use the loopback flow on a
// machine with a browser, or the authorization-code handlers in a web app.
package google
