package main

import (
	"crypto/tls"
	"io"
	"log/slog"
	"time"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// config is the parsed command line and environment.
type config struct {
	entra      entra.Config
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
		mailbox   = fs.EnvString("mailbox", "MAILOAUTH_MAILBOX", "", "mailbox to watch (required)")
		tenant    = fs.EnvString("tenant", "MAILOAUTH_TENANT", "", "directory (tenant) ID or verified domain")
		clientID  = fs.EnvString("client-id", "MAILOAUTH_CLIENT_ID", "", "application (client) ID of the app registration")
		ca        = fs.CAFile("PEM file of certificate authorities to trust besides the system's, for the login host and the IMAP server")
		folder    = fs.EnvString("folder", "MAILOAUTH_FOLDER", "INBOX", "folder to watch")
		processed = fs.EnvString("processed", "MAILOAUTH_PROCESSED", "Processed", "folder handled messages are moved to (created when missing)")
		out       = fs.EnvString("out", "MAILOAUTH_OUT", "tickets", `folder for the tickets, or "-" to print them on stdout`)
		poll      = fs.EnvDuration("poll", "MAILOAUTH_POLL", time.Minute, "time between checks when the server has no IDLE")
		verbose   = fs.Bool("v", false, "print the IMAP dialogue to stderr (tokens redacted)")
		cloud     = fs.Cloud("")
		grant     = fs.Grant()
		imap      = fs.Server("imap", "IMAP server instead of the cloud's", "IMAP port instead of the cloud's (993)",
			"tls (implicit), starttls or plaintext (loopback only); default: the cloud's (tls)")
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
	cfg := config{
		imap:      imap,
		tlsConfig: ca.TLSConfig(),
		folder:    *folder,
		processed: *processed,
		out:       *out,
		poll:      *poll,
		logger:    slog.New(slog.NewTextHandler(stderr, nil)),
	}
	if *verbose {
		cfg.verboseOut = stderr
	}
	secret, err := cli.EnvSecret(getenv, cli.EnvClientSecret)
	if err != nil {
		return config{}, err
	}
	cfg.entra = entra.Config{
		TenantID:     *tenant,
		ClientID:     *clientID,
		ClientSecret: secret,
		Cloud:        cloud.Cloud(),
		Mailbox:      *mailbox,
		Protocols:    entra.IMAP,
		HTTPClient:   ca.HTTPClient(),
		Logger:       cfg.logger,
	}
	cfg.delegated = grant.Delegated()
	if !cfg.delegated && secret == "" {
		return config{}, cli.Usagef("app-only access needs the client secret's value in $%s (or a file named by $%s_FILE)", cli.EnvClientSecret, cli.EnvClientSecret)
	}
	if cfg.store, err = grant.Store(getenv); err != nil {
		return config{}, err
	}
	return cfg, nil
}
