package main

import (
	"crypto/tls"
	"io"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/oidc"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// config is the program's configuration, from flags and environment.
type config struct {
	oidc          oidc.Config
	delegated     bool
	store         tokenstore.Store // delegated only
	to            []string
	subject, body string
	tlsConfig     *tls.Config // -ca-file; nil: the system's authorities
	verbose       bool
}

// parse reads the flags, with defaults from the environment, the secret
// from the environment or its file, and the private key of -key-file.
func parse(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := cli.NewFlags("oidc-send", getenv, stderr)
	var (
		clientID   = fs.EnvString("client-id", "", "")
		mailbox    = fs.EnvString("mailbox", "", "")
		to         = fs.EnvString("to", "", "default: the mailbox itself")
		subject    = fs.EnvString("subject", "mailoauth test message", "")
		body       = fs.EnvString("body", "This message was sent with an OAuth2 token of a standards server.", "")
		server     = fs.OIDC("")
		credential = fs.Credential(false)
		grant      = fs.Grant()
		ca         = fs.CAFile()
		verbose    = fs.Verbose()
		smtp       = fs.Server("smtp", "default port 587 with starttls")
	)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := fs.Required("issuer", "client-id", "mailbox", "smtp-host"); err != nil {
		return nil, err
	}
	cfg, err := server.Config(*clientID, credential.Credential(), *mailbox, ca.HTTPClient())
	if err != nil {
		return nil, err
	}
	cfg.SMTP = smtp.Apply(provider.Server{Port: 587, Security: provider.StartTLS})
	c := &config{oidc: cfg, delegated: grant.Delegated(), to: cli.List(*to), subject: *subject, body: *body,
		tlsConfig: ca.TLSConfig(), verbose: *verbose}
	if len(c.to) == 0 {
		c.to = []string{*mailbox}
	}
	if c.store, err = grant.Store(); err != nil {
		return nil, err
	}
	return c, nil
}
