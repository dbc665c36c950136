// Command mailgate is the receiving side of a helpdesk: it watches an
// Exchange Online mailbox over IMAP, turns each message into a JSON ticket
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
// Then, with the client secret's value in the environment:
//
//	export MAILOAUTH_CLIENT_SECRET='<the secret value>'
//	go run ./examples/mailgate -tenant <tenant id> -client-id <client id> -mailbox helpdesk@contoso.com -out tickets
//
// Delegated access (-grant delegated) uses a grant saved earlier by
// examples/entra-authorize (its folder is the default -store) or
// examples/webauth (pass its -store), decrypted with MAILOAUTH_STORE_KEY
// when it was encrypted; the app needs the delegated permission
// IMAP.AccessAsUser.All.
//
// The Processed folder is created when missing. Stop the program with
// Ctrl-C or SIGTERM: it finishes the message in hand first.
//
// Every setting can also be given by the environment variable named in -h
// (MAILOAUTH_TENANT, MAILOAUTH_CLIENT_ID, ...). -cloud selects a national
// cloud; -authority-host, -imap-host, -imap-port, -imap-security and
// -ca-file point the program at other servers: its tests run it against
// providertest and imapxtest.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mailoauth/mailoauth/imapx"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/tokenstore"
)

const (
	// idpTimeout bounds each request to the identity provider.
	idpTimeout = 30 * time.Second
	// setupTimeout bounds the first token and the folder check at start.
	setupTimeout = time.Minute
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		os.Exit(explain(os.Stderr, "mailgate", err))
	}
}

// config is the parsed command line and environment.
type config struct {
	entra      entra.Config
	delegated  bool
	store      tokenstore.Store // delegated only
	imap       serverOverride
	tlsConfig  *tls.Config // nil: the system roots
	folder     string
	processed  string
	out        string // a folder, or "-" for stdout
	poll       time.Duration
	logger     *slog.Logger
	verboseOut io.Writer // the IMAP dialogue, tokens redacted; nil: none
}

