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
}

// parseConfig reads flags and the environment. Secrets come only from the
// environment or from files.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := cli.NewFlags("doctor", getenv, stderr)
	var (
		mailbox  = fs.EnvString("mailbox", "MAILOAUTH_MAILBOX", "", "mailbox to check (required)")
		tenant   = fs.EnvString("tenant", "MAILOAUTH_TENANT", "", "directory (tenant) ID or verified domain")
		clientID = fs.EnvString("client-id", "MAILOAUTH_CLIENT_ID", "", "application (client) ID of the app registration")
		certFile = fs.EnvString("cert-file", "MAILOAUTH_CERT_FILE", "", "certificate credential instead of a secret: PEM with the certificate and its key, or .pfx/.p12 (password in $"+cli.EnvCertPassword+")")
		ca       = fs.CAFile("PEM file of certificate authorities to trust besides the system's, for the login host and the mail servers")
		skipSMTP = fs.EnvBool("skip-smtp", "MAILOAUTH_SKIP_SMTP", "do not check SMTP (nor require the token to allow it)")
		skipIMAP = fs.EnvBool("skip-imap", "MAILOAUTH_SKIP_IMAP", "do not check IMAP (nor require the token to allow it)")
		sendTo   = fs.EnvString("send-to", "MAILOAUTH_SEND_TO", "", "send a test message to this address")
		verbose  = fs.Bool("v", false, "print the SMTP and IMAP dialogues to stderr (tokens redacted)")
		cloud    = fs.Cloud("")
		grant    = fs.Grant()
		smtp     = fs.Server("smtp", "SMTP server instead of the cloud's", "SMTP port instead of the cloud's (587)",
			"starttls, tls (implicit) or plaintext (loopback only); default: the cloud's (starttls)")
		imap = fs.Server("imap", "IMAP server instead of the cloud's", "IMAP port instead of the cloud's (993)",
			"tls (implicit), starttls or plaintext (loopback only); default: the cloud's (tls)")
	)
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if err := fs.Required("mailbox"); err != nil {
		return config{}, err
	}
	if *sendTo != "" {
		if _, err := mail.ParseAddress(*sendTo); err != nil {
			return config{}, cli.Usagef("-send-to %q: %v", *sendTo, err)
		}
		if *skipSMTP {
			return config{}, cli.Usagef("-send-to needs SMTP: drop -skip-smtp")
		}
	}
	cfg := config{skipSMTP: *skipSMTP, skipIMAP: *skipIMAP, sendTo: *sendTo, smtp: smtp, imap: imap, tlsConfig: ca.TLSConfig()}
	if *verbose {
		cfg.debug = stderr
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
		HTTPClient:   ca.HTTPClient(),
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
		if cfg.entra.Certificate, err = cli.LoadCertificate(*certFile, getenv(cli.EnvCertPassword)); err != nil {
			return config{}, err
		}
	}
	cfg.delegated = grant.Delegated()
	if cfg.store, err = grant.Store(getenv); err != nil {
		return config{}, err
	}
	return cfg, nil
}
