package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/examples/internal/clitest"
	"github.com/mailoauth/mailoauth/imapx/imapxtest"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/google"
	"github.com/mailoauth/mailoauth/provider/oidc"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/tokenstore"
)

const (
	clientID     = "3c9d6e1a-7b2f-4e0d-8a5c-91f0e2d4b6a7"
	clientSecret = "mailgate~test.secret-value"
	mailbox      = "helpdesk@contoso.com"
	// gmailUser is a Workspace user; serviceAccount may act for it.
	gmailUser      = "helpdesk@example.com"
	serviceAccount = "mailgate@helpdesk-project.iam.gserviceaccount.com"
	// waitLimit only stops a broken test from hanging; a passing run takes
	// well under a second.
	waitLimit = 30 * time.Second
)

// attachmentBytes is the decoded content of the PDF attachment.
var attachmentBytes = bytes.Repeat([]byte("%PDF-1.7 fake report\n"), 50)

func multipartMessage() []byte {
	b64 := base64.StdEncoding.EncodeToString(attachmentBytes)
	var wrapped strings.Builder
	for len(b64) > 76 {
		wrapped.WriteString(b64[:76] + "\r\n")
		b64 = b64[76:]
	}
	wrapped.WriteString(b64 + "\r\n")
	return []byte("From: \"Alice Example\" <alice@example.net>\r\n" +
		"To: helpdesk@contoso.com\r\n" +
		"Subject: =?UTF-8?Q?Printer_on_floor_3_=E2=80=94_jammed?=\r\n" +
		"Date: Mon, 23 Nov 2026 09:15:00 +0100\r\n" +
		"Message-ID: <printer-1@example.net>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n" +
		"--outer\r\n" +
		"Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n" +
		"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"The printer on floor 3 is jammed again.\r\n" +
		"--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		"<p>The printer on floor 3 is <b>jammed</b> again.</p>\r\n" +
		"--alt--\r\n" +
		"--outer\r\n" +
		"Content-Type: application/pdf; name=\"report.pdf\"\r\n" +
		"Content-Disposition: attachment; filename=\"report.pdf\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" +
		wrapped.String() +
		"--outer--\r\n")
}

func plainMessage() []byte {
	return []byte("From: bob@example.net\r\n" +
		"To: helpdesk@contoso.com\r\n" +
		"Subject: VPN password reset\r\n" +
		"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n" +
		"Message-ID: <vpn-2@example.net>\r\n" +
		"\r\n" +
		"Please reset my VPN password.\r\n")
}

func htmlOnlyMessage() []byte {
	return []byte("From: =?ISO-8859-1?Q?Ren=E9?= <rene@example.fr>\r\n" +
		"To: helpdesk@contoso.com\r\n" +
		"Subject: Menu\r\n" +
		"Date: Mon, 23 Nov 2026 11:00:00 +0000\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/html; charset=ISO-8859-1\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"<html><head><style>p{color:red}</style></head><body><p>Caf=E9 &amp; cr=E8me</p>" +
		"<script>alert(1)</script><div>Second&nbsp;line</div></body></html>\r\n")
}

// world is an identity provider and an IMAP server that checks its tokens.
type world struct {
	t      *testing.T
	idp    *providertest.Server
	imap   *imapxtest.Server
	caFile string
	stderr *clitest.Buffer
}

func newWorld(t *testing.T) *world {
	t.Helper()
	idp := clitest.IdentityProvider(t)
	srv := clitest.IMAPServer(t, idp, nil)
	idp.AddApp(providertest.App{
		ClientID: clientID, Secret: clientSecret,
		Roles: []string{"IMAP.AccessAsApp"}, Mailboxes: []string{mailbox},
	})
	caFile := clitest.CAFile(t, idp.CertificatePEM(), srv.CertificatePEM())
	return &world{t: t, idp: idp, imap: srv, caFile: caFile, stderr: &clitest.Buffer{}}
}

func (w *world) args(extra ...string) []string {
	ep := w.imap.Endpoint()
	return append([]string{
		"-tenant", providertest.DefaultTenant, "-client-id", clientID, "-mailbox", mailbox,
		"-authority-host", w.idp.URL(), "-ca-file", w.caFile,
		"-imap-host", ep.Host, "-imap-port", strconv.Itoa(ep.Port), "-imap-security", "tls",
	}, extra...)
}

