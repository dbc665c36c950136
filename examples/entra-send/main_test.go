package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/examples/internal/clitest"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/smtpx/smtpxtest"
)

const (
	testClient  = "5b0c2f0e-3a61-4d0a-8f55-2c1e7d9a6b31"
	testSecret  = "entra-send-test-secret"
	testMailbox = "notifications@contoso.test"
	testTo      = "customer@example.test"
)

// world is an Entra-like identity provider and an Exchange-like SMTP
// server (XOAUTH2 only, no error challenge) that checks its tokens.
type world struct {
	idp    *providertest.Server
	smtp   *smtpxtest.Server
	caFile string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{idp: clitest.IdentityProvider(t)}
	w.smtp = clitest.SMTPServer(t, w.idp, &smtpxtest.Options{Mechanisms: []auth.Mechanism{auth.XOAUTH2}, NoErrorChallenge: true})
	// One CA file trusts both servers, as -ca-file would for a private CA.
	w.caFile = clitest.CAFile(t, w.idp.CertificatePEM(), clitest.PEM(w.smtp.Certificate()))
	return w
}

// args are the flags that point the program at the world.
func (w *world) args(extra ...string) []string {
	return append([]string{
		"-tenant", providertest.DefaultTenant,
		"-client-id", testClient,
		"-mailbox", testMailbox,
		"-to", testTo,
		"-authority-host", w.idp.URL(),
		"-smtp-host", w.smtp.Host(),
		"-smtp-port", strconv.Itoa(w.smtp.Port()),
		"-smtp-security", "starttls",
		"-ca-file", w.caFile,
	}, extra...)
}

func runProgram(args []string, env map[string]string) clitest.Result {
	return clitest.Run("entra-send", run, args, env)
}

// checkSent asserts the one message the server received: envelope, login
// and content.
func (w *world) checkSent(t *testing.T, subject, body string) {
	t.Helper()
	data := string(clitest.Received(t, w.smtp, 1, testMailbox, testTo).Data)
	for _, want := range []string{"Subject: " + subject, "From: <" + testMailbox + ">", "To: <" + testTo + ">", "Message-Id: <", "@contoso.test>", body} {
		if !strings.Contains(data, want) {
			t.Errorf("the message lacks %q:\n%s", want, data)
		}
	}
	if n := w.idp.Requests(providertest.GrantClientCredentials); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

func TestSendWithClientSecretFromEnvironment(t *testing.T) {
	w := newWorld(t)
	w.idp.AddApp(providertest.App{ClientID: testClient, Secret: testSecret, Roles: []string{"SMTP.SendAsApp"}, Mailboxes: []string{testMailbox}})

	r := runProgram(w.args("-subject", "Invoice 42", "-body", "Your invoice is ready."), map[string]string{cli.EnvClientSecret: testSecret})
	if r.Err != nil {
		t.Fatalf("run: %v\n%s%s", r.Err, r.Explained, r.Stderr)
	}
	w.checkSent(t, "Invoice 42", "Your invoice is ready.")
	want := "Sent \"Invoice 42\" from " + testMailbox + " to " + testTo + " through " + w.smtp.Addr() + " (app-only token, client secret).\n"
	if r.Stdout != want {
		t.Errorf("stdout %q, want %q", r.Stdout, want)
	}
	if strings.Contains(r.Stdout+r.Stderr, testSecret) {
		t.Error("the secret was printed")
	}
}

// TestSendWithConfigurationFromEnvironment gives every setting through the
// environment and the secret through a file.
func TestSendWithConfigurationFromEnvironment(t *testing.T) {
	w := newWorld(t)
	w.idp.AddApp(providertest.App{ClientID: testClient, Secret: testSecret, Roles: []string{"SMTP.SendAsApp"}, Mailboxes: []string{testMailbox}})
	env := map[string]string{
		"MAILOAUTH_TENANT":         providertest.DefaultTenant,
		"MAILOAUTH_CLIENT_ID":      testClient,
		"MAILOAUTH_MAILBOX":        testMailbox,
		"MAILOAUTH_TO":             testTo,
		"MAILOAUTH_SUBJECT":        "Grüße aus dem Helpdesk",
		"MAILOAUTH_BODY":           "Ünïcödé body",
		"MAILOAUTH_AUTHORITY_HOST": w.idp.URL() + "/",
		"MAILOAUTH_SMTP_HOST":      w.smtp.Host(),
		"MAILOAUTH_SMTP_PORT":      strconv.Itoa(w.smtp.Port()),
		"MAILOAUTH_CA_FILE":        w.caFile,
		"MAILOAUTH_SECRET_FILE":    clitest.WriteFile(t, "secret", []byte(testSecret+"\n")),
	}
	r := runProgram(nil, env)
	if r.Err != nil {
		t.Fatalf("run: %v\n%s%s", r.Err, r.Explained, r.Stderr)
	}
	m := w.smtp.Messages()
	if len(m) != 1 {
		t.Fatalf("%d messages", len(m))
	}
	// Non-ASCII text is encoded, never sent raw in a header.
	if !strings.Contains(string(m[0].Data), "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus_dem_Helpdesk?=") {
		t.Errorf("subject not encoded:\n%s", m[0].Data)
	}
	if !strings.Contains(string(m[0].Data), "=C3=9Cn=C3=AFc=C3=B6d=C3=A9 body") {
		t.Errorf("body not quoted-printable:\n%s", m[0].Data)
	}
}

func TestSendWithCertificate(t *testing.T) {
	cred := clitest.Certificate(t, "entra-send test app")
	cert, pemFile, pfx, password := cred.Cert, cred.PEM, cred.PFX, clitest.PFXPassword

	for _, tc := range []struct {
		name, file string
		data       []byte
		env        map[string]string
	}{
		{"pem", "app.pem", pemFile, nil},
		{"pfx", "app.pfx", pfx, map[string]string{cli.EnvCertPassword: password}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			// No secret is registered: only an assertion signed by the key opens the app.
			w.idp.AddApp(providertest.App{ClientID: testClient, Certificate: cert, Roles: []string{"SMTP.SendAsApp"}, Mailboxes: []string{testMailbox}})
			r := runProgram(w.args("-cert-file", clitest.WriteFile(t, tc.file, tc.data), "-subject", "signed", "-body", "with a certificate"), tc.env)
			if r.Err != nil {
				t.Fatalf("run: %v\n%s%s", r.Err, r.Explained, r.Stderr)
			}
			w.checkSent(t, "signed", "with a certificate")
			if !strings.Contains(r.Stdout, "(app-only token, certificate "+cred.Thumbprint+")") {
				t.Errorf("stdout %q does not name the certificate", r.Stdout)
			}
		})
	}

	t.Run("wrong pfx password", func(t *testing.T) {
		w := newWorld(t)
		r := runProgram(w.args("-cert-file", clitest.WriteFile(t, "app.pfx", pfx)), map[string]string{cli.EnvCertPassword: "not it"})
		if r.Err == nil || r.Code != 1 || len(w.smtp.Messages()) != 0 || w.idp.Requests("") != 0 {
			t.Fatalf("err %v, code %d, %d messages, %d token requests", r.Err, r.Code, len(w.smtp.Messages()), w.idp.Requests(""))
		}
		if strings.Contains(r.Explained, "not it") {
			t.Error("the password was printed")
		}
	})
}

