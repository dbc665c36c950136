// Command doctor checks an Exchange Online mail configuration end to end
// and says, step by step, what works and what to fix:
//
//	credentials   the tenant, the client ID and the secret or certificate,
//	              checked at Entra ID without touching a mailbox
//	token         an access token for the mailbox, with its claims (audience,
//	              tenant, roles or scopes, user, expiry) and what is wrong
//	              with them for mail
//	smtp login    SMTP AUTH with the token
//	imap login    IMAP AUTHENTICATE with the token
//	test send     one message to -send-to, when given
//
// Each step prints OK, or FAIL with the diagnosis: its kind, the code
// found (an AADSTS number, an SMTP or IMAP reply), what went wrong and the
// fix. A step that cannot run because an earlier one failed prints SKIP.
// Problems read from the token's claims print WARN: the logins that follow
// are the servers' own verdict, and the warning explains a refusal. The
// exit status is 0 when no step failed, 1 otherwise.
//
// App-only access (the default, -grant app), with the client secret's
// value in the environment (or a file named by MAILOAUTH_CLIENT_SECRET_FILE):
//
//	export MAILOAUTH_CLIENT_SECRET='<the secret value>'
//	go run ./examples/doctor -tenant <tenant id> -client-id <client id> -mailbox helpdesk@contoso.com -send-to you@contoso.com
//
// or with a certificate: -cert-file app.pem (the certificate and its
// private key, PEM). Delegated access (-grant delegated) checks the grant
// saved by examples/entra-authorize or examples/webauth in the file store
// -store, decrypted with MAILOAUTH_STORE_KEY when it was encrypted.
//
// -authority-host, -smtp-host, -smtp-port, -smtp-security, -imap-host,
// -imap-port, -imap-security and -ca-file point the program at other
// servers: its tests run it against providertest, smtpxtest and imapxtest.
package main

import (
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
	"net/mail"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// Environment variables read for secrets. Each may instead name a file
// holding the value, with the suffix _FILE (MAILOAUTH_CLIENT_SECRET_FILE).
const (
	envClientSecret = "MAILOAUTH_CLIENT_SECRET"
	envStoreKey     = "MAILOAUTH_STORE_KEY" // 32 bytes, base64
)

const (
	// idpTimeout bounds each request to the identity provider.
	idpTimeout = 30 * time.Second
	// checkTimeout bounds the whole check.
	checkTimeout = 2 * time.Minute
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		os.Exit(fail(os.Stderr, err))
	}
}

// fail prints err (with the diagnosis provider.Diagnose gives for it, for
// an error that stopped the checks before they began) and returns the exit
// status.
func fail(w io.Writer, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	fmt.Fprintln(w, "doctor:", err)
	if d := provider.Diagnose(err); d != nil {
		fmt.Fprintf(w, "%s (%s): %s\nFix: %s\n", d.Kind, d.Code, d.Summary, d.Fix)
	}
	return 1
}

// config is the parsed command line and environment.
type config struct {
	entra     entra.Config
	delegated bool
	store     tokenstore.Store // delegated only
	smtp      provider.Server  // zero Host: Exchange Online's
	imap      provider.Server  // zero Host: Exchange Online's
	skipSMTP  bool
	skipIMAP  bool
	sendTo    string
	tlsConfig *tls.Config // nil: the system roots
	debug     io.Writer   // SMTP and IMAP dialogues, tokens redacted; nil: none
}

// run checks the configuration, printing a line per step on stdout. It
// returns an error when a step failed or the checks could not start.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	failed := check(ctx, cfg, &report{w: stdout})
	if failed > 0 {
		return fmt.Errorf("%d of the checks failed", failed)
	}
	return nil
}

