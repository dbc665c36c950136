package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/examples/internal/clitest"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/smtpx"
	"github.com/mailoauth/mailoauth/smtpx/smtpxtest"
)

const (
	testClient  = "2d4c6e8a-0b1c-4d2e-9f3a-5b6c7d8e9f01"
	testSecret  = "netsmtp-test-secret"
	testMailbox = "notifications@contoso.test"
	testTo      = "customer@example.test"
)

type world struct {
	idp    *providertest.Server
	smtp   *smtpxtest.Server
	caFile string
}

// newWorld starts the servers; opts (nil: none) sets up the SMTP server,
// which always offers XOAUTH2 only, as Exchange Online does.
func newWorld(t *testing.T, opts *smtpxtest.Options) *world {
	t.Helper()
	w := &world{idp: clitest.IdentityProvider(t)}
	w.idp.AddApp(providertest.App{ClientID: testClient, Secret: testSecret, Roles: []string{"SMTP.SendAsApp"}, Mailboxes: []string{testMailbox}})
	o := smtpxtest.Options{}
	if opts != nil {
		o = *opts
	}
	o.Mechanisms = []auth.Mechanism{auth.XOAUTH2}
	w.smtp = clitest.SMTPServer(t, w.idp, &o)
	w.caFile = clitest.CAFile(t, w.idp.CertificatePEM(), clitest.PEM(w.smtp.Certificate()))
	return w
}

// args point the program at the world. The identity provider is always
// trusted through an HTTP client; whether -ca-file (and so the SMTP
// server's certificate) is given is up to the test.
func (w *world) args(withCA bool, extra ...string) []string {
	a := []string{
		"-tenant", providertest.DefaultTenant,
		"-client-id", testClient,
		"-mailbox", testMailbox,
		"-to", testTo,
		"-authority-host", w.idp.URL(),
		"-smtp-host", w.smtp.Host(),
		"-smtp-port", strconv.Itoa(w.smtp.Port()),
	}
	if withCA {
		a = append(a, "-ca-file", w.caFile)
	}
	return append(a, extra...)
}

func runProgram(args []string) clitest.Result {
	return clitest.Run("netsmtp", run, args, map[string]string{cli.EnvClientSecret: testSecret})
}

func (w *world) checkSent(t *testing.T) {
	t.Helper()
	m := clitest.Received(t, w.smtp, 1, testMailbox, testTo)
	if !strings.Contains(string(m.Data), "Subject: mailoauth test message") {
		t.Errorf("message:\n%s", m.Data)
	}
	if n := w.smtp.CommandCount("AUTH"); n < 1 {
		t.Error("no AUTH command")
	}
	for _, c := range w.smtp.Commands() {
		if strings.HasPrefix(strings.ToUpper(c.Line), "AUTH") && !strings.HasPrefix(c.Line, "AUTH XOAUTH2") {
			t.Errorf("unexpected login %q", c.Line)
		}
	}
}

