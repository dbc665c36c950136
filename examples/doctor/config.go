package main

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net/mail"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// config is the parsed command line and environment.
type config struct {
	entra      entra.Config
	delegated  bool
	store      tokenstore.Store // delegated only
	smtp, imap *cli.ServerFlags
	skipSMTP   bool
	skipIMAP   bool
	sendTo     string
	tlsConfig  *tls.Config // nil: the system roots
	debug      io.Writer   // SMTP and IMAP dialogues, tokens redacted; nil: none
	logger     *slog.Logger
}

// parseConfig reads flags and the environment. Secrets come only from the
// environment or from files.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := cli.NewFlags("doctor", getenv, stderr)
	var (
		mailbox    = fs.EnvString("mailbox", "", "the mailbox to check (required)")
		tenant     = fs.EnvString("tenant", "", "")
		clientID   = fs.EnvString("client-id", "", "")
		credential = fs.Credential(true)
		ca         = fs.CAFile()
		skipSMTP   = fs.EnvBool("skip-smtp", false, "do not check SMTP (nor require the token to allow it)")
		skipIMAP   = fs.EnvBool("skip-imap", false, "do not check IMAP (nor require the token to allow it)")
		sendTo     = fs.EnvString("to", "", "one address: send it a test message over SMTP (the test send step runs only when set)")
		verbose    = fs.Verbose()
		cloud      = fs.Cloud()
		grant      = fs.Grant()
		smtp       = fs.Server("smtp", "default: the cloud's, port 587 with starttls")
		imap       = fs.Server("imap", "default: the cloud's, port 993 with tls")
	)
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if err := fs.Required("mailbox"); err != nil {
		return config{}, err
	}
	if *sendTo != "" {
		if _, err := mail.ParseAddress(*sendTo); err != nil {
			return config{}, cli.Usagef("-to %q: %v", *sendTo, err)
		}
		if *skipSMTP {
			return config{}, cli.Usagef("-to needs SMTP: drop -skip-smtp")
		}
	}
	cfg := config{skipSMTP: *skipSMTP, skipIMAP: *skipIMAP, sendTo: *sendTo, smtp: smtp, imap: imap, tlsConfig: ca.TLSConfig()}
	if *verbose {
		cfg.debug = stderr
	}
	cfg.logger = cli.TextLogger(stderr, slog.LevelWarn)
	cfg.entra = entra.Config{
		TenantID:   *tenant,
		ClientID:   *clientID,
		Cloud:      cloud.Cloud(),
		Mailbox:    *mailbox,
		HTTPClient: ca.HTTPClient(),
		Lazy:       true, // the token is a step of its own
	}
	credential.Credential().Entra(&cfg.entra)
	if !*skipSMTP {
		cfg.entra.Protocols |= entra.SMTP
	}
	if !*skipIMAP {
		cfg.entra.Protocols |= entra.IMAP
	}
	cfg.delegated = grant.Delegated()
	var err error
	if cfg.store, err = grant.Store(); err != nil {
		return config{}, err
	}
	return cfg, nil
}
