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
// value in the environment (or in a file named by
// MAILOAUTH_CLIENT_SECRET_FILE):
//
//	export MAILOAUTH_CLIENT_SECRET='<the secret value>'
//	go run ./examples/doctor -tenant <tenant id> -client-id <client id> -mailbox helpdesk@contoso.com -send-to you@contoso.com
//
// or with a certificate: -cert-file app.pem (the certificate and its
// private key) or app.pfx (its password in MAILOAUTH_CERT_PASSWORD).
// Delegated access (-grant delegated) checks the grant saved by
// examples/entra-authorize (its folder is the default -store) or
// examples/webauth (pass its -store), decrypted with MAILOAUTH_STORE_KEY
// when it was encrypted.
//
// Every setting can also be given by the environment variable named in -h
// (MAILOAUTH_TENANT, MAILOAUTH_CLIENT_ID, ...). -cloud selects a national
// cloud; -authority-host, -smtp-host, -smtp-port, -smtp-security,
// -imap-host, -imap-port, -imap-security and -ca-file point the program at
// other servers: its tests run it against providertest, smtpxtest and
// imapxtest.
package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/mail"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// envCertPassword holds the password of a .pfx or .p12 -cert-file.
const envCertPassword = "MAILOAUTH_CERT_PASSWORD"

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
		os.Exit(explain(os.Stderr, "doctor", err))
	}
}

// config is the parsed command line and environment.
type config struct {
	entra      entra.Config
	delegated  bool
	store      tokenstore.Store // delegated only
	smtp, imap serverOverride
	skipSMTP   bool
	skipIMAP   bool
	sendTo     string
	tlsConfig  *tls.Config // nil: the system roots
	debug      io.Writer   // SMTP and IMAP dialogues, tokens redacted; nil: none
}

// errChecksFailed is run's error when a step failed: the report already
// said why.
type errChecksFailed int

func (n errChecksFailed) Error() string { return fmt.Sprintf("%d of the checks failed", int(n)) }

// run checks the configuration, printing a line per step on stdout. It
// returns an error when a step failed or the checks could not start.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if failed := check(ctx, cfg, &report{w: stdout}); failed > 0 {
		return errChecksFailed(failed)
	}
	return nil
}

