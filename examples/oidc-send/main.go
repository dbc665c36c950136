// Command oidc-send sends one message through a mail server that accepts
// the tokens of a standards-following OAuth 2.0 authorization server or
// OpenID provider: Dovecot or Stalwart with Keycloak, Authentik, Zitadel or
// any other. It is entra-send for every other identity provider: the
// server is found from its issuer URL (discovery), the client
// authenticates the way the server's metadata allows.
//
//	export MAILOAUTH_CLIENT_SECRET='<the client secret>'
//	go run ./examples/oidc-send -issuer https://sso.example.com/realms/mail \
//		-client-id helpdesk -scope mail -mailbox helpdesk@example.com \
//		-smtp-host mail.example.com -to someone@example.com
//
// With -grant app (the default) the client itself holds the right to the
// mailbox (client credentials): the server must put the mailbox into the
// client's tokens the way the mail server reads it (Dovecot: the claim of
// its username_attribute). With -grant delegated a person signs in once
// with the device code the program shows; the grant is saved in -store and
// used, and its rotated refresh tokens saved, on every later run.
//
// The client secret comes from MAILOAUTH_CLIENT_SECRET or the file of
// -secret-file, never a flag; -key-file names a PEM private key instead,
// for private_key_jwt (with -key-id, its kid). -auth-method forces a
// method; by default the server's metadata and the credential decide.
// -scope names the scopes, -resource the resource indicators (RFC 8707)
// of the mail server. -smtp-host, -smtp-port, -smtp-security and -ca-file
// name the mail server. The README's "Any OAuth2 server" section has the
// settings of Dovecot, Keycloak and Authentik for it.
//
// On failure it prints the error and what to fix (provider.Diagnose, in
// the program's flags), once, and exits with status 1 (2 for a mistake in
// the flags or the environment).
//
// The flags, secrets and certificate authorities are read by
// examples/internal/cli, shared by the examples: a copy of this program
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
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/authorize"
	"github.com/mailoauth/mailoauth/provider/oidc"
	"github.com/mailoauth/mailoauth/smtpx"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// timeout bounds the whole run, a device authorization's wait included.
const timeout = 15 * time.Minute

func main() { cli.Main("oidc-send", run) }

// run is the whole program; main only adds the process around it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	c, err := parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The failure is reported once, by cli.Main.
	logger, debug, reported := cli.OneShot(stderr, c.verbose)
	defer func() { reported(err) }()
	c.oidc.Logger = logger

	var mb *provider.Mailbox
	how := "app-only token"
	if c.delegated {
		how = "delegated grant"
		if mb, err = delegated(ctx, c.oidc, c.store, stdout); err != nil {
			return err
		}
	} else if mb, err = oidc.ClientCredentials(ctx, c.oidc); err != nil {
		return err
	}

	msg, _, err := cli.Compose(cli.Message{From: c.oidc.Mailbox, To: c.to, Subject: c.subject, Body: c.body})
	if err != nil {
		return err
	}
	sender := smtpx.NewSender(mb, &smtpx.SenderOptions{Options: smtpx.Options{TLSConfig: c.tlsConfig, Logger: logger, Debug: debug}})
	err = sender.Send(ctx, smtpx.Envelope{From: c.oidc.Mailbox, To: c.to}, bytes.NewReader(msg))
	if cerr := sender.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Sent %q from %s to %s through %s (%s).\n", c.subject, c.oidc.Mailbox, strings.Join(c.to, ", "), mb.SMTP.Addr(), how)
	return nil
}

// delegated returns the Mailbox of the grant stored for cfg, after a
// device authorization when none is stored yet.
func delegated(ctx context.Context, cfg oidc.Config, store tokenstore.Store, stdout io.Writer) (*provider.Mailbox, error) {
	if _, err := store.Load(ctx, cfg.Key()); errors.Is(err, tokenstore.ErrNotFound) {
		flow, err := oidc.NewDeviceFlow(ctx, cfg, store)
		if err != nil {
			return nil, err
		}
		_, err = flow.Authorize(ctx, func(p authorize.DevicePrompt) error {
			fmt.Fprintf(stdout, "To authorize %s, open %s and enter the code %s (it expires in %v).\n",
				cfg.Mailbox, p.VerificationURI, p.UserCode, p.ExpiresIn.Round(time.Minute))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("device authorization of %s: %w", cfg.Mailbox, err)
		}
		fmt.Fprintf(stdout, "Authorized %s.\n", cfg.Mailbox)
	} else if err != nil {
		return nil, fmt.Errorf("read the stored grant: %w", err)
	}
	return oidc.Delegated(ctx, cfg, store)
}
