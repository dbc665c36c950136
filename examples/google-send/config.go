package main

import (
	"crypto/tls"
	"io"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
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
	implicitTLS   bool
	tokenBaseURL  string
	smtp          *cli.ServerFlags
	tlsConfig     *tls.Config // -ca-file; nil: the system's authorities
	verbose       bool
}

// parse reads the flags, with defaults from the environment.
func parse(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := cli.NewFlags("google-send", getenv, stderr)
	var (
		keyFile      = fs.EnvString("key-file", "MAILOAUTH_GOOGLE_KEY_FILE", getenv(envKeyFileFallback), "the service account's JSON key file (else $"+envKeyFileFallback+")")
		mailbox      = fs.EnvString("mailbox", "MAILOAUTH_MAILBOX", "", "Workspace user the service account acts as: the login name and the envelope sender")
		to           = fs.EnvString("to", "MAILOAUTH_TO", "", "recipients, separated by commas")
		subject      = fs.EnvString("subject", "MAILOAUTH_SUBJECT", "mailoauth test message", "subject")
		body         = fs.EnvString("body", "MAILOAUTH_BODY", "This message was sent by a service account with domain-wide delegation.", "text of the message")
		implicitTLS  = fs.Bool("implicit-tls", false, "send through smtp.gmail.com:465 (TLS from the start) instead of 587 with STARTTLS")
		tokenBaseURL = fs.EnvString("token-base-url", "MAILOAUTH_GOOGLE_BASE_URL", "", "base URL of the token endpoint (base + /token) instead of https://oauth2.googleapis.com")
		ca           = fs.CAFile("PEM file of certificate authorities to trust besides the system's, for the token endpoint and the SMTP server")
		verbose      = fs.Bool("v", false, "print the SMTP dialogue (tokens redacted) and debug logs to stderr")
		smtp         = fs.Server("smtp", "SMTP server instead of smtp.gmail.com", "SMTP port instead of 587 (465 with -implicit-tls)",
			"starttls, tls (implicit) or plaintext (loopback only); default: Gmail's")
	)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := fs.Required("key-file", "mailbox", "to"); err != nil {
		return nil, err
	}
	return &config{
		keyFile: *keyFile, mailbox: *mailbox, to: cli.List(*to), subject: *subject, body: *body,
		implicitTLS: *implicitTLS, tokenBaseURL: *tokenBaseURL, smtp: smtp, tlsConfig: ca.TLSConfig(), verbose: *verbose,
	}, nil
}
