package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/examples/internal/clitest"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/authorize"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/google"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/smtpx/smtpxtest"
	"github.com/mailoauth/mailoauth/tokenstore"
)

const (
	clientID     = "5b1f8a36-0c4e-4d2b-9f7a-3e6d2c1b0a99"
	clientSecret = "webauth~test.secret-value"
	mailbox      = "helpdesk@contoso.com"
)

var storeKey = bytes.Repeat([]byte{7}, 32)

// world is an identity provider, an SMTP server that checks its tokens, and
// a running settings page configured by flags and environment as a user
// would.
type world struct {
	t           *testing.T
	provider    string
	idp         *providertest.Server
	smtp        *smtpxtest.Server
	storeDir    string
	base        string // the page's URL
	callbackURL string
	stderr      *clitest.Buffer
	browser     *http.Client
	redirects   []*url.URL // every redirect the browser followed
}

func newWorld(t *testing.T, prov string) *world {
	t.Helper()
	idp := clitest.IdentityProvider(t)
	srv := clitest.SMTPServer(t, idp, nil)
	w := &world{t: t, provider: prov, idp: idp, smtp: srv, storeDir: t.TempDir(), stderr: &clitest.Buffer{}}

	// One CA file trusting both servers, as an operator would write it.
	caFile := clitest.CAFile(t, idp.CertificatePEM(), clitest.PEM(srv.Certificate()))

	args := []string{
		"-provider", prov, "-client-id", clientID, "-mailbox", mailbox,
		"-listen", "127.0.0.1:0", "-store", w.storeDir, "-ca-file", caFile,
		"-smtp-host", srv.Host(), "-smtp-port", strconv.Itoa(srv.Port()), "-smtp-security", "starttls",
	}
	if prov == "entra" {
		args = append(args, "-tenant", providertest.DefaultTenant, "-authority-host", idp.URL())
	} else {
		args = append(args, "-google-base-url", idp.URL())
	}
	env := map[string]string{
		cli.EnvClientSecret: clientSecret,
		cli.EnvStoreKey:     base64.StdEncoding.EncodeToString(storeKey),
	}
	// Registered before the program starts, which checks the credentials
	// first; a loopback redirect URI matches any port (RFC 8252 section 7.3).
	idp.AddApp(providertest.App{ClientID: clientID, Secret: clientSecret, RedirectURIs: []string{"http://127.0.0.1/oauth/callback"}})
	idp.SignIn(mailbox)
	w.start(args, env)

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	w.browser = &http.Client{
		Jar:       jar,
		Transport: &http.Transport{TLSClientConfig: idp.TLSConfig()},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			w.redirects = append(w.redirects, req.URL)
			return nil
		},
	}
	return w
}

// start runs the program and reads the two lines that give its URLs.
func (w *world) start(args []string, env map[string]string) {
	t := w.t
	ctx, cancel := context.WithCancel(context.Background())
	out, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, func(k string) string { return env[k] }, outW, w.stderr)
		outW.Close()
	}()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done, "run must stop cleanly when its context is cancelled")
	})
	lines := bufio.NewScanner(out)
	require.True(t, lines.Scan(), "first line: %s", w.stderr)
	w.base = strings.TrimSuffix(strings.TrimPrefix(lines.Text(), "Mail settings page: "), "/")
	require.True(t, lines.Scan())
	w.callbackURL = strings.TrimPrefix(lines.Text(), "Register this callback URL: ")
	require.Equal(t, w.base+"/oauth/callback", w.callbackURL)
	go func() { _, _ = io.Copy(io.Discard, out) }()
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// home loads the settings page and returns its HTML and CSRF token.
func (w *world) home() (page, csrf string) {
	resp, err := w.browser.Get(w.base + "/")
	require.NoError(w.t, err)
	body := readBody(w.t, resp)
	require.Equal(w.t, http.StatusOK, resp.StatusCode, body)
	m := csrfInput.FindStringSubmatch(body)
	require.NotNil(w.t, m, "the page has forms with a CSRF token")
	return body, m[1]
}

