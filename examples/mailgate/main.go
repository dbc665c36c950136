// Command mailgate is the receiving side of a helpdesk: it watches an
// Exchange Online or Gmail mailbox over IMAP, turns each message into a JSON ticket
// (subject, sender, date, text body, attachment names and sizes) and moves
// the message to a Processed folder once its ticket is written.
//
// Tickets go into a folder, one file per message named
// <uidvalidity>-<uid>.json (a message handled again after a crash
// overwrites its own ticket instead of making a second one), and the path
// of each new file is printed on stdout; with -out - the tickets themselves
// are printed on stdout, one JSON object per line. A message whose ticket
// cannot be written stays in the inbox and is tried again later.
//
// App-only access (the default, -grant app) needs an app registration
// with the application permission IMAP.AccessAsApp (Office 365 Exchange
// Online) and admin consent, plus, in Exchange Online PowerShell, the app's
// service principal and its right to the mailbox:
//
//	New-ServicePrincipal -AppId <application id> -ObjectId <enterprise app object id>
//	Add-MailboxPermission -Identity helpdesk@contoso.com -User <service principal id> -AccessRights FullAccess
//
// Then, with the client secret's value in the environment (or its file in
// -secret-file, or a certificate in -cert-file):
//
//	export MAILOAUTH_CLIENT_SECRET='<the secret value>'
//	go run ./examples/mailgate -tenant <tenant id> -client-id <client id> -mailbox helpdesk@contoso.com -out tickets
//
// Delegated access (-grant delegated) uses a grant saved earlier by
// examples/entra-authorize (its folder is the default -store) or
// examples/webauth (pass its -store), decrypted with MAILOAUTH_STORE_KEY
// (or -store-key-file) when it was encrypted; the app needs the delegated
// permission IMAP.AccessAsUser.All.
//
// A Gmail or Workspace mailbox (-provider google) is read the same two
// ways. As a service account with domain-wide delegation for the scope
// https://mail.google.com/ (the setup of examples/google-send), with its
// key file:
//
//	go run ./examples/mailgate -provider google -google-key-file service-account.json -mailbox helpdesk@example.com
//
// or with a user's grant that examples/webauth -provider google saved,
// and the OAuth client it was given to (-google-client-json, or
// -client-id with the secret in MAILOAUTH_CLIENT_SECRET):
//
//	go run ./examples/mailgate -provider google -grant delegated -google-client-json client_secret.json \
//		-store <webauth's -store> -mailbox helpdesk@example.com
//
// A mailbox on a server that accepts the tokens of any standards-following
// authorization server (-provider oidc: Dovecot with Keycloak or
// Authentik, say) is read with the client's own token (client credentials)
// or with a grant examples/oidc-send -grant delegated saved:
//
//	go run ./examples/mailgate -provider oidc -issuer https://sso.example.com/realms/mail //		-client-id helpdesk -scope mail -mailbox helpdesk@example.com -imap-host mail.example.com
//
// The Processed folder is created when missing. Stop the program with
// Ctrl-C or SIGTERM: it finishes the message in hand first.
//
// Every setting can also be given by the environment variable named in -h
// (MAILOAUTH_TENANT, MAILOAUTH_CLIENT_ID, ...). -cloud selects a national
// cloud; -authority-host, -google-base-url, -imap-host, -imap-port,
// -imap-security and -ca-file point the program at other servers: its
// tests run it against providertest and imapxtest, and
// examples/testservers starts them for a try from the shell.
//
// The flags, secrets, grant folder and certificate authorities are read by
// examples/internal/cli, shared by the examples: a copy of this program
// taken out of the repository needs that package alongside it, or the few
// functions of it that it calls.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/imapx"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/google"
	"github.com/mailoauth/mailoauth/provider/oidc"
)

// setupTimeout bounds the first token and the folder check at start.
const setupTimeout = time.Minute

func main() { cli.Main("mailgate", run) }

