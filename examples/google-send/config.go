package main

import (
	"crypto/tls"
	"io"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/provider"
)

// envKeyFileFallback is the variable Google's own tools read the key file
// path from.
const envKeyFileFallback = "GOOGLE_APPLICATION_CREDENTIALS"

// config is the program's configuration, from flags and environment.
type config struct {
	keyFile       string
	mailbox       string
	to            []string
	subject, body string
	implicitTLS   bool // -smtp-security tls: Gmail's port 465
	baseURL       string
	smtp          *cli.ServerFlags
	tlsConfig     *tls.Config // -ca-file; nil: the system's authorities
	verbose       bool
}

// parse reads the flags, with defaults from the environment.
func parse(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := cli.NewFlags("google-send", getenv, stderr)
	var (
		keyFile = fs.EnvString("google-key-file", getenv(envKeyFileFallback), "default: $"+envKeyFileFallback)
		mailbox = fs.EnvString("mailbox", "", "a user of the Workspace domain, whom the service account acts as")
		to      = fs.EnvString("to", "", "")
		subject = fs.EnvString("subject", "mailoauth test message", "")
		body    = fs.EnvString("body", "This message was sent by a service account with domain-wide delegation.", "")
		baseURL = fs.EnvString("google-base-url", "", "")
		ca      = fs.CAFile()
		verbose = fs.Verbose()
		smtp    = fs.Server("smtp", "default: smtp.gmail.com, port 587 with starttls; tls is port 465")
	)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := fs.Required("google-key-file", "mailbox", "to"); err != nil {
		return nil, err
	}
	sec, _ := smtp.Security()
	return &config{
		keyFile: *keyFile, mailbox: *mailbox, to: cli.List(*to), subject: *subject, body: *body,
		implicitTLS: sec == provider.ImplicitTLS, baseURL: *baseURL, smtp: smtp, tlsConfig: ca.TLSConfig(), verbose: *verbose,
	}, nil
}
