// Package entra gets Exchange Online access tokens from Microsoft Entra ID
// (Azure AD) and describes the Exchange Online mailbox they open.
//
// Two kinds of access, each returning a provider.Mailbox for smtpx and imapx:
//
//   - ClientCredentials: the app itself has the right to the mailbox
//     (app-only: SMTP.SendAsApp, IMAP.AccessAsApp). It authenticates with a
//     client secret or a certificate; with a certificate every token
//     request carries a freshly signed client assertion (PS256, x5t#S256).
//   - Delegated: a user authorized the app once for the mailbox; the
//     refresh token lives in a tokenstore.Store and is rotated safely.
//     Authorize with AuthorizeDevice (a console) or NewAuthCodeFlow (a web
//     page), keep a quiet grant alive by running KeepAlive from a scheduler.
//
// App-only sending with a client secret:
//
//	mb, err := entra.ClientCredentials(ctx, entra.Config{
//		TenantID:        "contoso.onmicrosoft.com",
//		ClientID:        "00000000-0000-0000-0000-000000000000",
//		ClientSecret:    os.Getenv("ENTRA_SECRET"),
//		SecretExpiresAt: time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC),
//		Mailbox:         "helpdesk@contoso.com",
//	})
//	if err != nil {
//		log.Fatal(provider.Diagnose(err)) // says what to fix in the tenant
//	}
//	sender := smtpx.NewSender(mb, nil)
//
// The Cloud presets (Global, USGovernment, USGovernmentDoD, China) keep the
// login host, the Exchange hosts and the scope resources of one cloud
// together; tests point Cloud.AuthorityHost at a providertest server.
//
// Secrets and certificate expiry: set SecretExpiresAt (a certificate's
// expiry is read from it) and the package logs a warning 30, 7 and 1 days
// before, and an error after; the token error of an expired credential
// names the date. No secret, token or assertion is ever logged or put into
// an error.
package entra