// press posts a button's form and follows the redirects.
func (w *world) press(path, csrf string) (*http.Response, string) {
	w.redirects = nil
	resp, err := w.browser.PostForm(w.base+path, url.Values{"csrf": {csrf}})
	require.NoError(w.t, err)
	return resp, readBody(w.t, resp)
}

// store opens the page's store the way the program does.
func (w *world) store() tokenstore.Store {
	return clitest.EncryptedStore(w.t, w.storeDir, storeKey)
}

func (w *world) key() string {
	if w.provider == "entra" {
		return entra.Config{TenantID: providertest.DefaultTenant, ClientID: clientID, Mailbox: mailbox}.Key()
	}
	return google.Config{ClientID: clientID, Mailbox: mailbox}.Key()
}

func (w *world) record() *tokenstore.Record {
	rec, err := w.store().Load(context.Background(), w.key())
	require.NoError(w.t, err)
	return rec
}

// authorize presses "Authorize mailbox" and returns the callback URL the
// browser was sent back to.
func (w *world) authorize() (*http.Response, string, *url.URL) {
	_, csrf := w.home()
	resp, body := w.press("/authorize", csrf)
	var cb *url.URL
	for _, u := range w.redirects {
		if strings.HasPrefix(u.String(), w.callbackURL+"?") {
			cb = u
		}
	}
	require.NotNil(w.t, cb, "the identity provider sent the browser back to the callback; redirects: %v", w.redirects)
	return resp, body, cb
}

// TestAuthorizeThenSendTest is the page's whole job, for each provider: a
// browser with cookies presses "Authorize mailbox", consents at the
// identity provider, comes back through the callback to a page that says
// "authorized" with the token's expiry; a replay of the callback is
// refused; "Send a test" lands a message in the SMTP server, and without
// the CSRF token it sends nothing.
func TestAuthorizeThenSendTest(t *testing.T) {
	for _, prov := range []string{"entra", "google"} {
		t.Run(prov, func(t *testing.T) {
			w := newWorld(t, prov)
			page, _ := w.home()
			require.Contains(t, page, `id="state">not authorized<`)
			require.Contains(t, page, "<code>"+w.callbackURL+"</code>", "the page shows the callback URL to register")
			require.NotContains(t, page, "Send a test", "nothing to test before the mailbox is authorized")

			resp, page, cb := w.authorize()
			require.Equal(t, http.StatusOK, resp.StatusCode, page)
			require.Equal(t, "/", resp.Request.URL.Path, "the callback ends on the settings page")
			rec := w.record()
			require.Equal(t, mailbox, rec.Account)
			require.NotEmpty(t, rec.Token.RefreshToken)
			require.Contains(t, page, `id="state">authorized<`)
			require.Contains(t, page, `id="expiry">`+formatTime(rec.Token.Expiry))
			require.Equal(t, 1, w.idp.Requests(providertest.GrantAuthorizationCode))
			requireEncrypted(t, w.storeDir, rec.Token.RefreshToken)

			// The same callback again (a reload, or an attacker replaying
			// the URL): refused, nothing redeemed, nothing saved.
			resp, err := w.browser.Get(cb.String())
			require.NoError(t, err)
			body := readBody(t, resp)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode)
			require.Contains(t, body, "already used")
			require.Equal(t, 1, w.idp.Requests(providertest.GrantAuthorizationCode))
			require.Equal(t, rec.Version, w.record().Version)

			_, csrf := w.home()
			resp, page = w.press("/send-test", csrf)
			require.Equal(t, http.StatusOK, resp.StatusCode, page)
			require.Contains(t, page, "A test message was sent to "+mailbox, w.stderr)
			require.NotContains(t, page, "Last error")
			msgs := w.smtp.Messages()
			require.Len(t, msgs, 1)
			require.Equal(t, mailbox, msgs[0].User, "authenticated as the mailbox with the stored grant")
			require.Equal(t, []string{mailbox}, msgs[0].To)
			require.Contains(t, string(msgs[0].Data), "Subject: Test message from the mail settings page")

			resp, _ = w.press("/send-test", "forged-"+strings.Repeat("x", 40))
			require.Equal(t, http.StatusForbidden, resp.StatusCode)
			resp, _ = w.press("/authorize", "")
			require.Equal(t, http.StatusForbidden, resp.StatusCode)
			require.Len(t, w.smtp.Messages(), 1, "a form without the CSRF token sends nothing")
			require.Equal(t, 1, w.idp.Hits("authorize"), "nor starts an authorization")
			require.NotContains(t, w.stderr.String(), clientSecret)
			require.NotContains(t, w.stderr.String(), rec.Token.RefreshToken)
		})
	}
}

