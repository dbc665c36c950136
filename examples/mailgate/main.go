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
// examples/entra-authorize or examples/webauth in the file store -store
// (decrypted with MAILOAUTH_STORE_KEY when it was encrypted); the app needs
// the delegated permission IMAP.AccessAsUser.All.
//
// The Processed folder is created when missing. Stop the program with
// Ctrl-C: it finishes the message in hand first.
//
// -authority-host, -imap-host, -imap-port, -imap-security and -ca-file point
// the program at other servers: its tests run it against providertest and
// imapxtest.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
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

// Environment variables read for secrets. Each may instead name a file
// holding the value, with the suffix _FILE (MAILOAUTH_CLIENT_SECRET_FILE).
const (
	envClientSecret = "MAILOAUTH_CLIENT_SECRET"
	envStoreKey     = "MAILOAUTH_STORE_KEY" // 32 bytes, base64
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
		os.Exit(fail(os.Stderr, err))
	}
}

// fail prints err with the diagnosis provider.Diagnose gives for it, and
// returns the exit status.
func fail(w io.Writer, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	fmt.Fprintln(w, "mailgate:", err)
	if d := provider.Diagnose(err); d != nil {
		fmt.Fprintf(w, "%s (%s): %s\nFix: %s\n", d.Kind, d.Code, d.Summary, d.Fix)
	}
	return 1
}

// config is the parsed command line and environment.
type config struct {
	entra      entra.Config
	delegated  bool
	store      tokenstore.Store // delegated only
	imap       provider.Server  // zero Host: Exchange Online's
	tlsConfig  *tls.Config      // nil: the system roots
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
	if cfg.imap.Host != "" {
		mb.IMAP = cfg.imap
	}
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
	_, err = fmt.Fprintln(o.stdout, name)
	return err
}

// parseConfig reads flags and the environment. Secrets come only from the
// environment or from files.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("mailgate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		mailbox       = fs.String("mailbox", "", "mailbox to watch (required)")
		tenant        = fs.String("tenant", "", "directory (tenant) ID or domain")
		clientID      = fs.String("client-id", "", "application (client) ID")
		grant         = fs.String("grant", "app", "app (client credentials) or delegated (a grant in -store)")
		storeDir      = fs.String("store", "tokens", "delegated: folder of the stored grant")
		authorityHost = fs.String("authority-host", "", "login host, e.g. https://login.microsoftonline.us (default: the global cloud)")
		imapHost      = fs.String("imap-host", "", "IMAP server (default: Exchange Online's)")
		imapPort      = fs.Int("imap-port", 993, "IMAP port, with -imap-host")
		imapSecurity  = fs.String("imap-security", "tls", "IMAP security with -imap-host: tls, starttls or plaintext (loopback only)")
		caFile        = fs.String("ca-file", "", "PEM file of extra certificate authorities to trust (identity provider and IMAP server)")
		folder        = fs.String("folder", "INBOX", "folder to watch")
		processed     = fs.String("processed", "Processed", "folder handled messages are moved to")
		out           = fs.String("out", "tickets", `folder for the tickets, or "-" for stdout`)
		poll          = fs.Duration("poll", time.Minute, "time between checks when the server has no IDLE")
		verbose       = fs.Bool("v", false, "print the IMAP dialogue to stderr (tokens redacted)")
	)
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *mailbox == "" {
		return config{}, errors.New("-mailbox is required")
	}
	if *folder == *processed {
		return config{}, errors.New("-folder and -processed must differ")
	}
	secret, err := secretFromEnv(getenv, envClientSecret)
	if err != nil {
		return config{}, err
	}
	tlsConfig, err := loadTLSConfig(*caFile)
	if err != nil {
		return config{}, err
	}
	httpClient := &http.Client{Timeout: idpTimeout}
	if tlsConfig != nil {
		httpClient.Transport = &http.Transport{TLSClientConfig: tlsConfig, Proxy: http.ProxyFromEnvironment}
	}
	cfg := config{
		tlsConfig: tlsConfig,
		folder:    *folder,
		processed: *processed,
		out:       *out,
		poll:      *poll,
		logger:    slog.New(slog.NewTextHandler(stderr, nil)),
	}
	if *verbose {
		cfg.verboseOut = stderr
	}
	cfg.entra = entra.Config{
		TenantID:     *tenant,
		ClientID:     *clientID,
		ClientSecret: secret,
		Mailbox:      *mailbox,
		Protocols:    entra.IMAP,
		HTTPClient:   httpClient,
		Logger:       cfg.logger,
	}
	if *authorityHost != "" {
		cfg.entra.Cloud = entra.Global.WithAuthorityHost(strings.TrimRight(*authorityHost, "/"))
	}
	switch *grant {
	case "app":
		if secret == "" {
			return config{}, fmt.Errorf("app-only access needs the client secret in %s (or a file named by %s_FILE)", envClientSecret, envClientSecret)
		}
	case "delegated":
		cfg.delegated = true
		if cfg.store, err = openStore(*storeDir, getenv); err != nil {
			return config{}, err
		}
	default:
		return config{}, fmt.Errorf("-grant %q: want app or delegated", *grant)
	}
	if *imapHost != "" {
		sec, err := parseSecurity(*imapSecurity)
		if err != nil {
			return config{}, fmt.Errorf("-imap-security: %w", err)
		}
		cfg.imap = provider.Server{Host: *imapHost, Port: *imapPort, Security: sec}
	}
	return cfg, nil
}

// secretFromEnv returns the value of the environment variable name, or the
// contents of the file named by name_FILE (surrounding white space
// trimmed); "" when neither is set.
func secretFromEnv(getenv func(string) string, name string) (string, error) {
	if v := getenv(name); v != "" {
		return v, nil
	}
	path := getenv(name + "_FILE")
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// openStore opens the file store in dir, encrypted when a store key is set.
func openStore(dir string, getenv func(string) string) (tokenstore.Store, error) {
	fileStore, err := tokenstore.NewFile(dir)
	if err != nil {
		return nil, err
	}
	encoded, err := secretFromEnv(getenv, envStoreKey)
	if err != nil || encoded == "" {
		return fileStore, err
	}
	key, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil, fmt.Errorf("%s: not base64 (make one with: openssl rand -base64 32)", envStoreKey)
	}
	return tokenstore.NewEncrypted(fileStore, key)
}

// loadTLSConfig returns a TLS configuration trusting the system roots and
// the certificates in caFile, or nil when caFile is empty.
func loadTLSConfig(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-ca-file %s: no PEM certificate in it", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// parseSecurity reads starttls, tls or plaintext.
func parseSecurity(s string) (provider.Security, error) {
	for _, sec := range []provider.Security{provider.StartTLS, provider.ImplicitTLS, provider.Plaintext} {
		if s == sec.String() {
			return sec, nil
		}
	}
	return 0, fmt.Errorf("%q: want starttls, tls or plaintext", s)
}
