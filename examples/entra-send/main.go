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
//
// -cloud picks the login host and Exchange servers of a national cloud
// (global, usgov, usgovdod, china). -authority-host, -smtp-host,
// -smtp-port, -smtp-security and -ca-file point the program somewhere
// else, such as the local test servers its tests use.
//
// On failure it prints the error and what to fix (provider.Diagnose), and
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
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/smtpx"
)

// Environment variables read besides the flags' own.
const (
	envSecret       = "MAILOAUTH_CLIENT_SECRET"
	envCertPassword = "MAILOAUTH_CERT_PASSWORD"
)

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
	tenant, clientID, mailbox string
	to                        []string
	subject, body             string
	cloud                     entra.Cloud
	secret                    string // from the environment or -secret-file
	certFile                  string
	certPassword              string
	secretExpires             time.Time
	authorityHost             string
	smtp                      serverOverride
	caFile                    string
	verbose                   bool
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
	fmt.Fprintf(w, "entra-send: %v\n", err)
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(w, "Run entra-send -h for the flags.")
		return 2
	}
	if d := provider.Diagnose(err); d != nil {
		fmt.Fprintf(w, "What went wrong (%s, %s): %s\nHow to fix it: %s\n", d.Kind, d.Code, d.Summary, d.Fix)
	}
	return 1
}

// parse reads the flags, with defaults from the environment, and the
// secret from the environment or its file.
func parse(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("entra-send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	str := func(p *string, name, env, fallback, usage string) {
		def := getenv(env)
		if def == "" {
			def = fallback
		}
		fs.StringVar(p, name, def, usage+" [$"+env+"]")
	}
	c := &config{}
	var to, cloud, secretFile, secretExpires, port string
	str(&c.tenant, "tenant", "MAILOAUTH_TENANT", "", "directory (tenant) ID or verified domain, e.g. contoso.onmicrosoft.com")
	str(&c.clientID, "client-id", "MAILOAUTH_CLIENT_ID", "", "application (client) ID of the app registration")
	str(&c.mailbox, "mailbox", "MAILOAUTH_MAILBOX", "", "mailbox to send from: the login name and the envelope sender")
	str(&to, "to", "MAILOAUTH_TO", "", "recipients, separated by commas")
	str(&c.subject, "subject", "MAILOAUTH_SUBJECT", "mailoauth test message", "subject")
	str(&c.body, "body", "MAILOAUTH_BODY", "This message was sent with an app-only OAuth2 token.", "text of the message")
	str(&cloud, "cloud", "MAILOAUTH_CLOUD", "global", "Microsoft cloud: global, usgov, usgovdod or china")
	str(&secretFile, "secret-file", "MAILOAUTH_CLIENT_SECRET_FILE", "", "file holding the client secret's value (or put the value in $"+envSecret+")")
	str(&c.certFile, "cert-file", "MAILOAUTH_CERT_FILE", "", "certificate credential instead of a secret: PEM with the certificate and its key, or .pfx/.p12 (password in $"+envCertPassword+")")
	str(&secretExpires, "secret-expires", "MAILOAUTH_SECRET_EXPIRES", "", "the client secret's expiry date, e.g. 2027-03-01: warnings are logged 30, 7 and 1 days before")
	str(&c.authorityHost, "authority-host", "MAILOAUTH_AUTHORITY_HOST", "", "login host instead of the cloud's, e.g. https://login.microsoftonline.com")
	str(&c.smtp.host, "smtp-host", "MAILOAUTH_SMTP_HOST", "", "SMTP server instead of the cloud's")
	str(&port, "smtp-port", "MAILOAUTH_SMTP_PORT", "", "SMTP port instead of the cloud's (587)")
	str(&c.smtp.security, "smtp-security", "MAILOAUTH_SMTP_SECURITY", "", "starttls, tls (implicit) or plaintext (loopback only); default: the cloud's (starttls)")
	str(&c.caFile, "ca-file", "MAILOAUTH_CA_FILE", "", "PEM file of certificate authorities to trust besides the system's, for the login host and the SMTP server")
	fs.BoolVar(&c.verbose, "v", false, "print the SMTP dialogue (tokens redacted) and debug logs to stderr")
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
	var err error
	if c.cloud, err = cloudNamed(cloud); err != nil {
		return nil, err
	}
	if port != "" {
		if c.smtp.port, err = strconv.Atoi(port); err != nil || c.smtp.port <= 0 || c.smtp.port > 65535 {
			return nil, usagef("-smtp-port %q is not a port number", port)
		}
	}
	if _, err := securityNamed(c.smtp.security); err != nil {
		return nil, err
	}
	if secretExpires != "" {
		if c.secretExpires, err = time.Parse(time.DateOnly, secretExpires); err != nil {
			return nil, usagef("-secret-expires %q is not a date like 2027-03-01", secretExpires)
		}
	}

	// Exactly one credential: a secret (environment or file) or a certificate.
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
		if c.secret == "" {
			return nil, usagef("the secret file %s is empty", secretFile)
		}
	}
	c.certPassword = getenv(envCertPassword)
	switch {
	case c.secret != "" && c.certFile != "":
		return nil, usagef("both a client secret and -cert-file are given: choose one credential")
	case c.secret == "" && c.certFile == "":
		return nil, usagef("no credential: set $%s, -secret-file or -cert-file", envSecret)
	}
	return c, nil
}