// parseConfig reads flags and the environment. Secrets come only from the
// environment or from files.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := newEnvFlags("doctor", getenv, stderr)
	var (
		mailbox       = fs.str("mailbox", "MAILOAUTH_MAILBOX", "", "mailbox to check (required)")
		tenant        = fs.str("tenant", "MAILOAUTH_TENANT", "", "directory (tenant) ID or verified domain")
		clientID      = fs.str("client-id", "MAILOAUTH_CLIENT_ID", "", "application (client) ID of the app registration")
		certFile      = fs.str("cert-file", "MAILOAUTH_CERT_FILE", "", "certificate credential instead of a secret: PEM with the certificate and its key, or .pfx/.p12 (password in $"+envCertPassword+")")
		grant         = fs.str("grant", "MAILOAUTH_GRANT", "app", "app (client credentials) or delegated (a grant saved in -store)")
		storeDir      = fs.str("store", "MAILOAUTH_STORE_DIR", defaultStoreDir(), "delegated: folder of the saved grant; decrypted with $"+envStoreKey+" when set")
		cloud         = fs.str("cloud", "MAILOAUTH_CLOUD", "global", "Microsoft cloud: global, usgov, usgovdod or china")
		authorityHost = fs.str("authority-host", "MAILOAUTH_AUTHORITY_HOST", "", "login host instead of the cloud's, e.g. https://login.microsoftonline.com")
		smtpHost      = fs.str("smtp-host", "MAILOAUTH_SMTP_HOST", "", "SMTP server instead of the cloud's")
		smtpPort      = fs.integer("smtp-port", "MAILOAUTH_SMTP_PORT", 0, "SMTP port instead of the cloud's (587)")
		smtpSecurity  = fs.str("smtp-security", "MAILOAUTH_SMTP_SECURITY", "", "starttls, tls (implicit) or plaintext (loopback only); default: the cloud's (starttls)")
		imapHost      = fs.str("imap-host", "MAILOAUTH_IMAP_HOST", "", "IMAP server instead of the cloud's")
		imapPort      = fs.integer("imap-port", "MAILOAUTH_IMAP_PORT", 0, "IMAP port instead of the cloud's (993)")
		imapSecurity  = fs.str("imap-security", "MAILOAUTH_IMAP_SECURITY", "", "tls (implicit), starttls or plaintext (loopback only); default: the cloud's (tls)")
		caFile        = fs.str("ca-file", "MAILOAUTH_CA_FILE", "", "PEM file of certificate authorities to trust besides the system's, for the login host and the mail servers")
		skipSMTP      = fs.boolean("skip-smtp", "MAILOAUTH_SKIP_SMTP", "do not check SMTP (nor require the token to allow it)")
		skipIMAP      = fs.boolean("skip-imap", "MAILOAUTH_SKIP_IMAP", "do not check IMAP (nor require the token to allow it)")
		sendTo        = fs.str("send-to", "MAILOAUTH_SEND_TO", "", "send a test message to this address")
		verbose       = fs.Bool("v", false, "print the SMTP and IMAP dialogues to stderr (tokens redacted)")
	)
	if err := fs.parse(args); err != nil {
		return config{}, err
	}
	if *mailbox == "" {
		return config{}, usagef("-mailbox is required")
	}
	if *sendTo != "" {
		if _, err := mail.ParseAddress(*sendTo); err != nil {
			return config{}, usagef("-send-to %q: %v", *sendTo, err)
		}
		if *skipSMTP {
			return config{}, usagef("-send-to needs SMTP: drop -skip-smtp")
		}
	}
	cfg := config{
		skipSMTP: *skipSMTP,
		skipIMAP: *skipIMAP,
		sendTo:   *sendTo,
		smtp:     serverOverride{flag: "smtp", host: *smtpHost, port: *smtpPort, security: *smtpSecurity},
		imap:     serverOverride{flag: "imap", host: *imapHost, port: *imapPort, security: *imapSecurity},
	}
	if err := cfg.smtp.check(); err != nil {
		return config{}, err
	}
	if err := cfg.imap.check(); err != nil {
		return config{}, err
	}
	if *verbose {
		cfg.debug = stderr
	}
	secret, err := secretFromEnv(getenv, envClientSecret)
	if err != nil {
		return config{}, err
	}
	if cfg.tlsConfig, err = loadTLSConfig(*caFile); err != nil {
		return config{}, err
	}
	httpClient := &http.Client{Timeout: idpTimeout}
	if cfg.tlsConfig != nil {
		httpClient.Transport = &http.Transport{TLSClientConfig: cfg.tlsConfig, Proxy: http.ProxyFromEnvironment}
	}
	cl, err := cloudNamed(*cloud)
	if err != nil {
		return config{}, err
	}
	if *authorityHost != "" {
		cl = cl.WithAuthorityHost(strings.TrimRight(*authorityHost, "/"))
	}
	cfg.entra = entra.Config{
		TenantID:     *tenant,
		ClientID:     *clientID,
		ClientSecret: secret,
		Cloud:        cl,
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
	if *certFile != "" {
		if cfg.entra.Certificate, err = loadCertificate(*certFile, getenv(envCertPassword)); err != nil {
			return config{}, err
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
		return config{}, usagef("-grant %q: want app or delegated", *grant)
	}
	return cfg, nil
}

// loadCertificate reads a certificate credential: PEM (certificate and
// key), or PKCS#12 for a .pfx or .p12 file.
func loadCertificate(path, password string) (*entra.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cert *entra.Certificate
	switch strings.ToLower(filepath.Ext(path)) {
	case ".pfx", ".p12":
		cert, err = entra.ParseCertificatePKCS12(data, password)
	default:
		cert, err = entra.ParseCertificatePEM(data)
	}
	if err != nil {
		return nil, fmt.Errorf("-cert-file %s: %w", path, err)
	}
	return cert, nil
}
