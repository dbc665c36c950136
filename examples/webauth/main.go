// Command webauth is a minimal mail-settings page, the kind a helpdesk
// shows its administrator: it names the callback URL to register, has an
// "Authorize mailbox" button that runs the authorization-code flow with PKCE
// at Microsoft Entra ID or Google, shows the stored grant and its state
// (authorized, access-token expiry, the last error with its diagnosis), and
// has a "Send a test" button that sends one message through SMTP with the
// stored grant.
//
// Setup for Entra ID: in App registrations, register the app, add a Web
// redirect URI equal to the callback URL the page shows (by default
// http://127.0.0.1:8080/oauth/callback), add the delegated permissions
// SMTP.Send, IMAP.AccessAsUser.All and offline_access, and create a client
// secret. Then:
//
//	export MAILOAUTH_CLIENT_SECRET='<the secret value>'
//	export MAILOAUTH_STORE_KEY="$(openssl rand -base64 32)"   # optional: encrypt the stored grant
//	go run ./examples/webauth -tenant <tenant id> -client-id <client id> -mailbox helpdesk@contoso.com
//
// Setup for Google: create an OAuth client of type Web application with the
// callback URL as an authorized redirect URI, and publish the consent screen
// (in Testing, refresh tokens die after 7 days). Then:
//
//	go run ./examples/webauth -provider google -google-client-json client_secret.json -mailbox helpdesk@example.com
//
// At start, the program asks Entra ID whether the app's credentials work
// (entra.ProbeCredentials) and refuses to start, with the diagnosis, when
// they do not: nobody consents for an app that cannot redeem the grant.
// -secret-file reads the secret from a file instead, and -secret-expires,
// its expiry date, has the program warn before it expires.
//
// Open the page, press "Authorize mailbox", sign in as the mailbox (or as
// an account with rights to it) and consent; the grant is saved in the
// folder -store, encrypted when MAILOAUTH_STORE_KEY (or the file of
// -store-key-file) holds a key (keep it: it opens the grant). When the
// identity provider refuses, or the grant cannot be redeemed or saved,
// the browser comes back to the page, which shows the mailbox as it is and
// the failure with its diagnosis. "Send a test" sends a message from the mailbox to
// -to (default: the mailbox). examples/mailgate and examples/doctor
// use the same grant with -grant delegated and this -store.
//
// The page listens on 127.0.0.1 only. To serve it to other machines, put it
// behind an HTTPS reverse proxy and set -public-url to the address users
// open: the callback URL is derived from it, and both buttons are protected
// by a CSRF token.
//
// Every setting can also be given by the environment variable named in -h
// (MAILOAUTH_TENANT, MAILOAUTH_CLIENT_ID, ...). -cloud selects a national
// Microsoft cloud; -authority-host, -google-base-url, -smtp-host,
// -smtp-port, -smtp-security and -ca-file point the program at other
// servers: its tests run it against providertest and smtpxtest (one of
// them in a real headless Chromium), and examples/testservers starts them
// for a try from the shell.
//
// The flags, secrets, grant folder and certificate authorities are read by
// examples/internal/cli, shared by the examples: a copy of this program
// taken out of the repository needs that package alongside it, or the few
// functions of it that it calls.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
)

const (
	// shutdownTimeout bounds how long requests in flight may finish after
	// the program is told to stop.
	shutdownTimeout = 10 * time.Second
	// probeTimeout bounds the check of the credentials at start.
	probeTimeout = 30 * time.Second
)

func main() { cli.Main("webauth", run) }

// run parses the configuration, serves the page until ctx is done, and
// returns nil after a clean shutdown.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	if err := checkCredentials(ctx, cfg); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	if cfg.publicURL == "" {
		cfg.publicURL = "http://" + ln.Addr().String()
	}
	a, err := newApp(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           a,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.logger.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(stdout, "Mail settings page: %s/\n", strings.TrimRight(cfg.publicURL, "/"))
	fmt.Fprintf(stdout, "Register this callback URL: %s\n", a.callbackURL)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	<-served
	return nil
}

// checkCredentials asks Entra ID whether the app's credentials work before
// the page offers to authorize anything: with a wrong secret the program
// refuses to start, with the diagnosis, instead of failing after the user
// has consented. It logs the secret's coming expiry for Google, whose
// package does not.
func checkCredentials(ctx context.Context, cfg config) error {
	if cfg.provider == "google" {
		cfg.credential.WarnExpiry(ctx, cfg.logger, time.Now())
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	return cli.CheckCredentials(ctx, cfg.entra)
}
