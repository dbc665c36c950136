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
	credential                cli.Credential // none: a public client
	storeDir                  string
	store                     tokenstore.Store
	encrypted                 bool // the store is encrypted
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
		tenant     = fs.EnvString("tenant", "", "\"organizations\" for a multi-tenant app")
		clientID   = fs.EnvString("client-id", "", "")
		mailbox    = fs.EnvString("mailbox", "", "the mailbox to authorize")
		credential = fs.Credential(false)
		store      = fs.Store("entra-authorize", "")
		force      = fs.EnvBool("force", false, "authorize again even if a grant is stored")
		send       = fs.EnvBool("send", true, "send a test message with the grant")
		to         = fs.EnvString("to", "", "default: the mailbox itself")
		subject    = fs.EnvString("subject", "mailoauth test message", "")
		body       = fs.EnvString("body", "This message was sent with a delegated OAuth2 grant.", "")
		ca         = fs.CAFile()
		verbose    = fs.Verbose()
		cloud      = fs.Cloud()
		smtp       = fs.Server("smtp", "default: the cloud's, port 587 with starttls")
	)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := fs.Required("tenant", "client-id", "mailbox", "store"); err != nil {
		return nil, err
	}
	c := &config{
		tenant: *tenant, clientID: *clientID, mailbox: *mailbox, credential: credential.Credential(),
		storeDir: store.Dir(), encrypted: store.Encrypted(),
		force: *force, send: *send, to: cli.List(*to), subject: *subject, body: *body,
		cloud: cloud.Cloud(), smtp: smtp, tlsConfig: ca.TLSConfig(), verbose: *verbose,
	}
	if len(c.to) == 0 {
		c.to = []string{c.mailbox}
	}
	var err error
	if c.store, err = store.Open(); err != nil {
		return nil, err
	}
	return c, nil
}