// runUntil runs the program until it has printed n lines on stdout, then
// stops it, and returns the lines.
func (w *world) runUntil(n int, args []string, env map[string]string) []string {
	t := w.t
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, func(k string) string { return env[k] }, outW, w.stderr)
		outW.Close()
	}()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var got []string
	limit := time.After(waitLimit)
	for len(got) < n {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the program stopped early: %v\n%s", <-done, w.stderr)
			}
			got = append(got, l)
		case <-limit:
			t.Fatalf("only %d of %d lines after %v:\n%s", len(got), n, waitLimit, w.stderr)
		}
	}
	cancel()
	require.NoError(t, <-done, "a cancelled run stops cleanly\n%s", w.stderr)
	for range lines { // nothing more is expected; drain to be sure
	}
	return got
}

// TestTicketsFromMessages: app-only access; a multipart message with an
// attachment, a plain one and an HTML-only one in Latin-1 each become a
// ticket file with the right fields, and each message is moved to
// Processed, which the program creates.
func TestTicketsFromMessages(t *testing.T) {
	w := newWorld(t)
	for _, m := range [][]byte{multipartMessage(), plainMessage(), htmlOnlyMessage()} {
		_, err := w.imap.Deliver(mailbox, "INBOX", m)
		require.NoError(t, err)
	}
	outDir := filepath.Join(t.TempDir(), "tickets")
	paths := w.runUntil(3, w.args("-out", outDir), map[string]string{cli.EnvClientSecret: clientSecret})

	tickets := make([]Ticket, len(paths))
	for i, p := range paths {
		require.Equal(t, outDir, filepath.Dir(p))
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(data, &tickets[i]), "%s", data)
		require.Equal(t, strconv.Itoa(int(tickets[i].UIDValidity))+"-"+strconv.Itoa(int(tickets[i].UID))+".json", filepath.Base(p))
	}

	multi := tickets[0]
	require.Equal(t, "Printer on floor 3 — jammed", multi.Subject)
	require.Equal(t, []Address{{Name: "Alice Example", Address: "alice@example.net"}}, multi.From)
	require.True(t, multi.Date.Equal(time.Date(2026, 11, 23, 8, 15, 0, 0, time.UTC)), "date %v", multi.Date)
	require.Equal(t, "printer-1@example.net", multi.MessageID)
	require.Equal(t, "The printer on floor 3 is jammed again.", multi.Text)
	require.Equal(t, "text/plain", multi.TextSource, "text/plain is preferred over text/html")
	require.Equal(t, []Attachment{{Filename: "report.pdf", ContentType: "application/pdf", Size: int64(len(attachmentBytes))}}, multi.Attachments)
	require.Empty(t, multi.Problem)
	require.False(t, multi.Received.IsZero())

	plain := tickets[1]
	require.Equal(t, "VPN password reset", plain.Subject)
	require.Equal(t, []Address{{Address: "bob@example.net"}}, plain.From)
	require.Equal(t, "Please reset my VPN password.", plain.Text)
	require.Equal(t, "text/plain", plain.TextSource)
	require.Empty(t, plain.Attachments)
	require.Empty(t, plain.Problem)

	htmlOnly := tickets[2]
	require.Equal(t, []Address{{Name: "René", Address: "rene@example.fr"}}, htmlOnly.From)
	require.Equal(t, "Café & crème\nSecond line", htmlOnly.Text, "HTML stripped, Latin-1 decoded")
	require.Equal(t, "text/html", htmlOnly.TextSource)

	inbox, err := w.imap.Messages(mailbox, "INBOX")
	require.NoError(t, err)
	require.Empty(t, inbox, "every handled message left the inbox")
	done, err := w.imap.Messages(mailbox, "Processed")
	require.NoError(t, err)
	require.Len(t, done, 3)
	require.Equal(t, multipartMessage(), done[0].Body)
	require.NotContains(t, w.stderr.String(), clientSecret)
}