// parseConfig reads flags and the environment. Secrets come only from the
// environment or from files.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		mailbox       = fs.String("mailbox", "", "mailbox to check (required)")
		tenant        = fs.String("tenant", "", "directory (tenant) ID or domain")
		clientID      = fs.String("client-id", "", "application (client) ID")
		certFile      = fs.String("cert-file", "", "PEM file with the app's certificate and private key, instead of a client secret")
		grant         = fs.String("grant", "app", "app (client credentials) or delegated (a grant in -store)")
		storeDir      = fs.String("store", "tokens", "delegated: folder of the stored grant")
		authorityHost = fs.String("authority-host", "", "login host, e.g. https://login.microsoftonline.us (default: the global cloud)")
		smtpHost      = fs.String("smtp-host", "", "SMTP server (default: Exchange Online's)")
		smtpPort      = fs.Int("smtp-port", 587, "SMTP port, with -smtp-host")
		smtpSecurity  = fs.String("smtp-security", "starttls", "SMTP security with -smtp-host: starttls, tls or plaintext (loopback only)")
		imapHost      = fs.String("imap-host", "", "IMAP server (default: Exchange Online's)")
		imapPort      = fs.Int("imap-port", 993, "IMAP port, with -imap-host")
		imapSecurity  = fs.String("imap-security", "tls", "IMAP security with -imap-host: tls, starttls or plaintext (loopback only)")
		caFile        = fs.String("ca-file", "", "PEM file of extra certificate authorities to trust (identity provider and mail servers)")
		skipSMTP      = fs.Bool("skip-smtp", false, "do not check SMTP (nor ask the token for it)")
		skipIMAP      = fs.Bool("skip-imap", false, "do not check IMAP (nor ask the token for it)")
		sendTo        = fs.String("send-to", "", "send a test message to this address")
		verbose       = fs.Bool("v", false, "print the SMTP and IMAP dialogues to stderr (tokens redacted)")
	)
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *mailbox == "" {
		return config{}, errors.New("-mailbox is required")
	}
	if *sendTo != "" {
		if _, err := mail.ParseAddress(*sendTo); err != nil {
			return config{}, fmt.Errorf("-send-to: %w", err)
		}
		if *skipSMTP {
			return config{}, errors.New("-send-to needs SMTP: drop -skip-smtp")
		}
	}
	secret, err := secretFromEnv(getenv, envClientSecret)
	if err != nil {
		return config{}, err
	}
	tlsConfig, err := loadTLSConfig(*caFile)
	if err != nil {
		return config{}, err
	}
	httpClient := &http.Client{Timeout: idpTimeout}
	if tlsConfig != nil {
		httpClient.Transport = &http.Transport{TLSClientConfig: tlsConfig, Proxy: http.ProxyFromEnvironment}
	}
	cfg := config{skipSMTP: *skipSMTP, skipIMAP: *skipIMAP, sendTo: *sendTo, tlsConfig: tlsConfig}
	if *verbose {
		cfg.debug = stderr
	}
	cfg.entra = entra.Config{
		TenantID:     *tenant,
		ClientID:     *clientID,
		ClientSecret: secret,
		Mailbox:      *mailbox,
		HTTPClient:   httpClient,
		Logger:       slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Lazy:         true, // the token is a step of its own
	}
	if !*skipSMTP {
		cfg.entra.Protocols |= entra.SMTP
	}
	if !*skipIMAP {
		cfg.entra.Protocols |= entra.IMAP
	}
	if *authorityHost != "" {
		cfg.entra.Cloud = entra.Global.WithAuthorityHost(strings.TrimRight(*authorityHost, "/"))
	}
	if *certFile != "" {
		pem, err := os.ReadFile(*certFile)
		if err != nil {
			return config{}, err
		}
		if cfg.entra.Certificate, err = entra.ParseCertificatePEM(pem); err != nil {
			return config{}, fmt.Errorf("-cert-file: %w", err)
		}
	}
	switch *grant {
	case "app":
	case "delegated":
		cfg.delegated = true
		if cfg.store, err = openStore(*storeDir, getenv); err != nil {
			return config{}, err
		}
	default:
		return config{}, fmt.Errorf("-grant %q: want app or delegated", *grant)
	}
	if *smtpHost != "" {
		sec, err := parseSecurity(*smtpSecurity)
		if err != nil {
			return config{}, fmt.Errorf("-smtp-security: %w", err)
		}
		cfg.smtp = provider.Server{Host: *smtpHost, Port: *smtpPort, Security: sec}
	}
	if *imapHost != "" {
		sec, err := parseSecurity(*imapSecurity)
		if err != nil {
			return config{}, fmt.Errorf("-imap-security: %w", err)
		}
		cfg.imap = provider.Server{Host: *imapHost, Port: *imapPort, Security: sec}
	}
	return cfg, nil
}

// secretFromEnv returns the value of the environment variable name, or the
// contents of the file named by name_FILE (surrounding white space
// trimmed); "" when neither is set.
func secretFromEnv(getenv func(string) string, name string) (string, error) {
	if v := getenv(name); v != "" {
		return v, nil
	}
	path := getenv(name + "_FILE")
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// openStore opens the file store in dir, encrypted when a store key is set.
func openStore(dir string, getenv func(string) string) (tokenstore.Store, error) {
	fileStore, err := tokenstore.NewFile(dir)
	if err != nil {
		return nil, err
	}
	encoded, err := secretFromEnv(getenv, envStoreKey)
	if err != nil || encoded == "" {
		return fileStore, err
	}
	key, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil, fmt.Errorf("%s: not base64 (make one with: openssl rand -base64 32)", envStoreKey)
	}
	return tokenstore.NewEncrypted(fileStore, key)
}

// loadTLSConfig returns a TLS configuration trusting the system roots and
// the certificates in caFile, or nil when caFile is empty.
func loadTLSConfig(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-ca-file %s: no PEM certificate in it", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// parseSecurity reads starttls, tls or plaintext.
func parseSecurity(s string) (provider.Security, error) {
	for _, sec := range []provider.Security{provider.StartTLS, provider.ImplicitTLS, provider.Plaintext} {
		if s == sec.String() {
			return sec, nil
		}
	}
	return 0, fmt.Errorf("%q: want starttls, tls or plaintext", s)
}
