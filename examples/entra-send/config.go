package main

import (
	"crypto/tls"
	"io"
	"time"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/provider/entra"
)

// config is the program's configuration, from flags and environment.
type config struct {
	tenant, clientID, mailbox string
	to                        []string
	subject, body             string
	cloud                     entra.Cloud
	secret                    string             // from the environment or -secret-file
	certificate               *entra.Certificate // -cert-file; nil with a secret
	secretExpires             time.Time
	smtp                      *cli.ServerFlags
	tlsConfig                 *tls.Config // -ca-file; nil: the system's authorities
	verbose                   bool
}

// parse reads the flags, with defaults from the environment, the secret
// from the environment or its file, and the certificate.
func parse(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := cli.NewFlags("entra-send", getenv, stderr)
	var (
		tenant        = fs.EnvString("tenant", "MAILOAUTH_TENANT", "", "directory (tenant) ID or verified domain, e.g. contoso.onmicrosoft.com")
		clientID      = fs.EnvString("client-id", "MAILOAUTH_CLIENT_ID", "", "application (client) ID of the app registration")
		mailbox       = fs.EnvString("mailbox", "MAILOAUTH_MAILBOX", "", "mailbox to send from: the login name and the envelope sender")
		to            = fs.EnvString("to", "MAILOAUTH_TO", "", "recipients, separated by commas")
		subject       = fs.EnvString("subject", "MAILOAUTH_SUBJECT", "mailoauth test message", "subject")
		body          = fs.EnvString("body", "MAILOAUTH_BODY", "This message was sent with an app-only OAuth2 token.", "text of the message")
		secretFile    = fs.EnvString("secret-file", "MAILOAUTH_CLIENT_SECRET_FILE", "", "file holding the client secret's value (or put the value in $"+cli.EnvClientSecret+")")
		certFile      = fs.EnvString("cert-file", "MAILOAUTH_CERT_FILE", "", "certificate credential instead of a secret: PEM with the certificate and its key, or .pfx/.p12 (password in $"+cli.EnvCertPassword+")")
		secretExpires = fs.EnvString("secret-expires", "MAILOAUTH_SECRET_EXPIRES", "", "the client secret's expiry date, e.g. 2027-03-01: warnings are logged 30, 7 and 1 days before")
		ca            = fs.CAFile("PEM file of certificate authorities to trust besides the system's, for the login host and the SMTP server")
		verbose       = fs.Bool("v", false, "print the SMTP dialogue (tokens redacted) and debug logs to stderr")
		cloud         = fs.Cloud("")
		smtp          = fs.Server("smtp", "SMTP server instead of the cloud's", "SMTP port instead of the cloud's (587)",
			"starttls, tls (implicit) or plaintext (loopback only); default: the cloud's (starttls)")
	)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := fs.Required("tenant", "client-id", "mailbox", "to"); err != nil {
		return nil, err
	}
	c := &config{
		tenant: *tenant, clientID: *clientID, mailbox: *mailbox, to: cli.List(*to),
		subject: *subject, body: *body, cloud: cloud.Cloud(), smtp: smtp, tlsConfig: ca.TLSConfig(), verbose: *verbose,
	}
	var err error
	if *secretExpires != "" {
		if c.secretExpires, err = time.Parse(time.DateOnly, *secretExpires); err != nil {
			return nil, cli.Usagef("-secret-expires %q is not a date like 2027-03-01", *secretExpires)
		}
	}

	// Exactly one credential: a secret (environment or file) or a certificate.
	if c.secret, err = cli.Secret(getenv, cli.EnvClientSecret, *secretFile); err != nil {
		return nil, err
	}
	switch {
	case c.secret != "" && *certFile != "":
		return nil, cli.Usagef("both a client secret and -cert-file are given: choose one credential")
	case c.secret == "" && *certFile == "":
		return nil, cli.Usagef("no credential: set $%s, -secret-file or -cert-file", cli.EnvClientSecret)
	}
	if *certFile != "" {
		if c.certificate, err = cli.LoadCertificate(*certFile, getenv(cli.EnvCertPassword)); err != nil {
			return nil, err
		}
	}
	return c, nil
}
