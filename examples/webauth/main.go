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
// folder -store, encrypted when MAILOAUTH_STORE_KEY is set (keep the key:
// it opens the grant). "Send a test" sends a message from the mailbox to
// -test-to (default: the mailbox). examples/mailgate and examples/doctor
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
// servers: its tests run it against providertest and smtpxtest.
package main

import (
	"context"
	"crypto/tls"
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

	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/google"
	"github.com/mailoauth/mailoauth/tokenstore"
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
		os.Exit(explain(os.Stderr, "webauth", err))
	}
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
	smtp      serverOverride
	tlsConfig *tls.Config // for the SMTP server; nil: the system roots
	store     tokenstore.Store
	logger    *slog.Logger
	now       func() time.Time // nil: time.Now
}

// parseConfig reads flags and the environment. Secrets come only from the
// environment or from files.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := newEnvFlags("webauth", getenv, stderr)
	var (
		prov          = fs.str("provider", "MAILOAUTH_PROVIDER", "entra", "identity provider: entra or google")
		listen        = fs.str("listen", "MAILOAUTH_LISTEN", "127.0.0.1:8080", "address to listen on")
		publicURL     = fs.str("public-url", "MAILOAUTH_PUBLIC_URL", "", "URL browsers open the page at (default http://<listen address>); the callback URL is derived from it")
		mailbox       = fs.str("mailbox", "MAILOAUTH_MAILBOX", "", "mailbox to authorize (required)")
		testTo        = fs.str("test-to", "MAILOAUTH_TEST_TO", "", "recipient of the test message (default: the mailbox)")
		tenant        = fs.str("tenant", "MAILOAUTH_TENANT", "", "Entra: directory (tenant) ID or verified domain")
		clientID      = fs.str("client-id", "MAILOAUTH_CLIENT_ID", "", "application (client) ID; for Google optional with -google-client-json")
		cloud         = fs.str("cloud", "MAILOAUTH_CLOUD", "global", "Entra: Microsoft cloud: global, usgov, usgovdod or china")
		authorityHost = fs.str("authority-host", "MAILOAUTH_AUTHORITY_HOST", "", "Entra: login host instead of the cloud's, e.g. https://login.microsoftonline.com")
		clientJSON    = fs.str("google-client-json", "MAILOAUTH_GOOGLE_CLIENT_JSON", "", "Google: the OAuth client file downloaded from the Cloud console (holds the secret: keep it private)")
		googleBase    = fs.str("google-base-url", "MAILOAUTH_GOOGLE_BASE_URL", "", "Google: base URL of the OAuth endpoints instead of Google's")
		storeDir      = fs.str("store", "MAILOAUTH_STORE_DIR", defaultStoreDir(), "folder the grant is saved in (created 0700; files 0600); encrypted when $"+envStoreKey+" is set")
		smtpHost      = fs.str("smtp-host", "MAILOAUTH_SMTP_HOST", "", "SMTP server instead of the provider's")
		smtpPort      = fs.integer("smtp-port", "MAILOAUTH_SMTP_PORT", 0, "SMTP port instead of the provider's (587)")
		smtpSecurity  = fs.str("smtp-security", "MAILOAUTH_SMTP_SECURITY", "", "starttls, tls (implicit) or plaintext (loopback only); default: the provider's (starttls)")
		caFile        = fs.str("ca-file", "MAILOAUTH_CA_FILE", "", "PEM file of certificate authorities to trust besides the system's, for the identity provider and the SMTP server")
	)
	if err := fs.parse(args); err != nil {
		return config{}, err
	}
	if *mailbox == "" {
		return config{}, usagef("-mailbox is required")
	}
	if *testTo != "" {
		if _, err := mail.ParseAddress(*testTo); err != nil {
			return config{}, usagef("-test-to %q: %v", *testTo, err)
		}
	}
	smtp := serverOverride{flag: "smtp", host: *smtpHost, port: *smtpPort, security: *smtpSecurity}
	if err := smtp.check(); err != nil {
		return config{}, err
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
	cfg := config{
		provider:  *prov,
		listen:    *listen,
		publicURL: *publicURL,
		testTo:    *testTo,
		smtp:      smtp,
		tlsConfig: tlsConfig,
		logger:    slog.New(slog.NewTextHandler(stderr, nil)),
	}
	switch *prov {
	case "entra":
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
			Logger:       cfg.logger,
		}
	case "google":
		cfg.google = google.Config{
			ClientID:     *clientID,
			ClientSecret: secret,
			Mailbox:      *mailbox,
			BaseURL:      strings.TrimRight(*googleBase, "/"),
			HTTPClient:   httpClient,
			Logger:       cfg.logger,
		}
		if *clientJSON != "" {
			if cfg.google.ClientJSON, err = os.ReadFile(*clientJSON); err != nil {
				return config{}, err
			}
		}
	default:
		return config{}, usagef("-provider %q: want entra or google", *prov)
	}
	// The store last: it creates its folder.
	if cfg.store, err = openStore(*storeDir, getenv); err != nil {
		return config{}, err
	}
	return cfg, nil
}
