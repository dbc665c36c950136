package main

import (
	"crypto/tls"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/google"
	"github.com/mailoauth/mailoauth/provider/oidc"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// The values of -provider.
const (
	providerEntra  = "entra"
	providerGoogle = "google"
	providerOIDC   = "oidc"
)

// config is the parsed command line and environment.
type config struct {
	provider   string // providerEntra, providerGoogle or providerOIDC
	entra      entra.Config
	google     google.Config
	oidc       oidc.Config
	credential cli.Credential // Entra, and a Google OAuth client's secret
	delegated  bool
	store      tokenstore.Store // delegated only
	imap       *cli.ServerFlags
	tlsConfig  *tls.Config // nil: the system roots
	folder     string
	processed  string
	out        string // a folder, or "-" for stdout
	poll       time.Duration
	logger     *slog.Logger
	verboseOut io.Writer // the IMAP dialogue, tokens redacted; nil: none
}

// parseConfig reads flags and the environment. Secrets come only from the
// environment or from files.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := cli.NewFlags("mailgate", getenv, stderr)
	var (
		prov       = fs.EnvString("provider", providerEntra, "")
		mailbox    = fs.EnvString("mailbox", "", "the mailbox to watch (required)")
		tenant     = fs.EnvString("tenant", "", "")
		clientID   = fs.EnvString("client-id", "", "")
		credential = fs.Credential(true)
		keyFile    = fs.EnvString("google-key-file", "", "-grant app")
		clientJSON = fs.EnvString("google-client-json", "", "-grant delegated")
		googleBase = fs.EnvString("google-base-url", "", "")
		server     = fs.OIDC("")
		ca         = fs.CAFile()
		folder     = fs.EnvString("folder", "INBOX", "folder to watch")
		processed  = fs.EnvString("processed", "Processed", "folder handled messages are moved to (created when missing)")
		out        = fs.EnvString("out", "tickets", `folder for the tickets, or "-" to print them on stdout`)
		poll       = fs.EnvDuration("poll", time.Minute, "time between checks when the server has no IDLE")
		verbose    = fs.Verbose()
		cloud      = fs.Cloud()
		grant      = fs.Grant()
		imap       = fs.Server("imap", "default: the provider's, port 993 with tls")
	)
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if err := fs.Required("mailbox"); err != nil {
		return config{}, err
	}
	if *folder == *processed {
		return config{}, cli.Usagef("-folder and -processed must differ")
	}
	if *poll <= 0 {
		return config{}, cli.Usagef("-poll must be positive")
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	cfg := config{
		provider:   *prov,
		credential: credential.Credential(),
		delegated:  grant.Delegated(),
		imap:       imap,
		tlsConfig:  ca.TLSConfig(),
		folder:     *folder,
		processed:  *processed,
		out:        *out,
		poll:       *poll,
		logger:     cli.TextLogger(stderr, level),
	}
	if *verbose {
		cfg.verboseOut = stderr
	}
	switch cfg.provider {
	case providerEntra:
		cfg.entra = entra.Config{
			TenantID:   *tenant,
			ClientID:   *clientID,
			Cloud:      cloud.Cloud(),
			Mailbox:    *mailbox,
			Protocols:  entra.IMAP,
			HTTPClient: ca.HTTPClient(),
		}
		cfg.credential.Entra(&cfg.entra)
		if !cfg.delegated && cfg.credential.None() {
			return config{}, credential.Missing()
		}
	case providerGoogle:
		if cfg.credential.Certificate != nil {
			return config{}, cli.Usagef("-cert-file is an Entra credential: Google's service account signs with -google-key-file")
		}
		cfg.google = google.Config{
			ClientID:     *clientID,
			ClientSecret: cfg.credential.Secret,
			Mailbox:      *mailbox,
			BaseURL:      strings.TrimRight(*googleBase, "/"),
			HTTPClient:   ca.HTTPClient(),
		}
		var err error
		if cfg.delegated {
			if *clientJSON != "" {
				if cfg.google.ClientJSON, err = os.ReadFile(*clientJSON); err != nil {
					return config{}, err
				}
			}
			if *clientID == "" && *clientJSON == "" {
				return config{}, cli.Usagef("a delegated Google grant needs its OAuth client: -google-client-json or -client-id")
			}
		} else {
			if *keyFile == "" {
				return config{}, cli.Usagef("-google-key-file (or $%s) is required: the service account's key", cli.EnvName("google-key-file"))
			}
			if cfg.google.ServiceAccountKey, err = os.ReadFile(*keyFile); err != nil {
				return config{}, err
			}
		}
	case providerOIDC:
		if cfg.credential.Certificate != nil {
			return config{}, cli.Usagef("-cert-file is an Entra credential: a standards server's client signs with -key-file")
		}
		if err := fs.Required("issuer", "client-id", "imap-host"); err != nil {
			return config{}, err
		}
		var err error
		if cfg.oidc, err = server.Config(*clientID, cfg.credential, *mailbox, ca.HTTPClient()); err != nil {
			return config{}, err
		}
		cfg.oidc.IMAP = provider.Server{Port: 993, Security: provider.ImplicitTLS}
	default:
		return config{}, cli.Usagef("-provider %q: want entra, google or oidc", cfg.provider)
	}
	var err error
	if cfg.store, err = grant.Store(); err != nil {
		return config{}, err
	}
	return cfg, nil
}
