package main

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net/mail"
	"os"
	"strings"
	"time"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/google"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// config is everything newApp needs.
type config struct {
	provider  string // "entra" or "google"
	listen    string // address to listen on
	publicURL string // where browsers reach the page; zero: http:// + the listen address
	testTo    string // recipient of "Send a test"; zero: the mailbox
	entra     entra.Config
	google    google.Config
	smtp      *cli.ServerFlags
	tlsConfig *tls.Config // for the SMTP server; nil: the system roots
	store     tokenstore.Store
	logger    *slog.Logger
	now       func() time.Time // nil: time.Now
}

// parseConfig reads flags and the environment. Secrets come only from the
// environment or from files.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := cli.NewFlags("webauth", getenv, stderr)
	var (
		prov       = fs.EnvString("provider", "MAILOAUTH_PROVIDER", "entra", "identity provider: entra or google")
		listen     = fs.EnvString("listen", "MAILOAUTH_LISTEN", "127.0.0.1:8080", "address to listen on")
		publicURL  = fs.EnvString("public-url", "MAILOAUTH_PUBLIC_URL", "", "URL browsers open the page at (default http://<listen address>); the callback URL is derived from it")
		mailbox    = fs.EnvString("mailbox", "MAILOAUTH_MAILBOX", "", "mailbox to authorize (required)")
		testTo     = fs.EnvString("test-to", "MAILOAUTH_TEST_TO", "", "recipient of the test message (default: the mailbox)")
		tenant     = fs.EnvString("tenant", "MAILOAUTH_TENANT", "", "Entra: directory (tenant) ID or verified domain")
		clientID   = fs.EnvString("client-id", "MAILOAUTH_CLIENT_ID", "", "application (client) ID; for Google optional with -google-client-json")
		clientJSON = fs.EnvString("google-client-json", "MAILOAUTH_GOOGLE_CLIENT_JSON", "", "Google: the OAuth client file downloaded from the Cloud console (holds the secret: keep it private)")
		googleBase = fs.EnvString("google-base-url", "MAILOAUTH_GOOGLE_BASE_URL", "", "Google: base URL of the OAuth endpoints instead of Google's")
		storeDir   = fs.EnvString("store", "MAILOAUTH_STORE_DIR", cli.DefaultStoreDir("webauth"), "folder the grant is saved in (created 0700; files 0600); encrypted when $"+cli.EnvStoreKey+" is set")
		ca         = fs.CAFile("PEM file of certificate authorities to trust besides the system's, for the identity provider and the SMTP server")
		cloud      = fs.Cloud("Entra: ")
		smtp       = fs.Server("smtp", "SMTP server instead of the provider's", "SMTP port instead of the provider's (587)",
			"starttls, tls (implicit) or plaintext (loopback only); default: the provider's (starttls)")
	)
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if err := fs.Required("mailbox"); err != nil {
		return config{}, err
	}
	if *testTo != "" {
		if _, err := mail.ParseAddress(*testTo); err != nil {
			return config{}, cli.Usagef("-test-to %q: %v", *testTo, err)
		}
	}
	secret, err := cli.EnvSecret(getenv, cli.EnvClientSecret)
	if err != nil {
		return config{}, err
	}
	cfg := config{
		provider:  *prov,
		listen:    *listen,
		publicURL: *publicURL,
		testTo:    *testTo,
		smtp:      smtp,
		tlsConfig: ca.TLSConfig(),
		logger:    slog.New(slog.NewTextHandler(stderr, nil)),
	}
	switch *prov {
	case "entra":
		cfg.entra = entra.Config{
			TenantID:     *tenant,
			ClientID:     *clientID,
			ClientSecret: secret,
			Cloud:        cloud.Cloud(),
			Mailbox:      *mailbox,
			HTTPClient:   ca.HTTPClient(),
			Logger:       cfg.logger,
		}
	case "google":
		cfg.google = google.Config{
			ClientID:     *clientID,
			ClientSecret: secret,
			Mailbox:      *mailbox,
			BaseURL:      strings.TrimRight(*googleBase, "/"),
			HTTPClient:   ca.HTTPClient(),
			Logger:       cfg.logger,
		}
		if *clientJSON != "" {
			if cfg.google.ClientJSON, err = os.ReadFile(*clientJSON); err != nil {
				return config{}, err
			}
		}
	default:
		return config{}, cli.Usagef("-provider %q: want entra or google", *prov)
	}
	// The store last: it creates its folder.
	if cfg.store, err = cli.OpenEnvStore(getenv, *storeDir); err != nil {
		return config{}, err
	}
	return cfg, nil
}