// TestFailuresAreExplained checks that the operator is told what to fix,
// that nothing is sent, and that the secret is never printed.
func TestFailuresAreExplained(t *testing.T) {
	for _, tc := range []struct {
		name     string
		app      providertest.App
		wantCode string
		wantFix  string
	}{
		{
			name:     "secret ID instead of its value",
			app:      providertest.App{ClientID: testClient, Secret: "the-real-value", Roles: []string{"SMTP.SendAsApp"}},
			wantCode: "AADSTS7000215",
			wantFix:  "Certificates & secrets",
		},
		{
			name:     "no Add-MailboxPermission for this mailbox",
			app:      providertest.App{ClientID: testClient, Secret: testSecret, Roles: []string{"SMTP.SendAsApp"}, Mailboxes: []string{"someone-else@contoso.test"}},
			wantCode: "535 5.7.3",
			wantFix:  "Add-MailboxPermission",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.idp.AddApp(tc.app)
			r := runProgram(w.args(), map[string]string{cli.EnvClientSecret: testSecret})
			if r.Err == nil {
				t.Fatal("run succeeded")
			}
			if r.Code != 1 {
				t.Errorf("exit status %d, want 1", r.Code)
			}
			for _, want := range []string{"What went wrong (" + provider.Misconfigured.String() + ", " + tc.wantCode + ")", "How to fix it: ", tc.wantFix} {
				if !strings.Contains(r.Explained, want) {
					t.Errorf("the explanation lacks %q:\n%s", want, r.Explained)
				}
			}
			if n := len(w.smtp.Messages()); n != 0 {
				t.Errorf("%d messages sent", n)
			}
			if strings.Contains(r.Explained+r.Stdout+r.Stderr, testSecret) {
				t.Error("the secret was printed")
			}
		})
	}
}

