// Command entra-authorize authorizes a Microsoft 365 mailbox once with the
// device code flow, keeps the grant (its refresh token) in a folder, and
// sends a test message with it. Run again, it finds the grant and only
// sends: the refresh token is renewed and saved as it is used. This is
// delegated access: a person who may use the mailbox (its owner, or someone
// with FullAccess to a shared mailbox) signs in once; no admin-wide
// permission over every mailbox is needed.
//
//	export MAILOAUTH_STORE_KEY=$(openssl rand -base64 32)   # keep it: it opens the saved grant
//	go run ./examples/entra-authorize -tenant contoso.onmicrosoft.com \
//		-client-id 00000000-0000-0000-0000-000000000000 -mailbox helpdesk@contoso.com
//
// The program prints a code and https://microsoft.com/devicelogin; open the
// page on any device, enter the code, sign in and accept. The grant is saved
// in -store (default: the user's config folder, mailoauth/entra-authorize),
// one file per mailbox, readable by its owner only (0600) and, when
// MAILOAUTH_STORE_KEY holds a base64 32-byte key, encrypted with AES-256-GCM
// so that the file alone does not give access to the mailbox.
//
// # Setup, once per tenant
//
//  1. Entra admin center → App registrations → New registration. Note the
//     Application (client) ID and the Directory (tenant) ID.
//  2. Authentication → Advanced settings → Allow public client flows: Yes.
//     The device code flow then needs no secret. (A confidential app can use
//     it too: put its secret in MAILOAUTH_CLIENT_SECRET or -secret-file.)
//  3. API permissions → Add a permission → Microsoft Graph → Delegated
//     permissions: offline_access, SMTP.Send and IMAP.AccessAsUser.All (the
//     portal lists them under Microsoft Graph; the tokens are for Exchange
//     Online). Grant admin consent, or let the user consent when signing in.
//  4. SMTP AUTH must be enabled for the mailbox (OAuth does not bypass the
//     switch; security defaults turn it off), in Exchange Online PowerShell:
//     Set-CASMailbox -Identity helpdesk@contoso.com -SmtpClientAuthenticationDisabled $false
//
// -tenant is the tenant the app is registered in (what a single-tenant app
// needs), or "organizations" for a multi-tenant app used by other tenants.
//
// # Configuration
//
// Every flag has an environment variable (shown in -h); a flag wins.
// Secrets never go on the command line: the store key comes from
// MAILOAUTH_STORE_KEY or the file of -store-key-file, an optional client
// secret from MAILOAUTH_CLIENT_SECRET or the file of -secret-file (with
// -secret-expires, its expiry date, to be warned in time). The credentials
// are checked with Entra ID before the device code is shown. -force
// authorizes again even when a grant is stored; -send=false only
// authorizes.
//
// -cloud picks a national cloud (global, usgov, usgovdod, china);
// -authority-host, -smtp-host, -smtp-port, -smtp-security and -ca-file point
// the program at other servers, such as the local test servers of
// examples/testservers (which approves the device code at once) and of its
// tests. On failure it prints the error and what to fix (provider.Diagnose)
// and exits with status 1 (2 for a mistake in the flags or the
// environment).
//
// The flags, the grant folder and the certificate authorities are handled
// by examples/internal/cli, shared by the examples: a copy of this program
// taken out of the repository needs that package alongside it, or the few
// functions of it that it calls.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/provider/authorize"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/smtpx"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// timeout bounds the whole run; the device code itself expires after 15
// minutes.
const timeout = 20 * time.Minute

func main() {
	cli.Main("entra-authorize", func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
		return run(ctx, args, getenv, stdout, stderr)
	})
}

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
	c.credential.Entra(&cfg) // none: a public client

	rec, err := c.store.Load(ctx, cfg.Key())
	switch {
	case err == nil && !c.force:
		fmt.Fprintf(stdout, "%s is already authorized (grant saved %s); -force authorizes again.\n",
			c.mailbox, rec.UpdatedAt.Local().Format(time.DateTime))
	case err == nil || errors.Is(err, tokenstore.ErrNotFound):
		// The credentials first, so that nobody signs in for an app that
		// cannot redeem the grant.
		if err := cli.CheckCredentials(ctx, cfg); err != nil {
			return err
		}
		if err := authorizeDevice(ctx, cfg, c.store, stdout); err != nil {
			return err
		}
		how := "not encrypted: set " + cli.EnvStoreKey + " or -store-key-file to encrypt it"
		if c.encrypted {
			how = "encrypted"
		}
		fmt.Fprintf(stdout, "Authorized %s. The grant is saved in %s (%s).\n", c.mailbox, c.storeDir, how)
	default:
		return fmt.Errorf("read the stored grant: %w", err)
	}
	if !c.send {
		return nil
	}

	// Delegated refreshes the access token from the stored grant and saves
	// each new refresh token before using the access token it came with.
	mb, err := entra.Delegated(ctx, cfg, c.store)
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
	fmt.Fprintf(stdout, "Sent %q from %s to %s through %s.\n", c.subject, c.mailbox, strings.Join(c.to, ", "), mb.SMTP.Addr())
	return nil
}

// authorizeDevice runs the device code flow and saves the grant in store.
// The flow polls at the interval Entra names, on the wall clock.
func authorizeDevice(ctx context.Context, cfg entra.Config, store tokenstore.Store, stdout io.Writer) error {
	flow, err := entra.NewDeviceFlow(cfg, store)
	if err != nil {
		return err
	}
	_, err = flow.Authorize(ctx, func(p authorize.DevicePrompt) error {
		fmt.Fprintf(stdout, "To authorize %s, open %s on any device and enter the code %s\n", cfg.Mailbox, p.VerificationURI, p.UserCode)
		fmt.Fprintf(stdout, "(sign in as the mailbox's owner or someone with access to it; the code expires in %v).\n", p.ExpiresIn.Round(time.Minute))
		fmt.Fprintln(stdout, "Waiting for the sign-in...")
		return nil
	})
	if err != nil {
		return fmt.Errorf("device authorization of %s: %w", cfg.Mailbox, err)
	}
	return nil
}