// TestDelegatedToStdout: a delegated grant from an encrypted file store (as
// entra-authorize saves it) opens the mailbox, and with -out - the ticket
// is printed as one JSON line.
func TestDelegatedToStdout(t *testing.T) {
	w := newWorld(t)
	storeDir := t.TempDir()
	key := bytes.Repeat([]byte{9}, 32)
	store := clitest.EncryptedStore(t, storeDir, key)
	rt := w.idp.IssueRefreshToken(clientID, mailbox, "offline_access https://outlook.office.com/IMAP.AccessAsUser.All")
	cfg := entra.Config{TenantID: providertest.DefaultTenant, ClientID: clientID, Mailbox: mailbox}
	require.NoError(t, store.Save(context.Background(), cfg.Key(), &tokenstore.Record{Token: &oauth2.Token{RefreshToken: rt}, Account: mailbox}))
	_, err := w.imap.Deliver(mailbox, "INBOX", plainMessage())
	require.NoError(t, err)

	lines := w.runUntil(1, w.args("-grant", "delegated", "-store", storeDir, "-out", "-"), map[string]string{
		cli.EnvClientSecret: clientSecret,
		cli.EnvStoreKey:     base64.StdEncoding.EncodeToString(key),
	})
	var tk Ticket
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &tk))
	require.Equal(t, "VPN password reset", tk.Subject)
	require.Equal(t, "Please reset my VPN password.", tk.Text)
	done, err := w.imap.Messages(mailbox, "Processed")
	require.NoError(t, err)
	require.Len(t, done, 1)
	require.Equal(t, 1, w.idp.RefreshCount(rt), "the stored grant was refreshed once")
}

// TestWrongSecretIsDiagnosed: a wrong client secret stops the program at
// start with Entra's error and the fix, exit status 1, and the inbox
// untouched.
func TestWrongSecretIsDiagnosed(t *testing.T) {
	w := newWorld(t)
	_, err := w.imap.Deliver(mailbox, "INBOX", plainMessage())
	require.NoError(t, err)
	err = run(context.Background(), w.args("-out", t.TempDir()), func(k string) string {
		return map[string]string{cli.EnvClientSecret: "not-the-secret"}[k]
	}, io.Discard, w.stderr)
	require.Error(t, err)
	var printed bytes.Buffer
	require.Equal(t, 1, cli.Explain(&printed, "mailgate", err))
	require.Contains(t, printed.String(), "AADSTS7000215")
	require.Contains(t, printed.String(), "How to fix it: ")
	require.Contains(t, printed.String(), "Certificates & secrets")
	require.NotContains(t, printed.String(), "not-the-secret")
	inbox, err := w.imap.Messages(mailbox, "INBOX")
	require.NoError(t, err)
	require.Len(t, inbox, 1)
	require.Zero(t, w.imap.AuthAttempts(), "no token, no login")
}

// TestMalformedMessageStillMakesATicket: a message whose MIME structure is
// broken becomes a ticket with what could be read and the problem named,
// instead of being retried forever.
func TestMalformedMessageStillMakesATicket(t *testing.T) {
	w := newWorld(t)
	broken := []byte("From: carol@example.net\r\nSubject: Broken\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed\r\n\r\nno boundary parameter at all\r\n")
	_, err := w.imap.Deliver(mailbox, "INBOX", broken)
	require.NoError(t, err)
	lines := w.runUntil(1, w.args("-out", "-"), map[string]string{cli.EnvClientSecret: clientSecret})
	var tk Ticket
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &tk))
	require.Equal(t, "Broken", tk.Subject)
	require.Equal(t, []Address{{Address: "carol@example.net"}}, tk.From)
	require.NotEmpty(t, tk.Problem)
}

// gmailArgs point the program at the world as Gmail: the Google routes of
// the identity provider and the IMAP server.
func (w *world) gmailArgs(extra ...string) []string {
	ep := w.imap.Endpoint()
	return append([]string{
		"-provider", "google", "-mailbox", gmailUser, "-google-base-url", w.idp.URL(), "-ca-file", w.caFile,
		"-imap-host", ep.Host, "-imap-port", strconv.Itoa(ep.Port), "-imap-security", "tls",
	}, extra...)
}

