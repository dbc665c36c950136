package main

import (
	"crypto/tls"
	"io"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// config is the program's configuration, from flags and environment.
type config struct {
	tenant, clientID, mailbox string
	secret                    string
	storeDir                  string
	store                     tokenstore.Store
	encrypted                 bool // the store is encrypted with the key of cli.EnvStoreKey
	force, send               bool
	to                        []string
	subject, body             string
	cloud                     entra.Cloud
	smtp                      *cli.ServerFlags
	tlsConfig                 *tls.Config // -ca-file; nil: the system's authorities
	verbose                   bool
}

// parse reads the flags, with defaults from the environment, and opens
// the grant folder.
func parse(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := cli.NewFlags("entra-authorize", getenv, stderr)
	var (
		tenant   = fs.EnvString("tenant", "MAILOAUTH_TENANT", "", "directory (tenant) ID or verified domain; \"organizations\" for a multi-tenant app")
		clientID = fs.EnvString("client-id", "MAILOAUTH_CLIENT_ID", "", "application (client) ID of the app registration")
		mailbox  = fs.EnvString("mailbox", "MAILOAUTH_MAILBOX", "", "mailbox to authorize and send from")
		storeDir = fs.EnvString("store", "MAILOAUTH_STORE_DIR", cli.DefaultStoreDir("entra-authorize"), "folder the grant is saved in (created 0700; files 0600); encrypted when $"+cli.EnvStoreKey+" is set")
		force    = fs.Bool("force", false, "authorize again even if a grant is stored")
		send     = fs.Bool("send", true, "send a test message with the grant")
		to       = fs.EnvString("to", "MAILOAUTH_TO", "", "recipients of the test message, separated by commas; default: the mailbox itself")
		subject  = fs.EnvString("subject", "MAILOAUTH_SUBJECT", "mailoauth test message", "subject of the test message")
		body     = fs.EnvString("body", "MAILOAUTH_BODY", "This message was sent with a delegated OAuth2 grant.", "text of the test message")
		ca       = fs.CAFile("PEM file of certificate authorities to trust besides the system's, for the login host and the SMTP server")
		verbose  = fs.Bool("v", false, "print the SMTP dialogue (tokens redacted) and debug logs to stderr")
		cloud    = fs.Cloud("")
		smtp     = fs.Server("smtp", "SMTP server instead of the cloud's", "SMTP port instead of the cloud's (587)",
			"starttls, tls (implicit) or plaintext (loopback only); default: the cloud's (starttls)")
	)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := fs.Required("tenant", "client-id", "mailbox", "store"); err != nil {
		return nil, err
	}
	c := &config{
		tenant: *tenant, clientID: *clientID, mailbox: *mailbox, storeDir: *storeDir,
		force: *force, send: *send, to: cli.List(*to), subject: *subject, body: *body,
		cloud: cloud.Cloud(), smtp: smtp, tlsConfig: ca.TLSConfig(), verbose: *verbose,
		secret: getenv(cli.EnvClientSecret),
	}
	if len(c.to) == 0 {
		c.to = []string{c.mailbox}
	}
	key := getenv(cli.EnvStoreKey)
	var err error
	if c.store, err = cli.OpenStore(c.storeDir, key); err != nil {
		return nil, err
	}
	c.encrypted = key != ""
	return c, nil
}
