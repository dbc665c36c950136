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
// never from a flag. -authority-host, -smtp-addr and -ca-file point the
// program at other servers, such as the local test servers of its tests.
// On failure it prints the error and what to fix (provider.Diagnose) and
// exits with status 1.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"net/textproto"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/smtpx"
)

// envSecret holds the client secret's value.
const envSecret = "MAILOAUTH_CLIENT_SECRET"

const (
	// codeAuthFailed is SMTP's "535 authentication credentials invalid".
	codeAuthFailed = 535
	// dialTimeout and sessionTimeout bound the connection of the -ca-file
	// path; smtp.SendMail itself has no timeout.
	dialTimeout    = 30 * time.Second
	sessionTimeout = 2 * time.Minute
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		os.Exit(explain(os.Stderr, err))
	}
}

// config is the program's configuration, from flags and environment.
type config struct {
	tenant, clientID, mailbox string
	secret                    string
	to                        []string
	subject, body             string
	authorityHost             string
	smtpAddr                  string // host:port; "": the mailbox's (smtp.office365.com:587)
	caFile                    string
}

// usageError is a mistake on the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// explain prints err and, when provider.Diagnose knows it, what went wrong
// and how to fix it; it returns the exit status.
func explain(w io.Writer, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(w, "netsmtp: %v\n", err)
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(w, "Run netsmtp -h for the flags.")
		return 2
	}
	if d := provider.Diagnose(err); d != nil {
		fmt.Fprintf(w, "What went wrong (%s, %s): %s\nHow to fix it: %s\n", d.Kind, d.Code, d.Summary, d.Fix)
	}
	return 1
}

// parse reads the flags, with defaults from the environment.
func parse(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("netsmtp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	str := func(p *string, name, env, fallback, usage string) {
		def := getenv(env)
		if def == "" {
			def = fallback
		}
		fs.StringVar(p, name, def, usage+" [$"+env+"]")
	}
	c := &config{}
	var to, secretFile string
	str(&c.tenant, "tenant", "MAILOAUTH_TENANT", "", "directory (tenant) ID or verified domain")
	str(&c.clientID, "client-id", "MAILOAUTH_CLIENT_ID", "", "application (client) ID of the app registration")
	str(&c.mailbox, "mailbox", "MAILOAUTH_MAILBOX", "", "mailbox to send from: the login name and the envelope sender")
	str(&to, "to", "MAILOAUTH_TO", "", "recipients, separated by commas")
	str(&c.subject, "subject", "MAILOAUTH_SUBJECT", "mailoauth test message", "subject")
	str(&c.body, "body", "MAILOAUTH_BODY", "This message was sent by net/smtp with an OAuth2 token.", "text of the message")
	str(&secretFile, "secret-file", "MAILOAUTH_CLIENT_SECRET_FILE", "", "file holding the client secret's value (or put the value in $"+envSecret+")")
	str(&c.authorityHost, "authority-host", "MAILOAUTH_AUTHORITY_HOST", "", "login host instead of https://login.microsoftonline.com")
	str(&c.smtpAddr, "smtp-addr", "MAILOAUTH_SMTP_ADDR", "", "SMTP server as host:port instead of smtp.office365.com:587")
	str(&c.caFile, "ca-file", "MAILOAUTH_CA_FILE", "", "PEM file of certificate authorities to trust besides the system's; smtp.SendMail cannot take one, so the program then does its steps itself")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected arguments %q", fs.Args())
	}
	for _, req := range []struct{ v, name string }{{c.tenant, "-tenant"}, {c.clientID, "-client-id"}, {c.mailbox, "-mailbox"}, {to, "-to"}} {
		if strings.TrimSpace(req.v) == "" {
			return nil, usagef("%s is required", req.name)
		}
	}
	for _, a := range strings.Split(to, ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.to = append(c.to, a)
		}
	}
	if c.smtpAddr != "" {
		if _, _, err := net.SplitHostPort(c.smtpAddr); err != nil {
			return nil, usagef("-smtp-addr %q is not host:port", c.smtpAddr)
		}
	}
	c.secret = getenv(envSecret)
	if secretFile != "" {
		if c.secret != "" {
			return nil, usagef("both $%s and -secret-file are set: give the secret once", envSecret)
		}
		b, err := os.ReadFile(secretFile)
		if err != nil {
			return nil, fmt.Errorf("read the client secret: %w", err)
		}
		c.secret = strings.TrimSpace(string(b))
	}
	if c.secret == "" {
		return nil, usagef("no client secret: set $%s or -secret-file", envSecret)
	}
	return c, nil
}

