package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/examples/internal/clitest"
	"github.com/mailoauth/mailoauth/imapx/imapxtest"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/smtpx"
	"github.com/mailoauth/mailoauth/smtpx/smtpxtest"
	"github.com/mailoauth/mailoauth/tokenstore"
)

const (
	clientID     = "8e2b4c6d-1a3f-4b5e-9c7d-0f1e2d3c4b5a"
	clientSecret = "doctor~test.secret-value"
	mailbox      = "helpdesk@contoso.com"
	recipient    = "alice@contoso.com"
)

// world is an identity provider and SMTP and IMAP servers that check its
// tokens.
type world struct {
	t      *testing.T
	idp    *providertest.Server
	smtp   *smtpxtest.Server
	imap   *imapxtest.Server
	caFile string
}

func newWorld(t *testing.T, smtpOpts ...*smtpxtest.Options) *world {
	t.Helper()
	idp := clitest.IdentityProvider(t)
	s := clitest.SMTPServer(t, idp, first(smtpOpts))
	i := clitest.IMAPServer(t, idp, nil)
	caFile := clitest.CAFile(t, idp.CertificatePEM(), clitest.PEM(s.Certificate()), i.CertificatePEM())
	return &world{t: t, idp: idp, smtp: s, imap: i, caFile: caFile}
}

// addApp registers the app-only app with the given roles.
func (w *world) addApp(roles ...string) {
	w.idp.AddApp(providertest.App{ClientID: clientID, Secret: clientSecret, Roles: roles, Mailboxes: []string{mailbox}})
}

func (w *world) args(extra ...string) []string {
	ep := w.imap.Endpoint()
	return append([]string{
		"-tenant", providertest.DefaultTenant, "-client-id", clientID, "-mailbox", mailbox,
		"-authority-host", w.idp.URL(), "-ca-file", w.caFile,
		"-smtp-host", w.smtp.Host(), "-smtp-port", strconv.Itoa(w.smtp.Port()), "-smtp-security", "starttls",
		"-imap-host", ep.Host, "-imap-port", strconv.Itoa(ep.Port), "-imap-security", "tls",
	}, extra...)
}

// doctor runs the program and returns its error and its output.
func doctor(t *testing.T, args []string, env map[string]string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	t.Logf("output:\n%s%s", out.String(), errOut.String())
	return out.String(), err
}

// status returns the status word printed for step.
func status(t *testing.T, out, step string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(step) + ` +(OK|WARN|FAIL|SKIP)  `).FindStringSubmatch(out)
	require.NotNil(t, m, "no line for step %q", step)
	return m[1]
}

var secretEnv = map[string]string{cli.EnvClientSecret: clientSecret}

// TestGoodConfigurationIsOKEverywhere: app-only with a secret, app-only
// with a certificate, and delegated from an encrypted file store each pass
// every step, and the test message arrives.
func TestGoodConfigurationIsOKEverywhere(t *testing.T) {
	t.Run("app-only secret", func(t *testing.T) {
		w := newWorld(t)
		w.addApp("SMTP.SendAsApp", "IMAP.AccessAsApp")
		out, err := doctor(t, w.args("-to", recipient), secretEnv)
		require.NoError(t, err)
		requireAllOK(t, out)
		require.Contains(t, out, "client secret accepted")
		require.Contains(t, out, "app-only token")
		requireDelivered(t, w)
	})

	t.Run("app-only certificate", func(t *testing.T) {
		w := newWorld(t)
		cert, pemFile := newCertificate(t)
		w.idp.AddApp(providertest.App{ClientID: clientID, Certificate: cert,
			Roles: []string{"SMTP.SendAsApp", "IMAP.AccessAsApp"}, Mailboxes: []string{mailbox}})
		out, err := doctor(t, w.args("-cert-file", pemFile, "-to", recipient), nil)
		require.NoError(t, err)
		requireAllOK(t, out)
		require.Contains(t, out, "certificate accepted")
		requireDelivered(t, w)
	})

	t.Run("delegated", func(t *testing.T) {
		w := newWorld(t)
		w.addApp()
		storeDir := t.TempDir()
		key := bytes.Repeat([]byte{3}, 32)
		store := clitest.EncryptedStore(t, storeDir, key)
		rt := w.idp.IssueRefreshToken(clientID, mailbox,
			"offline_access https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All")
		key0 := entra.Config{TenantID: providertest.DefaultTenant, ClientID: clientID, Mailbox: mailbox}.Key()
		require.NoError(t, store.Save(context.Background(), key0, &tokenstore.Record{Token: &oauth2.Token{RefreshToken: rt}, Account: mailbox}))

		out, err := doctor(t, w.args("-grant", "delegated", "-store", storeDir, "-to", recipient), map[string]string{
			cli.EnvClientSecret: clientSecret, cli.EnvStoreKey: base64.StdEncoding.EncodeToString(key),
		})
		require.NoError(t, err)
		requireAllOK(t, out)
		require.Contains(t, out, "delegated ("+mailbox+") token")
		requireDelivered(t, w)
		rec, err := store.Load(context.Background(), key0)
		require.NoError(t, err)
		require.NotEqual(t, rt, rec.Token.RefreshToken, "the rotated refresh token was saved")
	})
}

