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
// Open the page, press "Authorize mailbox", sign in as the mailbox (or as
// an account with rights to it) and consent; the grant is saved in the
// folder -store, encrypted when MAILOAUTH_STORE_KEY is set. "Send a test"
// sends a message from the mailbox to -test-to (default: the mailbox).
//
// The page listens on 127.0.0.1 only. To serve it to other machines, put it
// behind an HTTPS reverse proxy and set -public-url to the address users
// open: the callback URL is derived from it, and both buttons are protected
// by a CSRF token.
//
// -authority-host, -google-base-url, -smtp-host, -smtp-port, -smtp-security
// and -ca-file point the program at other servers: its tests run it against
// the local test servers of providertest and smtpxtest.
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
	"net"
	"net/http"
	"net/mail"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/google"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// Environment variables read for secrets. Each may instead name a file
// holding the value, with the suffix _FILE (MAILOAUTH_CLIENT_SECRET_FILE).
const (
	envClientSecret = "MAILOAUTH_CLIENT_SECRET"
	envStoreKey     = "MAILOAUTH_STORE_KEY" // 32 bytes, base64
)

const (
	// shutdownTimeout bounds how long requests in flight may finish after
	// the program is told to stop.
	shutdownTimeout = 10 * time.Second
	// idpTimeout bounds each request to the identity provider.
	idpTimeout = 30 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		os.Exit(fail(os.Stderr, err))
	}
}

// fail prints err with the diagnosis provider.Diagnose gives for it, and
// returns the exit status.
func fail(w io.Writer, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	fmt.Fprintln(w, "webauth:", err)
	if d := provider.Diagnose(err); d != nil {
		fmt.Fprintf(w, "%s (%s): %s\nFix: %s\n", d.Kind, d.Code, d.Summary, d.Fix)
	}
	return 1
}

// run parses the configuration, serves the page until ctx is done, and
// returns nil after a clean shutdown.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
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

// config is everything newApp needs.
type config struct {
	provider  string // "entra" or "google"
	listen    string // address to listen on
	publicURL string // where browsers reach the page; zero: http:// + the listen address
	testTo    string // recipient of "Send a test"; zero: the mailbox
	entra     entra.Config
	google    google.Config
	smtp      provider.Server // zero Host: the provider's server
	tlsConfig *tls.Config     // for the SMTP server; nil: the system roots
	store     tokenstore.Store
	logger    *slog.Logger
	now       func() time.Time // nil: time.Now
}

// parseConfig reads flags and the environment. Secrets come only from the
// environment or from files.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("webauth", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		prov          = fs.String("provider", "entra", "identity provider: entra or google")
		listen        = fs.String("listen", "127.0.0.1:8080", "address to listen on")
		publicURL     = fs.String("public-url", "", "URL browsers open the page at (default http://<listen address>); the callback URL is derived from it")
		mailbox       = fs.String("mailbox", "", "mailbox address to authorize (required)")
		testTo        = fs.String("test-to", "", "recipient of the test message (default: the mailbox)")
		tenant        = fs.String("tenant", "", "Entra: directory (tenant) ID or domain")
		clientID      = fs.String("client-id", "", "application (client) ID; for Google optional with -google-client-json")
		authorityHost = fs.String("authority-host", "", "Entra: login host, e.g. https://login.microsoftonline.us (default: the global cloud)")
		clientJSON    = fs.String("google-client-json", "", "Google: the OAuth client file downloaded from the Cloud console")
		googleBase    = fs.String("google-base-url", "", "Google: base URL of the OAuth endpoints (tests)")
		storeDir      = fs.String("store", "webauth-tokens", "folder for the stored grant")
		smtpHost      = fs.String("smtp-host", "", "SMTP server (default: the provider's)")
		smtpPort      = fs.Int("smtp-port", 587, "SMTP port, with -smtp-host")
		smtpSecurity  = fs.String("smtp-security", "starttls", "SMTP security with -smtp-host: starttls, tls or plaintext (loopback only)")
		caFile        = fs.String("ca-file", "", "PEM file of extra certificate authorities to trust (identity provider and SMTP server)")
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
	if *testTo != "" {
		if _, err := mail.ParseAddress(*testTo); err != nil {
			return config{}, fmt.Errorf("-test-to: %w", err)
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
	store, err := openStore(*storeDir, getenv)
	if err != nil {
		return config{}, err
	}
	cfg := config{
		provider:  *prov,
		listen:    *listen,
		publicURL: *publicURL,
		testTo:    *testTo,
		tlsConfig: tlsConfig,
		store:     store,
		logger:    slog.New(slog.NewTextHandler(stderr, nil)),
	}
	switch *prov {
	case "entra":
		cfg.entra = entra.Config{
			TenantID:     *tenant,
			ClientID:     *clientID,
			ClientSecret: secret,
			Mailbox:      *mailbox,
			HTTPClient:   httpClient,
			Logger:       cfg.logger,
		}
		if *authorityHost != "" {
			cfg.entra.Cloud = entra.Global.WithAuthorityHost(strings.TrimRight(*authorityHost, "/"))
		}
	case "google":
		cfg.google = google.Config{
			ClientID:     *clientID,
			ClientSecret: secret,
			Mailbox:      *mailbox,
			BaseURL:      *googleBase,
			HTTPClient:   httpClient,
			Logger:       cfg.logger,
		}
		if *clientJSON != "" {
			if cfg.google.ClientJSON, err = os.ReadFile(*clientJSON); err != nil {
				return config{}, err
			}
		}
	default:
		return config{}, fmt.Errorf("-provider %q: want entra or google", *prov)
	}
	if *smtpHost != "" {
		sec, err := parseSecurity(*smtpSecurity)
		if err != nil {
			return config{}, fmt.Errorf("-smtp-security: %w", err)
		}
		cfg.smtp = provider.Server{Host: *smtpHost, Port: *smtpPort, Security: sec}
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