// run is the whole program; main only adds the process around it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	roots, err := trustedRoots(c.caFile)
	if err != nil {
		return err
	}
	cfg := entra.Config{
		TenantID:     c.tenant,
		ClientID:     c.clientID,
		ClientSecret: c.secret,
		Mailbox:      c.mailbox,
		HTTPClient:   httpClient(roots),
	}
	if c.authorityHost != "" {
		cfg.Cloud = entra.Global.WithAuthorityHost(strings.TrimRight(c.authorityHost, "/"))
	}
	// Once, at start-up: the Mailbox caches the token and renews it before
	// it expires, for every SendMail call that follows.
	mb, err := entra.ClientCredentials(ctx, cfg)
	if err != nil {
		return err
	}
	addr := mb.SMTP.Addr()
	if c.smtpAddr != "" {
		addr = c.smtpAddr
		// NetSMTPAuth sends the token only to the mailbox's own server.
		mb.SMTP.Host, _, _ = net.SplitHostPort(addr)
	}

	msg, err := compose(c.mailbox, c.to, c.subject, c.body, time.Now())
	if err != nil {
		return err
	}
	if err := sendWithRetry(ctx, mb, addr, roots, c.mailbox, c.to, msg, stderr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Sent %q from %s to %s through %s with net/smtp.\n", c.subject, c.mailbox, strings.Join(c.to, ", "), addr)
	return nil
}

// sendWithRetry sends msg and, when the server refuses the token (535),
// drops that token and tries once more with a new one: what smtpx.Sender
// does by itself, and net/smtp cannot.
func sendWithRetry(ctx context.Context, mb *provider.Mailbox, addr string, roots *x509.CertPool,
	from string, to []string, msg []byte, stderr io.Writer) error {
	for attempt := 1; ; attempt++ {
		// The token NetSMTPAuth is about to use: the Mailbox's cached one.
		// Taking it here also reports an identity-provider failure before
		// any connection.
		tok, err := mb.Tokens.Token(ctx)
		if err != nil {
			return err
		}
		err = sendMail(addr, smtpx.NetSMTPAuth(mb), from, to, msg, roots)
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

// sendMail is smtp.SendMail, unless roots names certificate authorities
// that SendMail cannot be given: then it takes the same steps itself with
// those roots, requires STARTTLS, and bounds the session with a deadline.
func sendMail(addr string, a smtp.Auth, from string, to []string, msg []byte, roots *x509.CertPool) error {
	if roots == nil {
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
	if err := c.StartTLS(&tls.Config{ServerName: host, RootCAs: roots, MinVersion: tls.VersionTLS12}); err != nil {
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

// trustedRoots returns the system's certificate authorities plus those in
// caFile, or nil (the system's) when caFile is empty.
func trustedRoots(caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read the CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the CA file %s holds no PEM certificate", caFile)
	}
	return pool, nil
}

// httpClient returns the client for the identity provider: TLS 1.2 or
// later, trusting roots (nil: the system's), with a timeout per request.
func httpClient(roots *x509.CertPool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// compose builds a plain-text message in UTF-8 (quoted-printable, so any
// text is safe), with Date and Message-ID.
func compose(from string, to []string, subject, body string, now time.Time) ([]byte, error) {
	var h mail.Header
	h.SetDate(now)
	h.SetAddressList("From", []*mail.Address{{Address: from}})
	rcpts := make([]*mail.Address, len(to))
	for i, a := range to {
		rcpts[i] = &mail.Address{Address: a}
	}
	h.SetAddressList("To", rcpts)
	h.SetSubject(subject)
	domain := from[strings.LastIndexByte(from, '@')+1:]
	if err := h.GenerateMessageIDWithHostname(domain); err != nil {
		return nil, err
	}
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	var buf bytes.Buffer
	w, err := mail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(w, body+"\n"); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