func requireAllOK(t *testing.T, out string) {
	t.Helper()
	for _, step := range []string{stepCredentials, stepToken, stepSMTP, stepSend, stepIMAP} {
		require.Equal(t, statusOK, status(t, out, step), step)
	}
	require.NotContains(t, out, statusFail)
	require.NotContains(t, out, statusWarn)
	require.NotContains(t, out, clientSecret)
}

func requireDelivered(t *testing.T, w *world) {
	t.Helper()
	msgs := w.smtp.Messages()
	require.Len(t, msgs, 1)
	require.Equal(t, []string{recipient}, msgs[0].To)
	require.Equal(t, mailbox, msgs[0].User)
	require.Contains(t, string(msgs[0].Data), "Subject: mailoauth doctor test message")
}

// TestWrongSecretFails: the credentials step names Entra's AADSTS7000215
// with its fix, the later steps are skipped, no mail server is contacted,
// and the exit status is 1.
func TestWrongSecretFails(t *testing.T) {
	w := newWorld(t)
	w.addApp("SMTP.SendAsApp", "IMAP.AccessAsApp")
	imapConns := w.imap.Connections()
	out, err := doctor(t, w.args("-to", recipient), map[string]string{cli.EnvClientSecret: "wrong-secret-value"})
	require.Error(t, err)
	require.Equal(t, 1, cli.Explain(io.Discard, "doctor", err), "exit status 1")
	require.Equal(t, statusFail, status(t, out, stepCredentials))
	require.Contains(t, out, "misconfigured (AADSTS7000215): ")
	require.Contains(t, out, "Fix: ")
	require.Contains(t, out, "Certificates & secrets")
	for _, step := range []string{stepToken, stepSMTP, stepSend, stepIMAP} {
		require.Equal(t, statusSkip, status(t, out, step), step)
	}
	require.Zero(t, w.smtp.Stats().Connections)
	require.Equal(t, imapConns, w.imap.Connections())
	require.NotContains(t, out, "wrong-secret-value")
}

// TestServerRefusingAuthFails: the SMTP server refuses the token as
// Exchange Online does (535 5.7.3, no error challenge), for the fresh token
// too: the smtp login step prints that reply's diagnosis, the send is
// skipped, IMAP still passes, and the exit status is 1.
func TestServerRefusingAuthFails(t *testing.T) {
	w := newWorld(t, &smtpxtest.Options{NoErrorChallenge: true})
	w.addApp("SMTP.SendAsApp", "IMAP.AccessAsApp")
	w.smtp.RejectAuth(2) // the first token and the fresh one
	want := provider.Diagnose(&smtpx.Error{Phase: smtpx.PhaseAuth, Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 3}, Message: "Authentication unsuccessful", Retried: true})
	require.NotNil(t, want)

	out, err := doctor(t, w.args("-to", recipient), secretEnv)
	require.Error(t, err)
	require.Equal(t, statusOK, status(t, out, stepCredentials))
	require.Equal(t, statusOK, status(t, out, stepToken))
	require.Equal(t, statusFail, status(t, out, stepSMTP))
	require.Contains(t, out, "535")
	require.Contains(t, out, want.Kind.String()+" ("+want.Code+"): "+want.Summary)
	require.Contains(t, out, "Fix: "+want.Fix)
	require.Equal(t, statusSkip, status(t, out, stepSend))
	require.Equal(t, statusOK, status(t, out, stepIMAP))
	require.Empty(t, w.smtp.Messages())
}

// TestTokenClaimProblemsAreWarnings: an app token without IMAP.AccessAsApp
// gets a WARN naming the missing role; the logins, which this test server
// allows with any role, decide the exit status.
func TestTokenClaimProblemsAreWarnings(t *testing.T) {
	w := newWorld(t)
	w.addApp("SMTP.SendAsApp")
	out, err := doctor(t, w.args(), secretEnv)
	require.NoError(t, err)
	require.Equal(t, statusWarn, status(t, out, stepToken))
	require.Contains(t, out, "Problem: the app-only token lacks IMAP.AccessAsApp")

	out, err = doctor(t, w.args("-skip-imap"), secretEnv)
	require.NoError(t, err)
	require.Equal(t, statusOK, status(t, out, stepToken), "SMTP alone needs only SMTP.SendAsApp")
	require.NotContains(t, out, stepIMAP)
}

