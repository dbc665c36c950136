// Command google-send sends one message from a Google Workspace mailbox
// through smtp.gmail.com, as a service account that a Workspace admin has
// allowed to act for the domain's users (domain-wide delegation). No user
// signs in; the program signs a short assertion with the service account's
// key for every token.
//
//	go run ./examples/google-send -google-key-file service-account.json \
//		-mailbox helpdesk@example.com -to someone@example.org
//
// # Setup, once per domain
//
//  1. Google Cloud console → IAM & Admin → Service Accounts → Create
//     service account (no roles needed). Open it → Keys → Add key → Create
//     new key → JSON, and keep the downloaded file like a password: it is
//     the credential. Note the service account's Unique ID (a number, also
//     called its client ID).
//  2. Workspace Admin console → Security → Access and data control → API
//     controls → Manage Domain Wide Delegation → Add new: the Unique ID, and
//     the scope https://mail.google.com/ (SMTP and IMAP need exactly this
//     one). Without it Google answers unauthorized_client, which this
//     program explains.
//  3. -mailbox is a user of that Workspace domain, whom the service account
//     acts as: the login name and the envelope sender.
//
// Gmail takes at most 100 recipients per message over SMTP and 2,000
// messages a day from a Workspace user, and blocks sending for up to a day
// beyond that. The smtpx.Sender splits longer recipient lists into several
// transactions and paces messages (20 a minute by default); the daily cap
// is yours to keep.
//
// # Configuration
//
// Every flag has an environment variable (shown in -h); a flag wins. The
// key file's path comes from -google-key-file, $MAILOAUTH_GOOGLE_KEY_FILE
// or $GOOGLE_APPLICATION_CREDENTIALS; its contents never go on the command
// line. -smtp-security tls sends through port 465 (TLS from the start)
// instead of 587 with STARTTLS. -google-base-url, -smtp-host, -smtp-port
// and -ca-file point the program at other servers, such as the local test
// servers of examples/testservers and of its tests. On failure it prints
// the error and what to fix (provider.Diagnose) and exits with status 1 (2
// for a mistake in the flags or the environment).
//
// The flags and certificate authorities are read by examples/internal/cli,
// shared by the examples: a copy of this program taken out of the
// repository needs that package alongside it, or the few functions of it
// that it calls.
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/provider/google"
	"github.com/mailoauth/mailoauth/smtpx"
)

// timeout bounds the whole run: token, connection and submission.
const timeout = 2 * time.Minute

func main() { cli.Main("google-send", run) }

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

	keyJSON, err := os.ReadFile(c.keyFile)
	if err != nil {
		return fmt.Errorf("read the service account key: %w", err)
	}
	// One token now, so that a missing delegation or a bad key fails here
	// with Google's own error.
	mb, err := google.ServiceAccount(ctx, google.Config{
		ServiceAccountKey: keyJSON,
		Mailbox:           c.mailbox,
		BaseURL:           strings.TrimRight(c.baseURL, "/"),
		HTTPClient:        cli.HTTPClient(c.tlsConfig),
		Logger:            logger,
		SMTPImplicitTLS:   c.implicitTLS,
	})
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
	fmt.Fprintf(stdout, "Sent %q from %s to %s through %s (service account with domain-wide delegation).\n",
		c.subject, c.mailbox, strings.Join(c.to, ", "), mb.SMTP.Addr())
	return nil
}