// TestSendMailOverSTARTTLSWithPrivateCA: with -ca-file, the program does
// SendMail's steps itself so that the server's certificate is checked
// against that CA.
func TestSendMailOverSTARTTLSWithPrivateCA(t *testing.T) {
	w := newWorld(t, nil)
	r := runProgram(w.args(true))
	if r.Err != nil {
		t.Fatalf("run: %v\n%s", r.Err, r.Explained)
	}
	w.checkSent(t)
	if w.smtp.CommandCount("STARTTLS") != 1 {
		t.Error("the token went without STARTTLS")
	}
	if want := "Sent \"mailoauth test message\" from " + testMailbox + " to " + testTo + " through " + w.smtp.Addr() + " with net/smtp.\n"; r.Stdout != want {
		t.Errorf("stdout %q, want %q", r.Stdout, want)
	}
	if n := w.idp.Requests(providertest.GrantClientCredentials); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

// mailbox is the Mailbox the program makes, for tests that call sendMail
// directly.
func (w *world) mailbox(t *testing.T) *provider.Mailbox {
	t.Helper()
	mb, err := entra.ClientCredentials(context.Background(), entra.Config{
		TenantID:     providertest.DefaultTenant,
		ClientID:     testClient,
		ClientSecret: testSecret,
		Mailbox:      testMailbox,
		Cloud:        entra.Global.WithAuthorityHost(w.idp.URL()),
		HTTPClient:   w.idp.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	mb.SMTP = w.smtp.Endpoint()
	return mb
}

// TestPlainSendMailOnLoopback runs the unmodified smtp.SendMail line
// (sendMail without a CA) against a loopback server without TLS, which
// NetSMTPAuth allows, as net/smtp's PlainAuth does.
func TestPlainSendMailOnLoopback(t *testing.T) {
	w := newWorld(t, &smtpxtest.Options{Security: provider.Plaintext})
	mb := w.mailbox(t)
	msg, _, err := cli.Compose(cli.Message{From: testMailbox, To: []string{testTo}, Subject: "mailoauth test message", Body: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sendMail(w.smtp.Addr(), smtpx.NetSMTPAuth(mb), testMailbox, []string{testTo}, msg, nil); err != nil {
		t.Fatal(err)
	}
	w.checkSent(t)
}

// TestSendMailCannotTrustAPrivateCA shows SendMail's limit honestly: it
// checks the test server's certificate against the system's authorities
// only, fails in TLS, and sends no token.
func TestSendMailCannotTrustAPrivateCA(t *testing.T) {
	w := newWorld(t, nil)
	mb := w.mailbox(t)
	err := sendMail(w.smtp.Addr(), smtpx.NetSMTPAuth(mb), testMailbox, []string{testTo}, []byte("Subject: x\r\n\r\nx\r\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err %v, want a certificate failure", err)
	}
	if w.smtp.CommandCount("AUTH") != 0 || len(w.smtp.Messages()) != 0 {
		t.Error("a token or message went to an untrusted server")
	}
	var buf bytes.Buffer
	if code := cli.Explain(&buf, "netsmtp", err); code != 1 || !strings.Contains(buf.String(), "How to fix it: ") {
		t.Errorf("no diagnosis for a certificate failure (status %d):\n%s", code, buf.String())
	}
}

// TestRefusedTokenIsReplacedOnce makes the server refuse the first token,
// with Exchange's bare 535 and with an error challenge: either way the
// program takes exactly one new token and the message goes out.
func TestRefusedTokenIsReplacedOnce(t *testing.T) {
	for name, opts := range map[string]*smtpxtest.Options{
		"exchange 535":    {NoErrorChallenge: true},
		"error challenge": nil,
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, opts)
			w.smtp.RejectAuth(1)
			r := runProgram(w.args(true))
			if r.Err != nil {
				t.Fatalf("run: %v\n%s", r.Err, r.Explained)
			}
			w.checkSent(t)
			if n := w.idp.Requests(providertest.GrantClientCredentials); n != 2 {
				t.Errorf("%d token requests, want 2 (one more after the refusal)", n)
			}
			if s := w.smtp.Stats(); s.AuthFailures != 1 || s.Auths != 1 {
				t.Errorf("logins: %d refused, %d accepted", s.AuthFailures, s.Auths)
			}
			if !strings.Contains(r.Stderr, "refused the token (535") {
				t.Errorf("stderr %q", r.Stderr)
			}
		})
	}

	// A token refused every time is retried once only, then explained.
	w := newWorld(t, &smtpxtest.Options{NoErrorChallenge: true})
	w.smtp.RejectAuth(5)
	r := runProgram(w.args(true))
	if r.Err == nil || !strings.Contains(r.Explained, "535 5.7.3") || !strings.Contains(r.Explained, "New-ServicePrincipal") {
		t.Fatalf("err %v\n%s", r.Err, r.Explained)
	}
	if s := w.smtp.Stats(); s.AuthFailures != 2 {
		t.Errorf("%d refused logins, want 2", s.AuthFailures)
	}
}

// TestServerFromTheEnvironment points the program at the test server with
// MAILOAUTH_SMTP_HOST and MAILOAUTH_SMTP_PORT alone, as every example
// reads them: it must never dial the real server instead.
func TestServerFromTheEnvironment(t *testing.T) {
	w := newWorld(t, nil)
	env := map[string]string{
		cli.EnvClientSecret:        testSecret,
		"MAILOAUTH_TENANT":         providertest.DefaultTenant,
		"MAILOAUTH_CLIENT_ID":      testClient,
		"MAILOAUTH_MAILBOX":        testMailbox,
		"MAILOAUTH_TO":             testTo,
		"MAILOAUTH_AUTHORITY_HOST": w.idp.URL(),
		"MAILOAUTH_SMTP_HOST":      w.smtp.Host(),
		"MAILOAUTH_SMTP_PORT":      strconv.Itoa(w.smtp.Port()),
		"MAILOAUTH_CA_FILE":        w.caFile,
	}
	r := clitest.Run("netsmtp", run, nil, env)
	if r.Err != nil {
		t.Fatalf("run: %v\n%s", r.Err, r.Explained)
	}
	w.checkSent(t)
	if !strings.Contains(r.Stdout, "through "+w.smtp.Addr()) {
		t.Errorf("stdout %q", r.Stdout)
	}
}

func TestUsageMistakes(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no recipient", []string{"-tenant", "t", "-client-id", "c", "-mailbox", "m@x.test"}, "-to (or $MAILOAUTH_TO) is required"},
		{"implicit TLS", []string{"-tenant", "t", "-client-id", "c", "-mailbox", "m@x.test", "-to", "a@b.test", "-smtp-security", "tls"}, "net/smtp sends only with starttls"},
		{"bad port", []string{"-tenant", "t", "-client-id", "c", "-mailbox", "m@x.test", "-to", "a@b.test", "-smtp-port", "70000"}, "not a port number"},
	} {
		r := runProgram(tc.args)
		if r.Err == nil || !strings.Contains(r.Err.Error(), tc.want) || r.Code != 2 {
			t.Errorf("%s: err %v, status %d", tc.name, r.Err, r.Code)
		}
	}
}