// TestGmailServiceAccount: a Workspace mailbox read by a service account
// with domain-wide delegation for the mail scope; the ticket is made and
// the message moved, as for Exchange.
func TestGmailServiceAccount(t *testing.T) {
	w := newWorld(t)
	keyJSON, public := clitest.ServiceAccount(t, serviceAccount, google.TokenURL)
	w.idp.AddApp(providertest.App{ServiceAccountEmail: serviceAccount, ServiceAccountKey: public, DelegatedScopes: []string{google.ScopeMail}})
	_, err := w.imap.Deliver(gmailUser, "INBOX", plainMessage())
	require.NoError(t, err)
	keyFile := clitest.WriteFile(t, "service-account.json", keyJSON)

	lines := w.runUntil(1, w.gmailArgs("-google-key-file", keyFile, "-out", "-"), nil)
	var tk Ticket
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &tk))
	require.Equal(t, "VPN password reset", tk.Subject)
	done, err := w.imap.Messages(gmailUser, "Processed")
	require.NoError(t, err)
	require.Len(t, done, 1)
	require.Equal(t, 1, w.idp.Requests(providertest.GrantJWTBearer), "one token from the key's assertion")
	require.NotContains(t, w.stderr.String(), "PRIVATE KEY")
}

// TestGmailServiceAccountWithoutDelegation: the Workspace admin allowed
// another scope only; the program stops at start with Google's refusal
// explained, and the inbox is untouched.
func TestGmailServiceAccountWithoutDelegation(t *testing.T) {
	w := newWorld(t)
	keyJSON, public := clitest.ServiceAccount(t, serviceAccount, google.TokenURL)
	w.idp.AddApp(providertest.App{ServiceAccountEmail: serviceAccount, ServiceAccountKey: public, DelegatedScopes: []string{"https://www.googleapis.com/auth/gmail.readonly"}})
	_, err := w.imap.Deliver(gmailUser, "INBOX", plainMessage())
	require.NoError(t, err)
	r := clitest.Run("mailgate", run, w.gmailArgs("-google-key-file", clitest.WriteFile(t, "key.json", keyJSON), "-out", "-"), nil)
	clitest.ReportedOnce(t, r)
	require.Contains(t, r.Explained, "unauthorized_client")
	inbox, err := w.imap.Messages(gmailUser, "INBOX")
	require.NoError(t, err)
	require.Len(t, inbox, 1)
	require.Zero(t, w.imap.AuthAttempts(), "no token, no login")
}

// TestGmailDelegated: a grant a Gmail user gave the OAuth client (as
// examples/webauth -provider google saves it) opens the mailbox.
func TestGmailDelegated(t *testing.T) {
	w := newWorld(t)
	const gmailClient = "123456789012-mailgate.apps.googleusercontent.com"
	w.idp.AddApp(providertest.App{ClientID: gmailClient, Secret: clientSecret})
	storeDir := t.TempDir()
	store := clitest.EncryptedStore(t, storeDir, bytes.Repeat([]byte{7}, 32))
	rt := w.idp.IssueRefreshToken(gmailClient, gmailUser, google.ScopeMail)
	cfg := google.Config{ClientID: gmailClient, Mailbox: gmailUser}
	require.NoError(t, store.Save(context.Background(), cfg.Key(), &tokenstore.Record{Token: &oauth2.Token{RefreshToken: rt}, Account: gmailUser}))
	_, err := w.imap.Deliver(gmailUser, "INBOX", htmlOnlyMessage())
	require.NoError(t, err)

	lines := w.runUntil(1, w.gmailArgs("-grant", "delegated", "-client-id", gmailClient, "-store", storeDir, "-out", "-"), map[string]string{
		cli.EnvClientSecret: clientSecret,
		cli.EnvStoreKey:     base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
	})
	var tk Ticket
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &tk))
	require.Equal(t, "Menu", tk.Subject)
	require.Equal(t, 1, w.idp.RefreshCount(rt), "the stored grant was refreshed once")
	require.NotContains(t, w.stderr.String(), clientSecret)
}