// TestRevokedGrantFailsAtToken: a delegated grant revoked at the identity
// provider fails at the token step with "reauthorize".
func TestRevokedGrantFailsAtToken(t *testing.T) {
	w := newWorld(t)
	w.addApp()
	storeDir := t.TempDir()
	f, err := tokenstore.NewFile(storeDir)
	require.NoError(t, err)
	rt := w.idp.IssueRefreshToken(clientID, mailbox, "offline_access https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All")
	key := entra.Config{TenantID: providertest.DefaultTenant, ClientID: clientID, Mailbox: mailbox}.Key()
	require.NoError(t, f.Save(context.Background(), key, &tokenstore.Record{Token: &oauth2.Token{RefreshToken: rt}, Account: mailbox}))
	w.idp.RevokeGrant(rt)

	out, err := doctor(t, w.args("-grant", "delegated", "-store", storeDir), secretEnv)
	require.Error(t, err)
	require.Equal(t, statusOK, status(t, out, stepCredentials))
	require.Equal(t, statusFail, status(t, out, stepToken))
	require.Contains(t, out, provider.Reauthorize.String()+" (AADSTS50173)")
	require.Equal(t, statusSkip, status(t, out, stepSMTP))
	require.Equal(t, statusSkip, status(t, out, stepIMAP))
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no mailbox", nil, "-mailbox (or $MAILOAUTH_MAILBOX) is required"},
		{"bad recipient", []string{"-mailbox", mailbox, "-to", "not an address"}, "-to"},
		{"send without smtp", []string{"-mailbox", mailbox, "-to", recipient, "-skip-smtp"}, "drop -skip-smtp"},
		{"bad grant", []string{"-mailbox", mailbox, "-grant", "password"}, "want app or delegated"},
		{"missing cert file", []string{"-mailbox", mailbox, "-cert-file", filepath.Join(t.TempDir(), "none.pem")}, "none.pem"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := run(context.Background(), c.args, func(string) string { return "" }, io.Discard, io.Discard)
			require.ErrorContains(t, err, c.want)
		})
	}
	err := run(context.Background(), []string{"-mailbox", mailbox, "-smtp-security", "ssl"}, func(string) string { return "" }, io.Discard, io.Discard)
	require.Equal(t, 2, cli.Explain(io.Discard, "doctor", err), "a usage error exits 2")
	err = run(context.Background(), []string{"-h"}, func(string) string { return "" }, io.Discard, io.Discard)
	require.Equal(t, 0, cli.Explain(io.Discard, "doctor", err), "-h exits 0")
	err = run(context.Background(), nil, func(k string) string {
		return map[string]string{"MAILOAUTH_MAILBOX": mailbox, "MAILOAUTH_SMTP_PORT": "five"}[k]
	}, io.Discard, io.Discard)
	require.ErrorContains(t, err, "MAILOAUTH_SMTP_PORT")
}

// TestConfiguredByEnvironment: the same good configuration given through
// environment variables alone.
func TestConfiguredByEnvironment(t *testing.T) {
	w := newWorld(t)
	w.addApp("SMTP.SendAsApp", "IMAP.AccessAsApp")
	ep := w.imap.Endpoint()
	secretFile := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(secretFile, []byte(clientSecret+"\n"), 0o600))
	env := map[string]string{
		"MAILOAUTH_TENANT": providertest.DefaultTenant, "MAILOAUTH_CLIENT_ID": clientID, "MAILOAUTH_MAILBOX": mailbox,
		"MAILOAUTH_AUTHORITY_HOST": w.idp.URL(), "MAILOAUTH_CA_FILE": w.caFile,
		"MAILOAUTH_SMTP_HOST": w.smtp.Host(), "MAILOAUTH_SMTP_PORT": strconv.Itoa(w.smtp.Port()),
		"MAILOAUTH_IMAP_HOST": ep.Host, "MAILOAUTH_IMAP_PORT": strconv.Itoa(ep.Port),
		"MAILOAUTH_TO": recipient, "MAILOAUTH_SECRET_FILE": secretFile,
	}
	out, err := doctor(t, nil, env)
	require.NoError(t, err)
	requireAllOK(t, out)
	requireDelivered(t, w)
}

// newCertificate makes a self-signed RSA certificate and writes it with its
// key to a PEM file.
func newCertificate(t *testing.T) (*x509.Certificate, string) {
	t.Helper()
	cred := clitest.Certificate(t, "doctor test app")
	return cred.Cert, clitest.WriteFile(t, "app.pem", cred.PEM)
}

// first returns opts[0], or nil when there is none.
func first(opts []*smtpxtest.Options) *smtpxtest.Options {
	if len(opts) == 0 {
		return nil
	}
	return opts[0]
}
