// Command google-send sends one message from a Google Workspace mailbox
// through smtp.gmail.com, as a service account that a Workspace admin has
// allowed to act for the domain's users (domain-wide delegation). No user
// signs in; the program signs a short assertion with the service account's
// key for every token.
//
//	go run ./examples/google-send -key-file service-account.json \
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
// key file's path comes from -key-file, $MAILOAUTH_GOOGLE_KEY_FILE or
// $GOOGLE_APPLICATION_CREDENTIALS; its contents never go on the command
// line. -implicit-tls sends through port 465 instead of 587 with STARTTLS.
// -token-base-url, -smtp-host, -smtp-port, -smtp-security and -ca-file
// point the program at other servers, such as the local test servers of
// its tests. On failure it prints the error and what to fix
// (provider.Diagnose) and exits with status 1.
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
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/google"
	"github.com/mailoauth/mailoauth/smtpx"
)

// envKeyFileFallback is the variable Google's own tools read the key file
// path from.
const envKeyFileFallback = "GOOGLE_APPLICATION_CREDENTIALS"

// timeout bounds the whole run: token, connection and submission.
const timeout = 2 * time.Minute

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
	keyFile       string
	mailbox       string
	to            []string
	subject, body string
	implicitTLS   bool
	tokenBaseURL  string
	smtp          serverOverride
	caFile        string
	verbose       bool
}

// serverOverride replaces the parts of a provider.Server that are set.
type serverOverride struct {
	host     string
	port     int
	security string
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
	fmt.Fprintf(w, "google-send: %v\n", err)
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(w, "Run google-send -h for the flags.")
		return 2
	}
	if d := provider.Diagnose(err); d != nil {
		fmt.Fprintf(w, "What went wrong (%s, %s): %s\nHow to fix it: %s\n", d.Kind, d.Code, d.Summary, d.Fix)
	}
	return 1
}

// parse reads the flags, with defaults from the environment.
func parse(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("google-send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	str := func(p *string, name, env, fallback, usage string) {
		def := getenv(env)
		if def == "" {
			def = fallback
		}
		fs.StringVar(p, name, def, usage+" [$"+env+"]")
	}
	c := &config{}
	var to, port string
	str(&c.keyFile, "key-file", "MAILOAUTH_GOOGLE_KEY_FILE", getenv(envKeyFileFallback), "the service account's JSON key file (else $"+envKeyFileFallback+")")
	str(&c.mailbox, "mailbox", "MAILOAUTH_MAILBOX", "", "Workspace user the service account acts as: the login name and the envelope sender")
	str(&to, "to", "MAILOAUTH_TO", "", "recipients, separated by commas")
	str(&c.subject, "subject", "MAILOAUTH_SUBJECT", "mailoauth test message", "subject")
	str(&c.body, "body", "MAILOAUTH_BODY", "This message was sent by a service account with domain-wide delegation.", "text of the message")
	fs.BoolVar(&c.implicitTLS, "implicit-tls", false, "send through smtp.gmail.com:465 (TLS from the start) instead of 587 with STARTTLS")
	str(&c.tokenBaseURL, "token-base-url", "MAILOAUTH_GOOGLE_BASE_URL", "", "base URL of the token endpoint (base + /token) instead of https://oauth2.googleapis.com")
	str(&c.smtp.host, "smtp-host", "MAILOAUTH_SMTP_HOST", "", "SMTP server instead of smtp.gmail.com")
	str(&port, "smtp-port", "MAILOAUTH_SMTP_PORT", "", "SMTP port instead of 587 (465 with -implicit-tls)")
	str(&c.smtp.security, "smtp-security", "MAILOAUTH_SMTP_SECURITY", "", "starttls, tls (implicit) or plaintext (loopback only); default: Gmail's")
	str(&c.caFile, "ca-file", "MAILOAUTH_CA_FILE", "", "PEM file of certificate authorities to trust besides the system's, for the token endpoint and the SMTP server")
	fs.BoolVar(&c.verbose, "v", false, "print the SMTP dialogue (tokens redacted) and debug logs to stderr")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected arguments %q", fs.Args())
	}
	for _, req := range []struct{ v, name string }{{c.keyFile, "-key-file"}, {c.mailbox, "-mailbox"}, {to, "-to"}} {
		if strings.TrimSpace(req.v) == "" {
			return nil, usagef("%s is required", req.name)
		}
	}
	for _, a := range strings.Split(to, ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.to = append(c.to, a)
		}
	}
	if port != "" {
		var err error
		if c.smtp.port, err = strconv.Atoi(port); err != nil || c.smtp.port <= 0 || c.smtp.port > 65535 {
			return nil, usagef("-smtp-port %q is not a port number", port)
		}
	}
	if _, err := securityNamed(c.smtp.security); err != nil {
		return nil, err
	}
	return c, nil
}

// securityNamed parses -smtp-security; "" keeps Gmail's.
func securityNamed(name string) (provider.Security, error) {
	switch strings.ToLower(name) {
	case "", "starttls":
		return provider.StartTLS, nil
	case "tls", "implicittls", "ssl":
		return provider.ImplicitTLS, nil
	case "plaintext":
		return provider.Plaintext, nil
	}
	return 0, usagef("-smtp-security %q: want starttls, tls or plaintext", name)
}

// apply returns s with the overrides that are set.
func (o serverOverride) apply(s provider.Server) provider.Server {
	if o.host != "" {
		s.Host = o.host
	}
	if o.port != 0 {
		s.Port = o.port
	}
	if o.security != "" {
		s.Security, _ = securityNamed(o.security) // checked by parse
	}
	return s
}

// run is the whole program; main only adds the process around it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	level := slog.LevelInfo
	var debug io.Writer
	if c.verbose {
		level, debug = slog.LevelDebug, stderr
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	keyJSON, err := os.ReadFile(c.keyFile)
	if err != nil {
		return fmt.Errorf("read the service account key: %w", err)
	}
	roots, err := trustedRoots(c.caFile)
	if err != nil {
		return err
	}
	opts := []google.Option{google.WithHTTPClient(httpClient(roots)), google.WithLogger(logger)}
	if c.implicitTLS {
		opts = append(opts, google.WithSMTPImplicitTLS())
	}
	if c.tokenBaseURL != "" {
		opts = append(opts, google.WithBaseURL(strings.TrimRight(c.tokenBaseURL, "/")))
	}
	// One token now, so that a missing delegation or a bad key fails here
	// with Google's own error.
	mb, err := google.ServiceAccount(ctx, keyJSON, c.mailbox, opts...)
	if err != nil {
		return err
	}
	mb.SMTP = c.smtp.apply(mb.SMTP)

	msg, err := compose(c.mailbox, c.to, c.subject, c.body, time.Now())
	if err != nil {
		return err
	}
	sender := smtpx.NewSender(mb, smtpx.SenderOptions{
		Options: smtpx.Options{TLSConfig: &tls.Config{RootCAs: roots}, Logger: logger, Debug: debug},
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

// httpClient returns the client for the token endpoint: TLS 1.2 or later,
// trusting roots (nil: the system's), with a timeout per request.
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