func TestHTMLToText(t *testing.T) {
	cases := []struct{ in, want string }{
		{"<p>a</p><p>b</p>", "a\nb"},
		{"x<br>y<BR/>z", "x\ny\nz"},
		{"<!-- hidden --><b>bold</b> &lt;tag&gt;", "bold <tag>"},
		{"<SCRIPT type=x>evil()</SCRIPT>ok", "ok"},
		{"  lots   of \t space  ", "lots of space"},
		{"<div>a</div>\n\n\n\n<div>b</div>", "a\n\nb"},
	}
	for _, c := range cases {
		require.Equal(t, c.want, htmlToText(c.in), c.in)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no mailbox", nil, nil, "-mailbox (or $MAILOAUTH_MAILBOX) is required"},
		{"no secret", []string{"-mailbox", mailbox}, nil, cli.EnvClientSecret},
		{"bad grant", []string{"-mailbox", mailbox, "-grant", "password"}, map[string]string{cli.EnvClientSecret: "x"}, "want app or delegated"},
		{"same folders", []string{"-mailbox", mailbox, "-folder", "INBOX", "-processed", "INBOX"}, nil, "must differ"},
		{"unknown provider", []string{"-mailbox", mailbox, "-provider", "yahoo"}, nil, "want entra, google or oidc"},
		{"google without a key", []string{"-mailbox", mailbox, "-provider", "google"}, nil, "-google-key-file"},
		{"google delegated without a client", []string{"-mailbox", mailbox, "-provider", "google", "-grant", "delegated"}, nil, "-google-client-json or -client-id"},
		{"google with a certificate", []string{"-mailbox", mailbox, "-provider", "google", "-cert-file", "x.pem"}, nil, "x.pem"},
		{"bad security", []string{"-mailbox", mailbox, "-imap-host", "127.0.0.1", "-imap-security", "ssl"}, map[string]string{cli.EnvClientSecret: "x"}, "want starttls, tls or plaintext"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := run(context.Background(), c.args, func(k string) string { return c.env[k] }, io.Discard, io.Discard)
			require.ErrorContains(t, err, c.want)
		})
	}
}

// TestStandardsServer: -provider oidc finds the identity provider from
// -issuer, reads with the client's own token (client credentials, the
// secret sent with HTTP Basic as the metadata allows) and with a grant
// saved as oidc-send saves it.
func TestStandardsServer(t *testing.T) {
	w := newWorld(t)
	ep := w.imap.Endpoint()
	issuer := w.idp.URL() + "/" + providertest.DefaultTenant + "/v2.0"
	args := func(extra ...string) []string {
		return append([]string{"-provider", "oidc", "-issuer", issuer, "-client-id", clientID, "-mailbox", mailbox,
			"-ca-file", w.caFile, "-imap-host", ep.Host, "-imap-port", strconv.Itoa(ep.Port), "-out", "-"}, extra...)
	}
	_, err := w.imap.Deliver(mailbox, "INBOX", plainMessage())
	require.NoError(t, err)
	lines := w.runUntil(1, args("-scope", "https://outlook.office365.com/.default"), map[string]string{cli.EnvClientSecret: clientSecret})
	var tk Ticket
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &tk))
	require.Equal(t, "VPN password reset", tk.Subject)
	require.Equal(t, 1, w.idp.Requests(providertest.GrantClientCredentials))

	// A delegated grant, stored under the key oidc-send uses.
	storeDir := t.TempDir()
	store, err := tokenstore.NewFile(storeDir)
	require.NoError(t, err)
	rt := w.idp.IssueRefreshToken(clientID, mailbox, "offline_access https://outlook.office.com/IMAP.AccessAsUser.All")
	key := oidc.Config{Issuer: issuer, ClientID: clientID, Mailbox: mailbox}.Key()
	require.NoError(t, store.Save(context.Background(), key, &tokenstore.Record{Token: &oauth2.Token{RefreshToken: rt}, Account: mailbox}))
	_, err = w.imap.Deliver(mailbox, "INBOX", multipartMessage())
	require.NoError(t, err)
	lines = w.runUntil(1, args("-grant", "delegated", "-store", storeDir), map[string]string{cli.EnvClientSecret: clientSecret})
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &tk))
	require.Equal(t, "printer-1@example.net", tk.MessageID)
	require.Equal(t, 1, w.idp.RefreshCount(rt), "the stored grant was refreshed once")

	// Without -imap-host there is no server to read.
	err = run(context.Background(), []string{"-provider", "oidc", "-issuer", issuer, "-client-id", clientID, "-mailbox", mailbox}, clitest.Env(nil), io.Discard, w.stderr)
	require.ErrorContains(t, err, "-imap-host")
}
