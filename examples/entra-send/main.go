// Command entra-send sends one message from a Microsoft 365 (Exchange
// Online) mailbox with app-only access: the app registration itself holds
// the right to send as the mailbox (SMTP.SendAsApp), with a client secret or
// a certificate, and no user ever signs in. It is the shape of a
// notification service.
//
//	export MAILOAUTH_CLIENT_SECRET='<the secret's Value>'
//	go run ./examples/entra-send -tenant contoso.onmicrosoft.com \
//		-client-id 00000000-0000-0000-0000-000000000000 \
//		-mailbox notifications@contoso.com -to someone@example.com
//
// # Setup, once per tenant
//
//  1. Entra admin center → App registrations → New registration (single
//     tenant). Note the Application (client) ID and the Directory (tenant) ID.
//  2. Certificates & secrets: create a client secret and copy its Value
//     (not its Secret ID), or upload a certificate (.cer or .pem) whose
//     private key this program is given with -cert-file.
//  3. API permissions → Add a permission → APIs my organization uses →
//     Office 365 Exchange Online → Application permissions → SMTP.SendAsApp,
//     then Grant admin consent.
//  4. In Exchange Online PowerShell, register the app's service principal
//     and give it the mailbox (commands below). New-ServicePrincipal wants
//     the Object ID of the Enterprise application (Entra admin center →
//     Enterprise applications → the app), not the one of the App
//     registration: with the wrong one every login fails with "535 5.7.3
//     Authentication unsuccessful".
//  5. Make sure SMTP AUTH is enabled for the mailbox: OAuth does not bypass
//     that switch, and security defaults turn it off.
//
// The PowerShell of steps 4 and 5:
//
//	Install-Module ExchangeOnlineManagement
//	Connect-ExchangeOnline -Organization <tenant id>
//	New-ServicePrincipal -AppId <client id> -ObjectId <enterprise application object id>
//	Get-ServicePrincipal | Format-List DisplayName,AppId,ObjectId,Identity
//	Add-MailboxPermission -Identity notifications@contoso.com -User <service principal id> -AccessRights FullAccess
//	Set-CASMailbox -Identity notifications@contoso.com -SmtpClientAuthenticationDisabled $false
//
// To send with a From address other than the mailbox's, grant SendAs on it
// too (Add-RecipientPermission -Identity <address> -Trustee <service
// principal id> -AccessRights SendAs). New permissions can take a while to
// reach Exchange Online; until they do, the login fails with 535 5.7.3,
// which this program explains.
//
// # Configuration
//
// Every flag has an environment variable (shown in -h); a flag wins.
// Secrets never go on the command line: the client secret comes from
// MAILOAUTH_CLIENT_SECRET or from the file named by -secret-file; a
// certificate's private key from -cert-file (PEM with the certificate and
// its key, or a .pfx/.p12 whose password is in MAILOAUTH_CERT_PASSWORD).
// -secret-expires, the secret's expiry date, has a warning logged 30, 7
// and 1 days before it.
//
// -cloud picks the login host and Exchange servers of a national cloud
// (global, usgov, usgovdod, china). -authority-host, -smtp-host,
// -smtp-port, -smtp-security and -ca-file point the program somewhere
// else, such as the local test servers of examples/testservers and of its
// tests.
//
// The credentials are checked first (entra.ProbeCredentials), so that a
// wrong tenant, client ID or secret is named as such. On failure it prints
// the error and what to fix (provider.Diagnose, in the program's flags),
// once, and exits with status 1 (2 for a mistake in the flags or the
// environment).
//
// The flags, secrets and certificate authorities are read by
// examples/internal/cli, shared by the examples: a copy of this program
// taken out of the repository needs that package alongside it, or the few
// functions of it that it calls.
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/smtpx"
)

// timeout bounds the whole run: token, connection and submission.
const timeout = 2 * time.Minute

func main() { cli.Main("entra-send", run) }

// run is the whole program; main only adds the process around it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	c, err := parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The failure is reported once, by cli.Main: log lines that only
	// repeat it are dropped.
	logger, debug, reported := cli.OneShot(stderr, c.verbose)
	defer func() { reported(err) }()

	cfg := entra.Config{
		TenantID:   c.tenant,
		ClientID:   c.clientID,
		Cloud:      c.cloud,
		Mailbox:    c.mailbox,
		HTTPClient: cli.HTTPClient(c.tlsConfig),
		Logger:     logger,
	}
	c.credential.Entra(&cfg)

	// The credentials first: a wrong tenant, client or secret is named
	// precisely, before anything else is tried.
	if err := cli.CheckCredentials(ctx, cfg); err != nil {
		return err
	}
	// One token now, so that a token request refused for another reason
	// fails here with the identity provider's own error.
	mb, err := entra.ClientCredentials(ctx, cfg)
	if err != nil {
		return err
	}
	mb.SMTP = c.smtp.Apply(mb.SMTP)

	msg, _, err := cli.Compose(cli.Message{From: c.mailbox, To: c.to, Subject: c.subject, Body: c.body})
	if err != nil {
		return err
	}
	sender := smtpx.NewSender(mb, &smtpx.SenderOptions{
		Options: smtpx.Options{TLSConfig: c.tlsConfig, Logger: logger, Debug: debug},
	})
	err = sender.Send(ctx, smtpx.Envelope{From: c.mailbox, To: c.to}, bytes.NewReader(msg))
	if cerr := sender.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Sent %q from %s to %s through %s (app-only token, %s).\n",
		c.subject, c.mailbox, strings.Join(c.to, ", "), mb.SMTP.Addr(), c.credential.Name())
	return nil
}
