package main

import (
	"crypto/tls"
	"io"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/provider/entra"
)

// config is the program's configuration, from flags and environment.
type config struct {
	tenant, clientID, mailbox string
	to                        []string
	subject, body             string
	cloud                     entra.Cloud
	credential                cli.Credential // a secret (with its expiry) or a certificate
	smtp                      *cli.ServerFlags
	tlsConfig                 *tls.Config // -ca-file; nil: the system's authorities
	verbose                   bool
}

// parse reads the flags, with defaults from the environment, the secret
// from the environment or its file, and the certificate.
func parse(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := cli.NewFlags("entra-send", getenv, stderr)
	var (
		tenant     = fs.EnvString("tenant", "", "")
		clientID   = fs.EnvString("client-id", "", "")
		mailbox    = fs.EnvString("mailbox", "", "")
		to         = fs.EnvString("to", "", "")
		subject    = fs.EnvString("subject", "mailoauth test message", "")
		body       = fs.EnvString("body", "This message was sent with an app-only OAuth2 token.", "")
		credential = fs.Credential(true)
		ca         = fs.CAFile()
		verbose    = fs.Verbose()
		cloud      = fs.Cloud()
		smtp       = fs.Server("smtp", "default: the cloud's, port 587 with starttls")
	)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := fs.Required("tenant", "client-id", "mailbox", "to"); err != nil {
		return nil, err
	}
	c := &config{
		tenant: *tenant, clientID: *clientID, mailbox: *mailbox, to: cli.List(*to),
		subject: *subject, body: *body, cloud: cloud.Cloud(), credential: credential.Credential(),
		smtp: smtp, tlsConfig: ca.TLSConfig(), verbose: *verbose,
	}
	if c.credential.None() {
		return nil, credential.Missing()
	}
	return c, nil
}
