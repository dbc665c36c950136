package main

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mailoauth/mailoauth/examples/internal/clitest"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/google"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/smtpx/smtpxtest"
)

const (
	testServiceAccount = "mailer@helpdesk-project.iam.gserviceaccount.com"
	testMailbox        = "helpdesk@example.test"
	testTo             = "customer@example.org"
)

type world struct {
	idp     *providertest.Server
	smtp    *smtpxtest.Server
	caFile  string
	keyFile string
}

// newWorld starts a Google-like token endpoint where the service account
// is delegated scopes, and a Gmail-like SMTP server.
func newWorld(t *testing.T, scopes []string, opts ...*smtpxtest.Options) *world {
	t.Helper()
	keyJSON, public := clitest.ServiceAccount(t, testServiceAccount, google.TokenURL)
	w := &world{idp: clitest.IdentityProvider(t)}
	w.idp.AddApp(providertest.App{ServiceAccountEmail: testServiceAccount, ServiceAccountKey: public, DelegatedScopes: scopes})
	var o *smtpxtest.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	w.smtp = clitest.SMTPServer(t, w.idp, o)
	w.caFile = clitest.CAFile(t, w.idp.CertificatePEM(), clitest.PEM(w.smtp.Certificate()))
	w.keyFile = clitest.WriteFile(t, "service-account.json", keyJSON)
	return w
}

func (w *world) args(extra ...string) []string {
	return append([]string{
		"-mailbox", testMailbox,
		"-to", testTo,
		"-google-base-url", w.idp.URL(),
		"-smtp-host", w.smtp.Host(),
		"-smtp-port", strconv.Itoa(w.smtp.Port()),
		"-ca-file", w.caFile,
	}, extra...)
}

func runProgram(args []string, env map[string]string) clitest.Result {
	return clitest.Run("google-send", run, args, env)
}

func (w *world) checkSent(t *testing.T) {
	t.Helper()
	// The token was issued for the impersonated user (sub), and opened that
	// user's mailbox only.
	m := clitest.Received(t, w.smtp, 1, testMailbox, testTo)
	if !strings.Contains(string(m.Data), "Subject: mailoauth test message") || !strings.Contains(string(m.Data), "domain-wide delegation") {
		t.Errorf("message:\n%s", m.Data)
	}
	if n := w.idp.Requests("jwt-bearer"); n != 1 {
		t.Errorf("%d JWT-bearer token requests, want 1", n)
	}
}

func TestSendAsServiceAccount(t *testing.T) {
	w := newWorld(t, []string{google.ScopeMail})
	r := runProgram(w.args("-google-key-file", w.keyFile), nil)
	if r.Err != nil {
		t.Fatalf("run: %v\n%s%s", r.Err, r.Explained, r.Stderr)
	}
	w.checkSent(t)
	if w.smtp.CommandCount("STARTTLS") != 1 {
		t.Error("no STARTTLS before the token")
	}
	want := "Sent \"mailoauth test message\" from " + testMailbox + " to " + testTo + " through " + w.smtp.Addr() + " (service account with domain-wide delegation).\n"
	if r.Stdout != want {
		t.Errorf("stdout %q, want %q", r.Stdout, want)
	}
	if strings.Contains(r.Stdout+r.Stderr, "PRIVATE KEY") {
		t.Error("the key was printed")
	}
}

// TestKeyFileFromGoogleVariable finds the key where Google's tools look,
// and sends through implicit TLS as on smtp.gmail.com:465.
func TestKeyFileFromGoogleVariable(t *testing.T) {
	w := newWorld(t, []string{google.ScopeMail}, &smtpxtest.Options{Security: provider.ImplicitTLS})
	r := runProgram(w.args("-smtp-security", "tls"), map[string]string{envKeyFileFallback: w.keyFile})
	if r.Err != nil {
		t.Fatalf("run: %v\n%s%s", r.Err, r.Explained, r.Stderr)
	}
	w.checkSent(t)
	if w.smtp.CommandCount("STARTTLS") != 0 {
		t.Error("STARTTLS on an implicit-TLS connection")
	}
}

// TestMissingDelegationIsExplained: the admin allowed another scope only;
// Google's unauthorized_client is explained and nothing is sent.
func TestMissingDelegationIsExplained(t *testing.T) {
	w := newWorld(t, []string{"https://www.googleapis.com/auth/gmail.readonly"})
	r := runProgram(w.args("-google-key-file", w.keyFile), nil)
	if r.Err == nil || r.Code != 1 {
		t.Fatalf("err %v, status %d", r.Err, r.Code)
	}
	for _, want := range []string{"What went wrong (" + provider.Misconfigured.String() + ", unauthorized_client)", "Domain Wide Delegation", google.ScopeMail} {
		if !strings.Contains(r.Explained, want) {
			t.Errorf("the explanation lacks %q:\n%s", want, r.Explained)
		}
	}
	if w.smtp.Stats().Connections != 0 {
		t.Error("connected to the SMTP server without a token")
	}
}

func TestBadKeyFiles(t *testing.T) {
	w := newWorld(t, []string{google.ScopeMail})
	clientFile := clitest.WriteFile(t, "client.json", []byte(`{"installed":{"client_id":"x.apps.googleusercontent.com"}}`))
	for _, tc := range []struct {
		name, file, want string
		code             int
	}{
		{"missing", filepath.Join(t.TempDir(), "nope.json"), "read the service account key", 1},
		{"an OAuth client file", clientFile, "OAuth client file", 1},
	} {
		r := runProgram(w.args("-google-key-file", tc.file), nil)
		if r.Err == nil || !strings.Contains(r.Err.Error(), tc.want) || r.Code != tc.code {
			t.Errorf("%s: err %v, status %d", tc.name, r.Err, r.Code)
		}
	}
	r := runProgram([]string{"-mailbox", testMailbox, "-to", testTo}, nil)
	if r.Err == nil || !strings.Contains(r.Err.Error(), "-google-key-file (or $MAILOAUTH_GOOGLE_KEY_FILE) is required") || r.Code != 2 {
		t.Errorf("no key: err %v, status %d", r.Err, r.Code)
	}
	if w.idp.Requests("") != 0 || w.smtp.Stats().Connections != 0 {
		t.Error("a bad key file reached a server")
	}
}