// run watches the mailbox until ctx is done. It returns nil after a clean
// stop, and an error when the mailbox cannot be opened at all.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	opts := imapx.Options{TLSConfig: cfg.tlsConfig, Logger: cfg.logger, Debug: cfg.verboseOut}

	// Open the mailbox and check the folders now, so that a wrong
	// configuration fails at once with its diagnosis instead of in the
	// mailgate's reconnection loop.
	setupCtx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	var mb *provider.Mailbox
	if cfg.delegated {
		mb, err = entra.Delegated(setupCtx, cfg.entra, cfg.store)
	} else {
		mb, err = entra.ClientCredentials(setupCtx, cfg.entra)
	}
	if err != nil {
		return err
	}
	mb.IMAP = cfg.imap.apply(mb.IMAP)
	if err := ensureFolder(setupCtx, mb, &opts, cfg.processed); err != nil {
		return err
	}

	out, err := newOutput(cfg.out, stdout)
	if err != nil {
		return err
	}
	gate := imapx.NewMailgate(mb, imapx.MailgateOptions{
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

// output writes tickets to a folder or to stdout.
type output struct {
	mu     sync.Mutex // serialises writes to stdout
	dir    string     // "" for stdout
	stdout io.Writer
}

func newOutput(dest string, stdout io.Writer) (*output, error) {
	if dest == "-" {
		return &output{stdout: stdout}, nil
	}
	if err := os.MkdirAll(dest, 0o750); err != nil {
		return nil, err
	}
	return &output{dir: dest, stdout: stdout}, nil
}

// write stores t. In a folder the ticket is written to a temporary file
// and renamed into place, so that a reader never sees half a ticket.
func (o *output) write(t *Ticket) error {
	data, err := json.Marshal(t)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.dir == "" {
		_, err := fmt.Fprintf(o.stdout, "%s\n", data)
		return err
	}
	name := filepath.Join(o.dir, strconv.FormatUint(uint64(t.UIDValidity), 10)+"-"+strconv.FormatUint(uint64(t.UID), 10)+".json")
	tmp, err := os.CreateTemp(o.dir, ".ticket-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return err
	}
	// The ticket is in place: a reader gone from stdout must not make the
	// message be handled again.
	_, _ = fmt.Fprintln(o.stdout, name)
	return nil
}

// parseConfig reads flags and the environment. Secrets come only from the
// environment or from files.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := newEnvFlags("mailgate", getenv, stderr)
	var (
		mailbox       = fs.str("mailbox", "MAILOAUTH_MAILBOX", "", "mailbox to watch (required)")
		tenant        = fs.str("tenant", "MAILOAUTH_TENANT", "", "directory (tenant) ID or verified domain")
		clientID      = fs.str("client-id", "MAILOAUTH_CLIENT_ID", "", "application (client) ID of the app registration")
		grant         = fs.str("grant", "MAILOAUTH_GRANT", "app", "app (client credentials) or delegated (a grant saved in -store)")
		storeDir      = fs.str("store", "MAILOAUTH_STORE_DIR", defaultStoreDir(), "delegated: folder of the saved grant; decrypted with $"+envStoreKey+" when set")
		cloud         = fs.str("cloud", "MAILOAUTH_CLOUD", "global", "Microsoft cloud: global, usgov, usgovdod or china")
		authorityHost = fs.str("authority-host", "MAILOAUTH_AUTHORITY_HOST", "", "login host instead of the cloud's, e.g. https://login.microsoftonline.com")
		imapHost      = fs.str("imap-host", "MAILOAUTH_IMAP_HOST", "", "IMAP server instead of the cloud's")
		imapPort      = fs.integer("imap-port", "MAILOAUTH_IMAP_PORT", 0, "IMAP port instead of the cloud's (993)")
		imapSecurity  = fs.str("imap-security", "MAILOAUTH_IMAP_SECURITY", "", "tls (implicit), starttls or plaintext (loopback only); default: the cloud's (tls)")
		caFile        = fs.str("ca-file", "MAILOAUTH_CA_FILE", "", "PEM file of certificate authorities to trust besides the system's, for the login host and the IMAP server")
		folder        = fs.str("folder", "MAILOAUTH_FOLDER", "INBOX", "folder to watch")
		processed     = fs.str("processed", "MAILOAUTH_PROCESSED", "Processed", "folder handled messages are moved to (created when missing)")
		out           = fs.str("out", "MAILOAUTH_OUT", "tickets", `folder for the tickets, or "-" to print them on stdout`)
		poll          = fs.duration("poll", "MAILOAUTH_POLL", time.Minute, "time between checks when the server has no IDLE")
		verbose       = fs.Bool("v", false, "print the IMAP dialogue to stderr (tokens redacted)")
	)
	if err := fs.parse(args); err != nil {
		return config{}, err
	}
	if *mailbox == "" {
		return config{}, usagef("-mailbox is required")
	}
	if *folder == *processed {
		return config{}, usagef("-folder and -processed must differ")
	}
	if *poll <= 0 {
		return config{}, usagef("-poll must be positive")
	}
	cfg := config{
		imap:      serverOverride{flag: "imap", host: *imapHost, port: *imapPort, security: *imapSecurity},
		folder:    *folder,
		processed: *processed,
		out:       *out,
		poll:      *poll,
		logger:    slog.New(slog.NewTextHandler(stderr, nil)),
	}
	if err := cfg.imap.check(); err != nil {
		return config{}, err
	}
	if *verbose {
		cfg.verboseOut = stderr
	}
	secret, err := secretFromEnv(getenv, envClientSecret)
	if err != nil {
		return config{}, err
	}
	if cfg.tlsConfig, err = loadTLSConfig(*caFile); err != nil {
		return config{}, err
	}
	httpClient := &http.Client{Timeout: idpTimeout}
	if cfg.tlsConfig != nil {
		httpClient.Transport = &http.Transport{TLSClientConfig: cfg.tlsConfig, Proxy: http.ProxyFromEnvironment}
	}
	cl, err := cloudNamed(*cloud)
	if err != nil {
		return config{}, err
	}
	if *authorityHost != "" {
		cl = cl.WithAuthorityHost(strings.TrimRight(*authorityHost, "/"))
	}
	cfg.entra = entra.Config{
		TenantID:     *tenant,
		ClientID:     *clientID,
		ClientSecret: secret,
		Cloud:        cl,
		Mailbox:      *mailbox,
		Protocols:    entra.IMAP,
		HTTPClient:   httpClient,
		Logger:       cfg.logger,
	}
	switch *grant {
	case "app":
		if secret == "" {
			return config{}, usagef("app-only access needs the client secret's value in $%s (or a file named by $%s_FILE)", envClientSecret, envClientSecret)
		}
	case "delegated":
		cfg.delegated = true
		if cfg.store, err = openStore(*storeDir, getenv); err != nil {
			return config{}, err
		}
	default:
		return config{}, usagef("-grant %q: want app or delegated", *grant)
	}
	return cfg, nil
}
