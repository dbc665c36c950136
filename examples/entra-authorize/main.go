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
//     it too: put its secret in MAILOAUTH_CLIENT_SECRET.)
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
// MAILOAUTH_STORE_KEY, an optional client secret from MAILOAUTH_CLIENT_SECRET.
// -force authorizes again even when a grant is stored; -send=false only
// authorizes.
//
// -cloud picks a national cloud (global, usgov, usgovdod, china);
// -authority-host, -smtp-host, -smtp-port, -smtp-security and -ca-file point
// the program at other servers, such as the local test servers of its
// tests. On failure it prints the error and what to fix (provider.Diagnose)
// and exits with status 1.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/smtpx"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// Environment variables read besides the flags' own.
const (
	envSecret   = "MAILOAUTH_CLIENT_SECRET"
	envStoreKey = "MAILOAUTH_STORE_KEY"
)

const (
	// storeKeySize is the length of an AES-256 key.
	storeKeySize = 32
	// timeout bounds the whole run; the device code itself expires after
	// 15 minutes.
	timeout = 20 * time.Minute
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil)
	stop()
	if err != nil {
		os.Exit(explain(os.Stderr, err))
	}
}

// config is the program's configuration, from flags and environment.
type config struct {
	tenant, clientID, mailbox string
	secret                    string
	storeDir                  string
	storeKey                  []byte // nil: records are not encrypted
	force, send               bool
	to                        []string
	subject, body             string
	cloud                     entra.Cloud
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

// usageError is a mistake on the command line or in the environment.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// explain prints err and, when provider.Diagnose knows it, what went wrong
// and how to fix it; it returns the exit status.
func explain(w io.Writer, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(w, "entra-authorize: %v\n", err)
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(w, "Run entra-authorize -h for the flags.")
		return 2
	}
	if d := provider.Diagnose(err); d != nil {
		fmt.Fprintf(w, "What went wrong (%s, %s): %s\nHow to fix it: %s\n", d.Kind, d.Code, d.Summary, d.Fix)
	}
	return 1
}

// parse reads the flags, with defaults from the environment.
func parse(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("entra-authorize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	str := func(p *string, name, env, fallback, usage string) {
		def := getenv(env)
		if def == "" {
			def = fallback
		}
		fs.StringVar(p, name, def, usage+" [$"+env+"]")
	}
	defaultStore := ""
	if dir, err := os.UserConfigDir(); err == nil {
		defaultStore = filepath.Join(dir, "mailoauth", "entra-authorize")
	}
	c := &config{}
	var to, cloud, port string
	str(&c.tenant, "tenant", "MAILOAUTH_TENANT", "", "directory (tenant) ID or verified domain; \"organizations\" for a multi-tenant app")
	str(&c.clientID, "client-id", "MAILOAUTH_CLIENT_ID", "", "application (client) ID of the app registration")
	str(&c.mailbox, "mailbox", "MAILOAUTH_MAILBOX", "", "mailbox to authorize and send from")
	str(&c.storeDir, "store", "MAILOAUTH_STORE_DIR", defaultStore, "folder the grant is saved in (created 0700; files 0600); encrypted when $"+envStoreKey+" is set")
	fs.BoolVar(&c.force, "force", false, "authorize again even if a grant is stored")
	fs.BoolVar(&c.send, "send", true, "send a test message with the grant")
	str(&to, "to", "MAILOAUTH_TO", "", "recipients of the test message, separated by commas; default: the mailbox itself")
	str(&c.subject, "subject", "MAILOAUTH_SUBJECT", "mailoauth test message", "subject of the test message")
	str(&c.body, "body", "MAILOAUTH_BODY", "This message was sent with a delegated OAuth2 grant.", "text of the test message")
	str(&cloud, "cloud", "MAILOAUTH_CLOUD", "global", "Microsoft cloud: global, usgov, usgovdod or china")
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
	for _, req := range []struct{ v, name string }{{c.tenant, "-tenant"}, {c.clientID, "-client-id"}, {c.mailbox, "-mailbox"}, {c.storeDir, "-store"}} {
		if strings.TrimSpace(req.v) == "" {
			return nil, usagef("%s is required", req.name)
		}
	}
	for _, a := range strings.Split(to, ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.to = append(c.to, a)
		}
	}
	if len(c.to) == 0 {
		c.to = []string{c.mailbox}
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
	c.secret = getenv(envSecret)
	if k := getenv(envStoreKey); k != "" {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(k))
		if err != nil || len(key) != storeKeySize {
			// Never quote the value: it is a secret.
			return nil, usagef("$%s must hold %d random bytes in base64 (openssl rand -base64 %d)", envStoreKey, storeKeySize, storeKeySize)
		}
		c.storeKey = key
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

// run is the whole program; main only adds the process around it. wait
// spaces the polls of the device code flow; nil waits in real time (tests
// pass one that moves the test identity provider's clock instead).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer,
	wait func(context.Context, time.Duration) error) error {
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

	store, err := openStore(c.storeDir, c.storeKey)
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
		ClientSecret: c.secret, // empty: a public client
		Cloud:        c.cloud,
		Mailbox:      c.mailbox,
		HTTPClient:   httpClient(roots),
		Logger:       logger,
	}
	if c.authorityHost != "" {
		cfg.Cloud = cfg.Cloud.WithAuthorityHost(strings.TrimRight(c.authorityHost, "/"))
	}

	rec, err := store.Load(ctx, cfg.Key())
	switch {
	case err == nil && !c.force:
		fmt.Fprintf(stdout, "%s is already authorized (grant saved %s); -force authorizes again.\n",
			c.mailbox, rec.UpdatedAt.Local().Format(time.DateTime))
	case err == nil || errors.Is(err, tokenstore.ErrNotFound):
		if err := authorize(ctx, cfg, store, stdout, wait); err != nil {
			return err
		}
		how := "not encrypted: set " + envStoreKey + " to encrypt it"
		if c.storeKey != nil {
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
	mb, err := entra.Delegated(ctx, cfg, store)
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
	fmt.Fprintf(stdout, "Sent %q from %s to %s through %s.\n", c.subject, c.mailbox, strings.Join(c.to, ", "), mb.SMTP.Addr())
	return nil
}

// authorize runs the device code flow and saves the grant in store.
func authorize(ctx context.Context, cfg entra.Config, store tokenstore.Store, stdout io.Writer,
	wait func(context.Context, time.Duration) error) error {
	flow, err := entra.NewDeviceFlow(cfg, store)
	if err != nil {
		return err
	}
	if wait != nil {
		flow.Sleep = wait
	}
	_, err = flow.Authorize(ctx, func(p provider.DevicePrompt) error {
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

// openStore returns the file store in dir, encrypted with key when key is
// not nil.
func openStore(dir string, key []byte) (tokenstore.Store, error) {
	file, err := tokenstore.NewFile(dir)
	if err != nil {
		return nil, fmt.Errorf("open the grant folder: %w", err)
	}
	if key == nil {
		return file, nil
	}
	store, err := tokenstore.NewEncrypted(file, key)
	if err != nil {
		return nil, fmt.Errorf("open the grant folder: %w", err)
	}
	return store, nil
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
