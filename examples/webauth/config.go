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
	provider   string // "entra" or "google"
	listen     string // address to listen on
	publicURL  string // where browsers reach the page; zero: http:// + the listen address
	testTo     string // recipient of "Send a test"; zero: the mailbox
	credential cli.Credential
	entra      entra.Config
	google     google.Config
	smtp       *cli.ServerFlags
	tlsConfig  *tls.Config // for the SMTP server; nil: the system roots
	store      tokenstore.Store
	logger     *slog.Logger
	now        func() time.Time // nil: time.Now
}

// parseConfig reads flags and the environment. Secrets come only from the
// environment or from files.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := cli.NewFlags("webauth", getenv, stderr)
	var (
		prov       = fs.EnvString("provider", "entra", "")
		listen     = fs.EnvString("listen", "127.0.0.1:8080", "address the page listens on")
		publicURL  = fs.EnvString("public-url", "", "URL browsers open the page at (default http://<listen address>); the callback URL is derived from it")
		mailbox    = fs.EnvString("mailbox", "", "the mailbox to authorize (required)")
		testTo     = fs.EnvString("to", "", "one address, for \"Send a test\"; default: the mailbox")
		tenant     = fs.EnvString("tenant", "", "")
		clientID   = fs.EnvString("client-id", "", "for Google optional with -google-client-json")
		credential = fs.Credential(false)
		clientJSON = fs.EnvString("google-client-json", "", "")
		googleBase = fs.EnvString("google-base-url", "", "")
		store      = fs.Store("webauth", "")
		ca         = fs.CAFile()
		cloud      = fs.Cloud()
		smtp       = fs.Server("smtp", "default: the provider's, port 587 with starttls")
	)
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if err := fs.Required("mailbox"); err != nil {
		return config{}, err
	}
	if *testTo != "" {
		if _, err := mail.ParseAddress(*testTo); err != nil {
			return config{}, cli.Usagef("-to %q: %v", *testTo, err)
		}
	}
	secret := credential.Credential()
	cfg := config{
		provider:   *prov,
		listen:     *listen,
		publicURL:  *publicURL,
		testTo:     *testTo,
		credential: secret,
		smtp:       smtp,
		tlsConfig:  ca.TLSConfig(),
		logger:     cli.TextLogger(stderr, slog.LevelInfo),
	}
	var err error
	switch *prov {
	case "entra":
		cfg.entra = entra.Config{
			TenantID:   *tenant,
			ClientID:   *clientID,
			Cloud:      cloud.Cloud(),
			Mailbox:    *mailbox,
			HTTPClient: ca.HTTPClient(),
			Logger:     cfg.logger,
		}
		secret.Entra(&cfg.entra)
	case "google":
		cfg.google = google.Config{
			ClientID:     *clientID,
			ClientSecret: secret.Secret,
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
	if cfg.store, err = store.Open(); err != nil {
		return config{}, err
	}
	return cfg, nil
}
