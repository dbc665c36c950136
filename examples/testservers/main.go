// Command testservers runs mailoauth's test doubles from the shell, so
// that every example can be tried locally, without a tenant and without
// the network: an identity provider that speaks like Entra ID and Google
// (provider/providertest), an SMTP submission server (smtpx/smtpxtest) and
// an IMAP server (imapx/imapxtest), all on 127.0.0.1, until Ctrl-C.
//
// Run it in one terminal; it prints the settings of the examples as shell
// exports, to paste into another:
//
//	go run ./examples/testservers
//	# (in a second terminal, after pasting the exports)
//	go run ./examples/entra-send
//	go run ./examples/mailgate -out -
//
// What it sets up is what an admin sets up in a tenant:
//
//   - an app registration with a client ID, a client secret and a
//     certificate credential (written to app.pem), the application
//     permissions SMTP.SendAsApp and IMAP.AccessAsApp on the mailbox, and
//     redirect URIs for examples/webauth on 127.0.0.1 and localhost (any
//     port, as for loopback addresses);
//   - a user, the mailbox itself, signed in at the identity provider:
//     device codes (examples/entra-authorize) are approved as soon as they
//     are issued, and the authorization endpoint consents at once
//     (examples/webauth);
//   - for Google, a service account with domain-wide delegation for the
//     mail scope, its key written to service-account.json
//     (examples/google-send, examples/mailgate -provider google);
//   - the mailbox's INBOX on the IMAP server, which receives every message
//     the SMTP server accepts for it, as Exchange would deliver it.
//
// The servers' certificates are written to ca.pem, which the exports name
// in MAILOAUTH_CA_FILE. The files go to -dir, or to a temporary folder
// removed at exit. The secret printed is the test server's own: it opens
// nothing else.
package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/imapx/imapxtest"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/google"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/smtpx/smtpxtest"
)

// The made-up app registration of the test servers.
const (
	clientID       = "0c8f7d2e-5b4a-4c3d-9e1f-6a7b8c9d0e1f"
	clientSecret   = "testservers-secret-value" // the test identity provider's; it opens nothing else
	serviceAccount = "mailgate@testservers.iam.gserviceaccount.com"
	// callbackPath is examples/webauth's callback.
	callbackPath = "/oauth/callback"
)

const (
	// pollInterval is how often device codes are looked for to approve and
	// accepted messages to deliver.
	pollInterval = 100 * time.Millisecond
	// deviceInterval is how long a device-code client waits between polls
	// (Entra says 5 seconds; here the code is approved at once).
	deviceInterval = time.Second
	// Ready is the last line of what the program prints before it serves.
	Ready = "# The test servers are running; Ctrl-C stops them."
)

func main() { cli.Main("testservers", run) }

// run starts the servers, prints the exports on stdout and serves until
// ctx is done.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("testservers", getenv, stderr)
	var (
		mailbox = fs.EnvString("mailbox", "helpdesk@contoso.test", "the mailbox of the test servers, also the signed-in user")
		dir     = fs.EnvString("dir", "", "folder to write ca.pem, app.pem and service-account.json to (and the grants, in grants/); default: a temporary folder removed at exit")
		verbose = fs.Verbose()
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger, _ := cli.Logger(stderr, *verbose)
	if err := provider.CheckAddress("mailbox", *mailbox); err != nil {
		return cli.Usagef("-mailbox: %v", err)
	}
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "mailoauth-testservers-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	} else if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}

	s, err := start(*mailbox, *dir)
	if err != nil {
		return err
	}
	defer s.close()
	fmt.Fprint(stdout, s.exports())
	fmt.Fprintln(stdout, Ready)

	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(stderr, "testservers: stopped")
			return nil
		case <-tick.C:
			s.approveDevices(ctx, logger)
			if err := s.deliver(); err != nil {
				logger.ErrorContext(ctx, "testservers: delivering to the IMAP mailbox", "err", err)
			}
		}
	}
}

// servers are the running test doubles and the files written for them.
type servers struct {
	mailbox string
	dir     string
	idp     *providertest.Server
	smtp    *smtpxtest.Server
	imap    *imapxtest.Server
	plain   string // the identity provider over plain HTTP, for a browser

	files     map[string]string // by name: ca, cert, key
	approved  map[string]bool   // device user codes answered
	delivered int               // SMTP messages copied into the IMAP mailbox
}

