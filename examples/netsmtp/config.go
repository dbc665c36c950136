package main

import (
	"crypto/tls"
	"io"
	"net"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/provider/entra"
)

// config is the program's configuration, from flags and environment.
type config struct {
	tenant, clientID, mailbox string
	secret                    string
	to                        []string
	subject, body             string
	cloud                     entra.Cloud // the global cloud, or its login host replaced by -authority-host
	smtpAddr                  string      // host:port; "": the mailbox's (smtp.office365.com:587)
	tlsConfig                 *tls.Config // -ca-file; nil: the system's authorities
}

// parse reads the flags, with defaults from the environment.
func parse(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := cli.NewFlags("netsmtp", getenv, stderr)
	var (
		tenant        = fs.EnvString("tenant", "MAILOAUTH_TENANT", "", "directory (tenant) ID or verified domain")
		clientID      = fs.EnvString("client-id", "MAILOAUTH_CLIENT_ID", "", "application (client) ID of the app registration")
		mailbox       = fs.EnvString("mailbox", "MAILOAUTH_MAILBOX", "", "mailbox to send from: the login name and the envelope sender")
		to            = fs.EnvString("to", "MAILOAUTH_TO", "", "recipients, separated by commas")
		subject       = fs.EnvString("subject", "MAILOAUTH_SUBJECT", "mailoauth test message", "subject")
		body          = fs.EnvString("body", "MAILOAUTH_BODY", "This message was sent by net/smtp with an OAuth2 token.", "text of the message")
		secretFile    = fs.EnvString("secret-file", "MAILOAUTH_CLIENT_SECRET_FILE", "", "file holding the client secret's value (or put the value in $"+cli.EnvClientSecret+")")
		authorityHost = fs.EnvString("authority-host", "MAILOAUTH_AUTHORITY_HOST", "", "login host instead of https://login.microsoftonline.com")
		smtpAddr      = fs.EnvString("smtp-addr", "MAILOAUTH_SMTP_ADDR", "", "SMTP server as host:port instead of smtp.office365.com:587")
		ca            = fs.CAFile("PEM file of certificate authorities to trust besides the system's; smtp.SendMail cannot take one, so the program then does its steps itself")
	)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := fs.Required("tenant", "client-id", "mailbox", "to"); err != nil {
		return nil, err
	}
	if *smtpAddr != "" {
		if _, _, err := net.SplitHostPort(*smtpAddr); err != nil {
			return nil, cli.Usagef("-smtp-addr %q is not host:port", *smtpAddr)
		}
	}
	c := &config{
		tenant: *tenant, clientID: *clientID, mailbox: *mailbox, to: cli.List(*to),
		subject: *subject, body: *body, smtpAddr: *smtpAddr, tlsConfig: ca.TLSConfig(),
	}
	var err error
	if c.secret, err = cli.Secret(getenv, cli.EnvClientSecret, *secretFile); err != nil {
		return nil, err
	}
	if c.secret == "" {
		return nil, cli.Usagef("no client secret: set $%s or -secret-file", cli.EnvClientSecret)
	}
	if c.cloud, err = cli.CloudNamed("global", *authorityHost); err != nil {
		return nil, err
	}
	return c, nil
}
