package main

import (
	"crypto/tls"
	"io"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
)

// config is the program's configuration, from flags and environment.
type config struct {
	tenant, clientID, mailbox string
	credential                cli.Credential
	to                        []string
	subject, body             string
	cloud                     entra.Cloud
	smtp                      *cli.ServerFlags // host and port; the security is always STARTTLS
	tlsConfig                 *tls.Config      // -ca-file; nil: the system's authorities
}

// parse reads the flags, with defaults from the environment.
func parse(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := cli.NewFlags("netsmtp", getenv, stderr)
	var (
		tenant     = fs.EnvString("tenant", "", "")
		clientID   = fs.EnvString("client-id", "", "")
		mailbox    = fs.EnvString("mailbox", "", "")
		to         = fs.EnvString("to", "", "")
		subject    = fs.EnvString("subject", "mailoauth test message", "")
		body       = fs.EnvString("body", "This message was sent by net/smtp with an OAuth2 token.", "")
		credential = fs.Credential(true)
		cloud      = fs.Cloud()
		smtp       = fs.Server("smtp", "default: the cloud's, port 587; net/smtp knows only starttls")
		ca         = fs.CAFile()
	)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := fs.Required("tenant", "client-id", "mailbox", "to"); err != nil {
		return nil, err
	}
	if sec, set := smtp.Security(); set && sec != provider.StartTLS {
		return nil, cli.Usagef("-smtp-security %s: net/smtp sends only with starttls", sec)
	}
	c := &config{
		tenant: *tenant, clientID: *clientID, mailbox: *mailbox, credential: credential.Credential(),
		to: cli.List(*to), subject: *subject, body: *body, cloud: cloud.Cloud(), smtp: smtp, tlsConfig: ca.TLSConfig(),
	}
	if c.credential.None() {
		return nil, credential.Missing()
	}
	return c, nil
}