// start starts the servers with the app registration and writes the files.
func start(mailbox, dir string) (s *servers, err error) {
	s = &servers{mailbox: mailbox, dir: dir, files: map[string]string{}, approved: map[string]bool{}}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	cert, _, certPEM, err := cli.NewCertificate("testservers app")
	if err != nil {
		return nil, err
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}

	s.idp = providertest.New()
	s.plain = s.idp.PlainURL()
	s.idp.SetDeviceInterval(deviceInterval)
	s.idp.AddApp(providertest.App{
		ClientID:     clientID,
		Secret:       clientSecret,
		Certificate:  cert,
		Roles:        []string{"SMTP.SendAsApp", "IMAP.AccessAsApp"},
		Mailboxes:    []string{mailbox},
		RedirectURIs: []string{"http://127.0.0.1" + callbackPath, "http://localhost" + callbackPath},
	})
	s.idp.AddApp(providertest.App{
		ServiceAccountEmail: serviceAccount,
		ServiceAccountKey:   &saKey.PublicKey,
		DelegatedScopes:     []string{google.ScopeMail},
	})
	s.idp.SignIn(mailbox)
	s.smtp = smtpxtest.New(&smtpxtest.Options{Verify: s.idp.VerifySASL})
	s.imap = imapxtest.New(&imapxtest.Options{Verify: s.idp.VerifySASL, Security: provider.ImplicitTLS})
	if err := s.imap.CreateFolder(mailbox, "INBOX"); err != nil {
		return nil, err
	}

	keyJSON, err := cli.GoogleKeyFile(saKey, serviceAccount, s.idp.URL()+"/token")
	if err != nil {
		return nil, err
	}
	for name, data := range map[string][]byte{
		"ca":   joinPEM(s.idp.CertificatePEM(), s.smtp.CertificatePEM(), s.imap.CertificatePEM()),
		"cert": certPEM,
		"key":  keyJSON,
	} {
		file := map[string]string{"ca": "ca.pem", "cert": "app.pem", "key": "service-account.json"}[name]
		p := filepath.Join(dir, file)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return nil, err
		}
		s.files[name] = p
	}
	return s, nil
}

// close stops the servers started.
func (s *servers) close() {
	if s.imap != nil {
		s.imap.Close()
	}
	if s.smtp != nil {
		s.smtp.Close()
	}
	if s.idp != nil {
		s.idp.Close()
	}
}

// exports are the examples' settings for the servers, in shell syntax.
func (s *servers) exports() string {
	vars := map[string]string{
		"tenant":          providertest.DefaultTenant,
		"client-id":       clientID,
		"mailbox":         s.mailbox,
		"to":              s.mailbox,
		"authority-host":  s.idp.URL(),
		"google-base-url": s.idp.URL(),
		"google-key-file": s.files["key"],
		"ca-file":         s.files["ca"],
		"store":           filepath.Join(s.dir, "grants"),
		"smtp-host":       s.smtp.Host(),
		"smtp-port":       strconv.Itoa(s.smtp.Port()),
		"smtp-security":   provider.StartTLS.String(),
		"imap-host":       s.imap.Host(),
		"imap-port":       strconv.Itoa(s.imap.Port()),
		"imap-security":   provider.ImplicitTLS.String(),
	}
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "# mailoauth test servers: identity provider %s, SMTP %s, IMAP %s.\n", s.idp.URL(), s.smtp.Addr(), s.imap.Addr())
	fmt.Fprintf(&b, "# Paste these lines into another shell, then run an example there.\n")
	fmt.Fprintf(&b, "export %s=%s\n", cli.EnvClientSecret, shellQuote(clientSecret))
	for _, n := range names {
		fmt.Fprintf(&b, "export %s=%s\n", cli.EnvName(n), shellQuote(vars[n]))
	}
	fmt.Fprintf(&b, "# The certificate credential instead of the secret:\n")
	fmt.Fprintf(&b, "#   unset %s; export %s=%s\n", cli.EnvClientSecret, cli.EnvName("cert-file"), shellQuote(s.files["cert"]))
	fmt.Fprintf(&b, "# examples/webauth in a browser, which does not trust ca.pem: the identity provider over plain HTTP:\n")
	fmt.Fprintf(&b, "#   %s=%s go run ./examples/webauth\n", cli.EnvName("authority-host"), shellQuote(s.plain))
	return b.String()
}

// approveDevices approves, as the signed-in user, each device code not
// answered yet.
func (s *servers) approveDevices(ctx context.Context, logger interface {
	InfoContext(context.Context, string, ...any)
}) {
	for _, code := range s.idp.DeviceCodes() {
		if s.approved[code] {
			continue
		}
		s.approved[code] = true
		if err := s.idp.ApproveDevice(code); err == nil {
			logger.InfoContext(ctx, "testservers: approved the device code", "code", code, "user", s.mailbox)
		} else if !errors.Is(err, providertest.ErrDeviceDecided) {
			logger.InfoContext(ctx, "testservers: device code not approved", "code", code, "err", err)
		}
	}
}

// deliver puts each message the SMTP server accepted for the mailbox into
// its INBOX, as Exchange does between SMTP and IMAP.
func (s *servers) deliver() error {
	msgs := s.smtp.Messages()
	for _, m := range msgs[s.delivered:] {
		for _, rcpt := range m.To {
			if !strings.EqualFold(rcpt, s.mailbox) {
				continue // another recipient: elsewhere, as far as these servers know
			}
			if _, err := s.imap.Deliver(s.mailbox, "INBOX", m.Data); err != nil {
				return err
			}
		}
	}
	s.delivered = len(msgs)
	return nil
}

func joinPEM(pems ...[]byte) []byte {
	var out []byte
	for _, p := range pems {
		out = append(out, p...)
	}
	return out
}

// shellQuote quotes s for a POSIX shell: in single quotes, a single quote
// written as '\”.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