// cloudNamed returns the Microsoft cloud called name.
func cloudNamed(name string) (entra.Cloud, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", "global":
		return entra.Global, nil
	case "usgov", "gcchigh":
		return entra.USGovernment, nil
	case "usgovdod", "dod":
		return entra.USGovernmentDoD, nil
	case "china":
		return entra.China, nil
	}
	return entra.Cloud{}, usagef("-cloud %q: want global, usgov, usgovdod or china", name)
}

// securityNamed parses -smtp-security; "" keeps the cloud's.
func securityNamed(name string) (sec provider.Security, err error) {
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

	roots, err := trustedRoots(c.caFile)
	if err != nil {
		return err
	}
	cfg := entra.Config{
		TenantID:        c.tenant,
		ClientID:        c.clientID,
		ClientSecret:    c.secret,
		SecretExpiresAt: c.secretExpires,
		Cloud:           c.cloud,
		Mailbox:         c.mailbox,
		HTTPClient:      httpClient(roots),
		Logger:          logger,
	}
	if c.authorityHost != "" {
		cfg.Cloud = cfg.Cloud.WithAuthorityHost(strings.TrimRight(c.authorityHost, "/"))
	}
	credential := "client secret"
	if c.certFile != "" {
		if cfg.Certificate, err = loadCertificate(c.certFile, c.certPassword); err != nil {
			return err
		}
		credential = "certificate " + cfg.Certificate.Thumbprint()
	}

	// One token now, so that a wrong tenant, client or credential fails
	// here with the identity provider's own error.
	mb, err := entra.ClientCredentials(ctx, cfg)
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
	fmt.Fprintf(stdout, "Sent %q from %s to %s through %s (app-only token, %s).\n",
		c.subject, c.mailbox, strings.Join(c.to, ", "), mb.SMTP.Addr(), credential)
	return nil
}

// loadCertificate reads a certificate credential: PEM (certificate and
// private key in one file) or PKCS#12 (.pfx, .p12).
func loadCertificate(path, password string) (*entra.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the certificate: %w", err)
	}
	var cert *entra.Certificate
	if bytes.Contains(data, []byte("-----BEGIN")) {
		cert, err = entra.ParseCertificatePEM(data)
	} else {
		cert, err = entra.ParseCertificatePKCS12(data, password)
	}
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", path, err)
	}
	return cert, nil
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
// later, trusting roots (nil: the system's), with a timeout.
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