// TestDeniedConsentShowsDiagnosis: the identity provider sends the browser
// back with an error instead of a code. The browser lands on the settings
// page, which shows the mailbox not authorized and the diagnosis (kind,
// summary, fix), escaped; nothing is saved. An error callback for an
// authorization this page never started does not reach the settings page.
func TestDeniedConsentShowsDiagnosis(t *testing.T) {
	w := newWorld(t, "entra")
	const desc = "AADSTS65004: User declined to consent to access the app. <script>alert(1)</script>"
	w.idp.DenyConsent("access_denied", desc)
	want := cli.Diagnose(&authorize.CallbackError{Code: "access_denied", Description: desc})
	require.NotNil(t, want)

	resp, body, _ := w.authorize()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, w.base+"/", resp.Request.URL.String(), "the callback sends the browser back to the settings page")
	require.Contains(t, body, `id="state">not authorized<`)
	require.Contains(t, body, html.EscapeString(want.Summary))
	require.NotContains(t, body, "<script>alert")
	require.NotContains(t, strings.ToLower(body), "was authorized")

	page, _ := w.home()
	require.Contains(t, page, `id="state">not authorized<`)
	require.Contains(t, page, `id="last-error"`)
	require.Contains(t, page, want.Kind.String())
	require.Contains(t, page, html.EscapeString(want.Summary))
	require.Contains(t, page, html.EscapeString(want.Fix))
	require.NotContains(t, page, "<script>alert", "the error text is escaped")
	_, err := w.store().Load(context.Background(), w.key())
	require.ErrorIs(t, err, tokenstore.ErrNotFound)

	// A forged error link: the flow refuses it, and it leaves no trace on
	// a page that shows no error yet.
	w2 := newWorld(t, "entra")
	resp, err = w2.browser.Get(w2.callbackURL + "?state=forged&error=access_denied&error_description=call+us")
	require.NoError(t, err)
	readBody(t, resp)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	page, _ = w2.home()
	require.NotContains(t, page, "Last error")
}

// TestFailedExchangeShowsDiagnosis: consent was given but the code
// exchange failed (here the secret is refused): the browser lands on the
// settings page, which shows the failure with its diagnosis and never
// claims the mailbox was authorized; nothing is stored.
func TestFailedExchangeShowsDiagnosis(t *testing.T) {
	w := newWorld(t, "entra")
	w.idp.FailNext(1, providertest.AADSTS(7000215, "invalid_client",
		"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID."))
	resp, body, _ := w.authorize()
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Equal(t, w.base+"/", resp.Request.URL.String(), "the callback sends the browser back to the settings page")
	require.NotContains(t, strings.ToLower(body), "was authorized", body)
	require.Contains(t, body, "the authorization failed; nothing was saved")
	require.Contains(t, body, html.EscapeString("$"+cli.EnvClientSecret+" (or -secret-file)"), "the fix names the program's own setting")

	page, _ := w.home()
	require.Contains(t, page, `id="state">not authorized<`)
	require.Contains(t, page, `id="last-error"`)
	require.Contains(t, page, "AADSTS7000215")
	require.Contains(t, page, provider.Misconfigured.String())
	_, err := w.store().Load(context.Background(), w.key())
	require.ErrorIs(t, err, tokenstore.ErrNotFound)
}

