// Command netsmtp shows how a program that already sends mail with the
// standard library's net/smtp.SendMail gets OAuth2 with one changed line,
// now that Exchange Online retires passwords (Basic authentication) for
// SMTP AUTH. The call that used smtp.PlainAuth takes smtpx.NetSMTPAuth:
//
//	mb, err := entra.ClientCredentials(ctx, cfg) // once, at start-up
//	...
//	err = smtp.SendMail("smtp.office365.com:587", smtpx.NetSMTPAuth(mb), from, to, msg)
//
// Run it with the app registration of examples/entra-send (same setup:
// SMTP.SendAsApp, New-ServicePrincipal, Add-MailboxPermission, SMTP AUTH
// enabled for the mailbox):
//
//	export MAILOAUTH_CLIENT_SECRET='<the secret's Value>'
//	go run ./examples/netsmtp -tenant contoso.onmicrosoft.com \
//		-client-id 00000000-0000-0000-0000-000000000000 \
//		-mailbox notifications@contoso.com -to someone@example.com
//
// # What net/smtp can and cannot do
//
// NetSMTPAuth gives net/smtp the token; the rest is net/smtp's, which the Go
// team has frozen. Know its limits before keeping it:
//
//   - SendMail trusts only the system's certificate authorities and has no
//     way to be given others. For a server with a private CA (and for the
//     test servers of this program's tests) this program does SendMail's
//     steps itself with smtp.Client and the CA of -ca-file, and then
//     insists on STARTTLS.
//   - SendMail uses STARTTLS only when the server offers it; without it,
//     NetSMTPAuth refuses to send the token unless the server is on a
//     loopback address, as smtp.PlainAuth refuses the password.
//   - There is no implicit TLS (port 465) in SendMail, and no timeout or
//     context: a server that stops answering blocks the call for ever.
//   - A refused token is not retried. When the server sends an error
//     challenge NetSMTPAuth drops the token, but Exchange Online answers
//     535 5.7.3 at once, so this program drops it itself and tries once
//     more (see sendWithRetry).
//   - Each call opens a new connection and logs in again.
//
// For new code, smtpx.Sender does all of this (pooling, pacing to the
// provider's limits, retries, a context) and is what examples/entra-send
// uses.
//
// Every flag has an environment variable (shown in -h). The client secret
// comes from MAILOAUTH_CLIENT_SECRET or the file named by -secret-file,
// never from a flag; -secret-expires warns before it expires; -cert-file
// signs in with a certificate instead. -cloud picks a national cloud;
// -authority-host, -smtp-host, -smtp-port and -ca-file point the program
// at other servers, such as the local test servers of examples/testservers
// and of its tests.
// On failure it prints the error and what to fix (provider.Diagnose) and
// exits with status 1 (2 for a mistake in the flags or the environment).
//
// The flags, the secret and the certificate authorities are read by
// examples/internal/cli, shared by the examples: a copy of this program
// taken out of the repository needs that package alongside it, or the few
// functions of it that it calls.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/smtpx"
)

const (
	// codeAuthFailed is SMTP's "535 authentication credentials invalid".
	codeAuthFailed = 535
	// dialTimeout and sessionTimeout bound the connection of the -ca-file
	// path; smtp.SendMail itself has no timeout.
	dialTimeout    = 30 * time.Second
	sessionTimeout = 2 * time.Minute
)

func main() { cli.Main("netsmtp", run) }

// run is the whole program; main only adds the process around it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	cfg := entra.Config{
		TenantID:   c.tenant,
		ClientID:   c.clientID,
		Cloud:      c.cloud,
		Mailbox:    c.mailbox,
		HTTPClient: cli.HTTPClient(c.tlsConfig),
		Logger:     cli.TextLogger(stderr, slog.LevelInfo), // the secret's expiry warnings
	}
	c.credential.Entra(&cfg)
	// The credentials first: a wrong tenant, client or secret is named
	// precisely.
	if err := cli.CheckCredentials(ctx, cfg); err != nil {
		return err
	}
	// Once, at start-up: the Mailbox caches the token and renews it before
	// it expires, for every SendMail call that follows.
	mb, err := entra.ClientCredentials(ctx, cfg)
	if err != nil {
		return err
	}
	// NetSMTPAuth sends the token only to the mailbox's own server, so a
	// server set by -smtp-host becomes the mailbox's.
	mb.SMTP = c.smtp.Apply(mb.SMTP)
	addr := mb.SMTP.Addr()

	msg, _, err := cli.Compose(cli.Message{From: c.mailbox, To: c.to, Subject: c.subject, Body: c.body})
	if err != nil {
		return err
	}
	if err := sendWithRetry(ctx, mb, addr, c.tlsConfig, c.mailbox, c.to, msg, stderr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Sent %q from %s to %s through %s with net/smtp.\n", c.subject, c.mailbox, strings.Join(c.to, ", "), addr)
	return nil
}

// sendWithRetry sends msg and, when the server refuses the token (535),
// drops that token and tries once more with a new one: what smtpx.Sender
// does by itself, and net/smtp cannot.
func sendWithRetry(ctx context.Context, mb *provider.Mailbox, addr string, tlsConfig *tls.Config,
	from string, to []string, msg []byte, stderr io.Writer) error {
	for attempt := 1; ; attempt++ {
		// The token NetSMTPAuth is about to use: the Mailbox's cached one.
		// Taking it here also reports an identity-provider failure before
		// any connection.
		tok, err := mb.Tokens.Token(ctx)
		if err != nil {
			return err
		}
		err = sendMail(addr, smtpx.NetSMTPAuth(mb), from, to, msg, tlsConfig)
		var te *textproto.Error
		if attempt == 1 && errors.As(err, &te) && te.Code == codeAuthFailed {
			fmt.Fprintf(stderr, "netsmtp: the server refused the token (%d %s); trying once more with a new one\n", te.Code, te.Msg)
			mb.Tokens.Invalidate(tok)
			continue
		}
		if errors.As(err, &te) {
			return &replyError{te}
		}
		return err
	}
}

// replyError shows a server's reply as the server wrote it: net/smtp's
// textproto.Error quotes the text (535 "5.7.3 ..."), which hides the
// enhanced status code from readers and from provider.Diagnose.
type replyError struct{ reply *textproto.Error }

func (e *replyError) Error() string { return fmt.Sprintf("smtp: %d %s", e.reply.Code, e.reply.Msg) }

func (e *replyError) Unwrap() error { return e.reply }

// sendMail is smtp.SendMail, unless tlsConfig trusts certificate
// authorities that SendMail cannot be given: then it takes the same steps
// itself with that configuration, requires STARTTLS, and bounds the
// session with a deadline.
func sendMail(addr string, a smtp.Auth, from string, to []string, msg []byte, tlsConfig *tls.Config) error {
	if tlsConfig == nil {
		return smtp.SendMail(addr, a, from, to, msg)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	conn, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		return err
	}
	if err := conn.SetDeadline(time.Now().Add(sessionTimeout)); err != nil {
		conn.Close()
		return err
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return fmt.Errorf("%s offers no STARTTLS; the token is not sent", addr)
	}
	cfg := tlsConfig.Clone()
	cfg.ServerName = host
	if err := c.StartTLS(cfg); err != nil {
		return err
	}
	if err := c.Auth(a); err != nil {
		return err
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