func TestUsageMistakes(t *testing.T) {
	w := newWorld(t)
	secretEnv := map[string]string{cli.EnvClientSecret: testSecret}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no credential", w.args(), nil, "no credential"},
		{"secret twice", w.args("-secret-file", clitest.WriteFile(t, "s", []byte("x"))), secretEnv, "give the secret once"},
		{"secret and certificate", w.args("-cert-file", "app.pem"), secretEnv, "choose one credential"},
		{"empty secret file", w.args("-secret-file", clitest.WriteFile(t, "empty", []byte("\n"))), nil, "is empty"},
		{"no recipient", []string{"-tenant", "t", "-client-id", "c", "-mailbox", "m@x.test"}, secretEnv, "-to (or $MAILOAUTH_TO) is required"},
		{"unknown cloud", w.args("-cloud", "mars"), secretEnv, `-cloud "mars"`},
		{"bad port", w.args("-smtp-port", "99999"), secretEnv, "not a port number"},
		{"bad security", w.args("-smtp-security", "maybe"), secretEnv, "want starttls, tls or plaintext"},
		{"bad date", w.args("-secret-expires", "next year"), secretEnv, "not a date"},
		{"stray argument", w.args("oops"), secretEnv, "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runProgram(tc.args, tc.env)
			if r.Err == nil || !strings.Contains(r.Err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", r.Err, tc.want)
			}
			if r.Code != 2 {
				t.Errorf("exit status %d, want 2", r.Code)
			}
		})
	}
	if w.idp.Requests("") != 0 || len(w.smtp.Messages()) != 0 {
		t.Error("a usage mistake reached a server")
	}
	if r := runProgram([]string{"-h"}, nil); r.Code != 0 || !strings.Contains(r.Stderr, "$MAILOAUTH_CLIENT_ID") {
		t.Errorf("-h: exit %d, usage %q", r.Code, r.Stderr)
	}
}

// TestCloudSelectsExchangeHosts checks -cloud without overrides: the login
// host and the SMTP server come from the same national cloud.
func TestCloudSelectsExchangeHosts(t *testing.T) {
	for name, want := range map[string]entra.Cloud{
		"global": entra.Global, "usgov": entra.USGovernment, "usgovdod": entra.USGovernmentDoD, "china": entra.China,
	} {
		c, err := parse([]string{"-tenant", "t", "-client-id", "c", "-mailbox", "m@x.test", "-to", "a@b.test", "-cloud", name},
			clitest.Env(map[string]string{cli.EnvClientSecret: "s"}), &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if c.cloud.AuthorityHost != want.AuthorityHost || c.smtp.Apply(c.cloud.SMTP) != want.SMTP {
			t.Errorf("%s: login %s, SMTP %+v; want %s, %+v", name, c.cloud.AuthorityHost, c.smtp.Apply(c.cloud.SMTP), want.AuthorityHost, want.SMTP)
		}
	}
}

// TestOneReportPerFailure: a failure is printed once, by cli.Main's
// explanation: no log line repeats it before, and nothing promises another
// attempt of a program that stops. The credentials are checked first, so
// that a wrong secret is named as such.
func TestOneReportPerFailure(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(w *world)
		env   map[string]string
		want  string // in the explanation
	}{
		{"wrong secret", func(*world) {}, map[string]string{cli.EnvClientSecret: "wrong-secret"}, "AADSTS7000215"},
		{"identity provider down", func(w *world) { w.idp.FailNext(10, providertest.ServerError(503)) }, map[string]string{cli.EnvClientSecret: testSecret}, "temporarily_unavailable"},
		{"mailbox not granted", func(w *world) {
			// Exchange's Add-MailboxPermission names another mailbox: the
			// token is issued, the login refused.
			w.idp.AddApp(providertest.App{ClientID: testClient, Secret: testSecret, Roles: []string{"SMTP.SendAsApp"}, Mailboxes: []string{"other@contoso.test"}})
		}, map[string]string{cli.EnvClientSecret: testSecret}, "535"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.idp.AddApp(providertest.App{ClientID: testClient, Secret: testSecret, Roles: []string{"SMTP.SendAsApp"}, Mailboxes: []string{testMailbox}})
			tc.fault(w)
			r := runProgram(w.args(), tc.env)
			clitest.ReportedOnce(t, r)
			if !strings.Contains(r.Explained, tc.want) {
				t.Errorf("the explanation lacks %q:\n%s", tc.want, r.Explained)
			}
			if len(w.smtp.Messages()) != 0 {
				t.Error("a message was sent")
			}
		})
	}
}

// TestSecretExpiryWarningNamesTheFlags: a secret that expires within 30
// days is warned of, in the program's terms: the flag and the variable to
// update, not the library's Go fields.
func TestSecretExpiryWarningNamesTheFlags(t *testing.T) {
	w := newWorld(t)
	w.idp.AddApp(providertest.App{ClientID: testClient, Secret: testSecret, Roles: []string{"SMTP.SendAsApp"}, Mailboxes: []string{testMailbox}})
	soon := time.Now().AddDate(0, 0, 5).Format(time.DateOnly)
	r := runProgram(w.args("-secret-expires", soon), map[string]string{cli.EnvClientSecret: testSecret})
	if r.Err != nil {
		t.Fatalf("run: %v\n%s%s", r.Err, r.Explained, r.Stderr)
	}
	if !strings.Contains(r.Stderr, "level=WARN") || !strings.Contains(r.Stderr, soon) {
		t.Fatalf("no warning of the expiry on %s:\n%s", soon, r.Stderr)
	}
	if !strings.Contains(r.Stderr, "-secret-expires (or $MAILOAUTH_SECRET_EXPIRES)") || strings.Contains(r.Stderr, "SecretExpiresAt") {
		t.Errorf("the warning does not name the program's flag:\n%s", r.Stderr)
	}
}