// TestRevokedGrantIsDiagnosedOnSend: after the grant is revoked, "Send a
// test" fails, nothing is sent, and the page says the mailbox must be
// authorized again.
func TestRevokedGrantIsDiagnosedOnSend(t *testing.T) {
	w := newWorld(t, "entra")
	resp, body, _ := w.authorize()
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	rec := w.record()
	w.idp.RevokeGrant(rec.Token.RefreshToken)
	w.idp.RevokeToken(rec.Token.AccessToken)

	_, csrf := w.home()
	_, page := w.press("/send-test", csrf)
	require.Empty(t, w.smtp.Messages())
	require.Contains(t, page, `id="last-error"`)
	require.Contains(t, page, provider.Reauthorize.String(), "kind: authorize the mailbox again")
	require.Contains(t, page, "AADSTS50173")
	require.NotContains(t, page, "A test message was sent")
}

// TestConfigErrors: a bad configuration stops the program before it
// listens, with a message naming the problem.
func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no mailbox", []string{"-tenant", "t", "-client-id", "c"}, nil, "-mailbox (or $MAILOAUTH_MAILBOX) is required"},
		{"unknown provider", []string{"-provider", "yahoo", "-mailbox", mailbox}, nil, "want entra or google"},
		{"bad store key", []string{"-mailbox", mailbox}, map[string]string{cli.EnvStoreKey: "not base64!"}, "MAILOAUTH_STORE_KEY"},
		{"short store key", []string{"-mailbox", mailbox}, map[string]string{cli.EnvStoreKey: base64.StdEncoding.EncodeToString([]byte("short"))}, "32"},
		{"missing secret file", []string{"-mailbox", mailbox}, map[string]string{"MAILOAUTH_SECRET_FILE": filepath.Join(dir, "nope")}, "-secret-file"},
		{"bad security", []string{"-mailbox", mailbox, "-smtp-host", "127.0.0.1", "-smtp-security", "ssl"}, nil, "want starttls, tls or plaintext"},
		{"no tenant", []string{"-client-id", clientID, "-mailbox", mailbox, "-listen", "127.0.0.1:0"}, nil, "TenantID"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"-store", filepath.Join(dir, c.name)}, c.args...)
			err := run(context.Background(), args, func(k string) string { return c.env[k] }, io.Discard, io.Discard)
			require.ErrorContains(t, err, c.want)
			require.NotZero(t, cli.Explain(io.Discard, "webauth", err), "a bad configuration exits non-zero")
		})
	}
}

// requireEncrypted checks that no file in dir holds secret in clear.
func requireEncrypted(t *testing.T, dir, secret string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		require.NotContains(t, string(b), secret, "the stored grant is encrypted with MAILOAUTH_STORE_KEY")
	}
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// TestWrongSecretRefusesToStart: with a secret Entra ID refuses, the page
// never starts, so that nobody consents for an app that cannot redeem the
// grant; the program says why, in its own settings.
func TestWrongSecretRefusesToStart(t *testing.T) {
	idp := clitest.IdentityProvider(t)
	idp.AddApp(providertest.App{ClientID: clientID, Secret: clientSecret, RedirectURIs: []string{"http://127.0.0.1/oauth/callback"}})
	caFile := clitest.CAFile(t, idp.CertificatePEM())
	args := []string{"-client-id", clientID, "-mailbox", mailbox, "-tenant", providertest.DefaultTenant,
		"-authority-host", idp.URL(), "-listen", "127.0.0.1:0", "-store", t.TempDir(), "-ca-file", caFile}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout bytes.Buffer
	err := run(ctx, args, clitest.Env(map[string]string{cli.EnvClientSecret: "the-secret-id-not-its-value"}), &stdout, io.Discard)
	require.Error(t, err, "the page started with a wrong secret")
	require.Empty(t, stdout.String(), "the page was offered")
	require.Zero(t, idp.Hits("authorize"))
	var buf bytes.Buffer
	require.Equal(t, cli.StatusFailure, cli.Explain(&buf, "webauth", err))
	require.Contains(t, buf.String(), "AADSTS7000215")
	require.Contains(t, buf.String(), "$"+cli.EnvClientSecret+" (or -secret-file)")
	require.NotContains(t, buf.String(), "the-secret-id-not-its-value")
}