// run watches the mailbox until ctx is done. It returns nil after a clean
// stop, and an error when the mailbox cannot be opened at all.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	// Open the mailbox and check the folders now, so that a wrong
	// configuration fails at once with its diagnosis instead of in the
	// mailgate's reconnection loop. A failure here is reported once, by
	// cli.Main: log lines that only repeat it are dropped.
	setupLog, reported := cli.Once(cfg.logger)
	mb, err := setup(ctx, cfg, setupLog)
	reported(err)
	if err != nil {
		return err
	}
	opts := imapx.Options{TLSConfig: cfg.tlsConfig, Logger: cfg.logger, Debug: cfg.verboseOut}

	out, err := newOutput(cfg.out, stdout)
	if err != nil {
		return err
	}
	gate := imapx.NewMailgate(mb, &imapx.MailgateOptions{
		Options:      opts,
		Folder:       cfg.folder,
		After:        imapx.Move,
		MoveTo:       cfg.processed,
		PollInterval: cfg.poll,
	}, func(ctx context.Context, m *imapx.Message) error {
		t, err := newTicket(m)
		if err != nil {
			return err // the message stays and is tried again
		}
		if t.Problem != "" {
			cfg.logger.WarnContext(ctx, "message only partly parsed", "uid", m.UID, "problem", t.Problem)
		}
		return out.write(t)
	})
	cfg.logger.InfoContext(ctx, "watching for mail", "mailbox", mb.Address, "folder", cfg.folder, "server", mb.IMAP.Addr())
	err = gate.Run(ctx)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}

// setup opens the mailbox of cfg, its token logging to logger, and makes
// sure the folder for handled messages exists.
func setup(ctx context.Context, cfg config, logger *slog.Logger) (*provider.Mailbox, error) {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	var mb *provider.Mailbox
	var err error
	switch {
	case cfg.provider == providerGoogle && cfg.delegated:
		cfg.google.Logger = logger
		cfg.credential.WarnExpiry(ctx, logger, time.Now()) // google does not
		mb, err = google.Delegated(ctx, cfg.google, cfg.store)
	case cfg.provider == providerGoogle:
		cfg.google.Logger = logger
		mb, err = google.ServiceAccount(ctx, cfg.google)
	case cfg.provider == providerOIDC && cfg.delegated:
		cfg.oidc.Logger = logger
		mb, err = oidc.Delegated(ctx, cfg.oidc, cfg.store)
	case cfg.provider == providerOIDC:
		cfg.oidc.Logger = logger
		mb, err = oidc.ClientCredentials(ctx, cfg.oidc)
	default:
		cfg.entra.Logger = logger
		if !cfg.credential.None() {
			// A wrong tenant, client or secret is named precisely.
			if err := cli.CheckCredentials(ctx, cfg.entra); err != nil {
				return nil, err
			}
		}
		if cfg.delegated {
			mb, err = entra.Delegated(ctx, cfg.entra, cfg.store)
		} else {
			mb, err = entra.ClientCredentials(ctx, cfg.entra)
		}
	}
	if err != nil {
		return nil, err
	}
	mb.IMAP = cfg.imap.Apply(mb.IMAP)
	opts := imapx.Options{TLSConfig: cfg.tlsConfig, Logger: logger, Debug: cfg.verboseOut}
	if err := ensureFolder(ctx, mb, &opts, cfg.processed); err != nil {
		return nil, err
	}
	return mb, nil
}

// ensureFolder logs in once and creates folder when the mailbox lacks it.
func ensureFolder(ctx context.Context, mb *provider.Mailbox, opts *imapx.Options, folder string) error {
	c, err := imapx.Dial(ctx, mb, opts)
	if err != nil {
		return err
	}
	defer c.Close()
	found, err := c.List("", folder, nil).Collect()
	if err != nil {
		return fmt.Errorf("list folder %q: %w", folder, err)
	}
	if len(found) == 0 {
		if err := c.Create(folder, nil).Wait(); err != nil {
			return fmt.Errorf("create folder %q: %w", folder, err)
		}
	}
	return c.Logout().Wait()
}
