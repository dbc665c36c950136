package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/examples/internal/clitest"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/smtpx/smtpxtest"
)

const (
	testClient  = "helpdesk-app"
	testSecret  = "oidc-send-test-secret"
	testMailbox = "helpdesk@example.test"
	testTo      = "customer@example.test"
	appScope    = "https://outlook.office365.com/.default"
	userScopes  = "offline_access https://outlook.office.com/SMTP.Send"
)

// world is a standards server (providertest's, found by its issuer) and
// an SMTP server that checks its tokens.
type world struct {
	idp    *providertest.Server
	smtp   *smtpxtest.Server
	caFile string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{idp: clitest.IdentityProvider(t)}
	w.smtp = clitest.SMTPServer(t, w.idp, nil)
	w.caFile = clitest.CAFile(t, w.idp.CertificatePEM(), clitest.PEM(w.smtp.Certificate()))
	return w
}

func (w *world) args(extra ...string) []string {
	return append([]string{
		"-issuer", w.idp.URL() + "/" + providertest.DefaultTenant + "/v2.0",
		"-client-id", testClient, "-mailbox", testMailbox, "-to", testTo,
		"-smtp-host", w.smtp.Host(), "-smtp-port", strconv.Itoa(w.smtp.Port()),
		"-ca-file", w.caFile,
	}, extra...)
}

func runProgram(args []string, env map[string]string) clitest.Result {
	return clitest.Run("oidc-send", run, args, env)
}

// TestSendAppOnly: the client's own token, with its secret, sends one
// message.
func TestSendAppOnly(t *testing.T) {
	w := newWorld(t)
	w.idp.AddApp(providertest.App{ClientID: testClient, Secret: testSecret, Roles: []string{"SMTP.SendAsApp"}, Mailboxes: []string{testMailbox}})
	r := runProgram(w.args("-scope", appScope, "-subject", "Hello"), map[string]string{cli.EnvClientSecret: testSecret})
	if r.Err != nil {
		t.Fatalf("%v\n%s\n%s", r.Err, r.Explained, r.Stderr)
	}
	clitest.Received(t, w.smtp, 1, testMailbox, testTo)
	if !strings.Contains(r.Stdout, `Sent "Hello" from `+testMailbox+" to "+testTo) || !strings.Contains(r.Stdout, "app-only token") {
		t.Errorf("stdout %q", r.Stdout)
	}
	if strings.Contains(r.Stdout+r.Stderr, testSecret) {
		t.Error("the secret was printed")
	}
}

// TestSendDelegated: the first run shows a device code, which the user
// approves; the second finds the grant and refreshes it.
func TestSendDelegated(t *testing.T) {
	w := newWorld(t)
	w.idp.AddApp(providertest.App{ClientID: testClient, Public: true})
	w.idp.SignIn(testMailbox)
	w.idp.SetDeviceInterval(time.Second)
	store := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // the user, on another device
		for ctx.Err() == nil {
			if codes := w.idp.DeviceCodes(); len(codes) > 0 && w.idp.ApproveDevice(codes[0]) == nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	args := w.args("-grant", "delegated", "-store", store, "-scope", userScopes)
	r := runProgram(args, nil)
	if r.Err != nil {
		t.Fatalf("%v\n%s\n%s", r.Err, r.Explained, r.Stderr)
	}
	if !strings.Contains(r.Stdout, "enter the code") || !strings.Contains(r.Stdout, "Authorized "+testMailbox) || !strings.Contains(r.Stdout, "delegated grant") {
		t.Errorf("first run:\n%s", r.Stdout)
	}
	r = runProgram(args, nil)
	if r.Err != nil || strings.Contains(r.Stdout, "enter the code") {
		t.Fatalf("second run authorized again or failed: %v\n%s", r.Err, r.Stdout)
	}
	if n := len(w.idp.DeviceCodes()); n != 1 {
		t.Errorf("%d device codes, want 1", n)
	}
	clitest.Received(t, w.smtp, 2, testMailbox, testTo)
}

// TestFailures: what is wrong is said once, in the program's terms.
func TestFailures(t *testing.T) {
	w := newWorld(t)
	w.idp.AddApp(providertest.App{ClientID: testClient, Secret: testSecret, Roles: []string{"SMTP.SendAsApp"}})
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyFile := clitest.WriteFile(t, "client.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		code int
		has  string
	}{
		{"wrong secret", w.args("-scope", appScope), map[string]string{cli.EnvClientSecret: "wrong"}, 1, "misconfigured"},
		{"no issuer", []string{"-client-id", testClient, "-mailbox", testMailbox, "-smtp-host", "x"}, nil, 2, "-issuer (or $MAILOAUTH_ISSUER) is required"},
		{"no metadata there", w.args("-issuer", w.idp.URL()+"/"+providertest.DefaultTenant), map[string]string{cli.EnvClientSecret: testSecret}, 1, "In this program: -issuer (or $MAILOAUTH_ISSUER)"},
		{"another issuer", w.args("-issuer", w.idp.URL()+"/"+providertest.DefaultTenant+"/v2.0/"), map[string]string{cli.EnvClientSecret: testSecret}, 1, "-issuer (or $MAILOAUTH_ISSUER): the identity provider at"},
		{"secret and key", w.args("-key-file", keyFile), map[string]string{cli.EnvClientSecret: testSecret}, 2, "choose one credential"},
		{"not a key", w.args("-key-file", w.caFile), nil, 2, "no PEM private key"},
		{"no secret for client credentials", w.args(), nil, 1, "client secret or a private key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runProgram(tc.args, tc.env)
			if r.Code != tc.code || !strings.Contains(r.Explained, tc.has) {
				t.Errorf("exit %d, want %d; explained:\n%s", r.Code, tc.code, r.Explained)
			}
			if strings.Contains(r.Explained, "Issuer") || strings.Contains(r.Explained, "ClientSecret") {
				t.Errorf("a Go field name in what the user reads:\n%s", r.Explained)
			}
		})
	}
	if n := len(w.smtp.Messages()); n != 0 {
		t.Errorf("%d messages sent", n)
	}
}
