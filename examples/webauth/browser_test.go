package main

import (
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/examples/internal/clitest"
	"github.com/mailoauth/mailoauth/internal/browsertest"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// bindingCookiePrefix starts the name of the cookie that binds an
// authorization to the browser that started it (provider/authorize).
const bindingCookiePrefix = "mailoauth_auth_"

// browserWorld is the page served to a real browser: the program runs
// in-process; the identity provider is reached over plain HTTP, which a
// browser takes without a certificate authority, under the name
// localhost, so that it is another site than the page at 127.0.0.1 (a
// site is a scheme and a host, whatever the port), as a real identity
// provider is.
type browserWorld struct {
	*world
	b *browsertest.Browser
}

func newBrowserWorld(t *testing.T) *browserWorld {
	t.Helper()
	idp := clitest.IdentityProvider(t)
	srv := clitest.SMTPServer(t, idp, nil)
	w := &world{t: t, provider: "entra", idp: idp, smtp: srv, storeDir: t.TempDir(), stderr: &clitest.Buffer{}}
	plain, err := url.Parse(idp.PlainURL())
	require.NoError(t, err)
	idpSite := "http://localhost:" + plain.Port()
	idp.AddApp(providertest.App{ClientID: clientID, Secret: clientSecret, RedirectURIs: []string{"http://127.0.0.1/oauth/callback"}})
	idp.SignIn(mailbox)
	args := []string{
		"-client-id", clientID, "-mailbox", mailbox, "-tenant", providertest.DefaultTenant,
		"-authority-host", idpSite, "-listen", "127.0.0.1:0", "-store", w.storeDir,
		"-ca-file", clitest.CAFile(t, clitest.PEM(srv.Certificate())),
		"-smtp-host", srv.Host(), "-smtp-port", strconv.Itoa(srv.Port()), "-smtp-security", "starttls",
	}
	w.start(args, map[string]string{
		cli.EnvClientSecret: clientSecret,
		cli.EnvStoreKey:     base64.StdEncoding.EncodeToString(storeKey),
	})
	return &browserWorld{world: w, b: browsertest.Start(t)}
}

// state is what the settings page says of the mailbox.
func (w *browserWorld) state() string { return w.b.Text("#state") }

// stored reports whether the page's store holds a grant.
func (w *browserWorld) stored() bool {
	_, err := w.store().Load(context.Background(), w.key())
	if err != nil {
		require.ErrorIs(w.t, err, tokenstore.ErrNotFound)
	}
	return err == nil
}

// TestBrowserAuthorizesAndSends drives headless Chromium through the whole
// flow, with the cookies, redirects and SameSite rules a browser applies:
// the settings page; "Authorize mailbox", whose form carries the CSRF
// token of a SameSite=Strict cookie; the identity provider, another site,
// which consents at once for the signed-in user and sends the browser back
// to the callback, with the SameSite=Lax binding cookie (a Strict one
// would stay behind on that cross-site navigation); the settings page
// with the mailbox authorized; and "Send a test", which lands a message in
// the SMTP server. It keeps a screenshot of each page.
func TestBrowserAuthorizesAndSends(t *testing.T) {
	w := newBrowserWorld(t)
	b := w.b

	b.Go(w.base + "/")
	b.WaitText("Mail settings")
	b.Screenshot("1-settings.png")
	require.Equal(t, "not authorized", w.state())
	require.Contains(t, b.PageText(), w.callbackURL)
	csrf := b.Cookie(csrfCookie)
	require.NotNil(t, csrf, "the browser kept no CSRF cookie")
	require.True(t, csrf.HttpOnly)
	require.Equal(t, http.SameSiteStrictMode, csrf.SameSite)
	require.Equal(t, "/", csrf.Path)

	b.Click(`form[action="/authorize"] button`)
	b.WaitURL(w.base + "/")
	b.WaitText("Grant saved")
	b.Screenshot("2-authorized.png")
	require.Equal(t, "authorized", w.state())
	require.Contains(t, b.PageText(), mailbox)
	require.Equal(t, 1, w.idp.Hits("authorize"), "one visit to the identity provider")
	require.True(t, w.stored(), "the grant was saved")
	for _, c := range b.Cookies() {
		require.False(t, strings.HasPrefix(c.Name, bindingCookiePrefix), "the binding cookie outlived its callback: %+v", c)
	}

	b.Click(`form[action="/send-test"] button`)
	b.WaitURL(w.base + "/")
	b.WaitText("A test message was sent to " + mailbox)
	b.Screenshot("3-test-sent.png")
	clitest.Received(t, w.smtp, 1, mailbox, mailbox)
	require.NotContains(t, b.PageText(), "Last error")
	require.NotContains(t, w.stderr.String(), clientSecret)
}

// TestBrowserCrossSiteCallbackIsRefused: the page was opened as
// http://localhost:PORT, another site than the callback URL's
// 127.0.0.1:PORT. The browser keeps the binding cookie for the site that
// set it, so the identity provider's redirect to the callback arrives
// without it, and the callback is refused: nothing is saved, and the
// mailbox stays not authorized. The cookie, as the browser stored it, is
// HttpOnly, SameSite=Lax, limited to the callback's path and to the
// authorization's lifetime.
func TestBrowserCrossSiteCallbackIsRefused(t *testing.T) {
	w := newBrowserWorld(t)
	b := w.b
	_, port, err := net.SplitHostPort(strings.TrimPrefix(w.base, "http://"))
	require.NoError(t, err)
	otherSite := "http://localhost:" + port

	b.Go(otherSite + "/")
	b.WaitText("Mail settings")
	b.Click(`form[action="/authorize"] button`)
	b.WaitURL(w.callbackURL + "?")
	b.WaitText("Authorization not accepted")
	b.Screenshot("1-callback-refused.png")
	require.Contains(t, b.PageText(), "Nothing was saved")
	require.False(t, w.stored(), "a refused callback saved a grant")

	// The binding cookie is still in the browser, for localhost's
	// callback path only: look at it from a page there.
	b.Go(otherSite + "/oauth/callback")
	var binding *http.Cookie
	for _, c := range b.Cookies() {
		if strings.HasPrefix(c.Name, bindingCookiePrefix) {
			binding = c
		}
	}
	require.NotNil(t, binding, "no binding cookie for localhost; the browser holds %v", b.Cookies())
	require.True(t, binding.HttpOnly)
	require.Equal(t, http.SameSiteLaxMode, binding.SameSite)
	require.Equal(t, "/oauth/callback", binding.Path)
	require.WithinDuration(t, time.Now().Add(10*time.Minute), binding.Expires, time.Minute, "it lasts as long as the authorization")

	b.Go(w.base + "/")
	require.Equal(t, "not authorized", w.state())
}

// TestBrowserDeniedConsentComesBack: the user declines at the identity
// provider; the browser comes back to the settings page, which shows the
// mailbox not authorized and the refusal with its diagnosis, and never
// says it was authorized.
func TestBrowserDeniedConsentComesBack(t *testing.T) {
	w := newBrowserWorld(t)
	b := w.b
	w.idp.DenyConsent("access_denied", "AADSTS65004: User declined to consent to access the app.")

	b.Go(w.base + "/")
	b.Click(`form[action="/authorize"] button`)
	b.WaitURL(w.base + "/")
	text := b.WaitText("Last error")
	b.Screenshot("1-consent-denied.png")
	require.Equal(t, "not authorized", w.state())
	require.Contains(t, text, "the authorization failed; nothing was saved")
	require.Contains(t, text, "access_denied")
	require.Contains(t, text, "How to fix it:")
	require.NotContains(t, strings.ToLower(text), "was authorized")
	require.False(t, w.stored())
}

// TestContentSecurityPolicyAllowsTheAuthorizationsWay: form-action lets
// "Authorize mailbox" reach the identity provider and come back to the
// callback, and nothing else in plain http.
func TestContentSecurityPolicyAllowsTheAuthorizationsWay(t *testing.T) {
	for _, tc := range []struct{ auth, callback, want string }{
		{"https://login.microsoftonline.com/t/oauth2/v2.0/authorize", "https://helpdesk.example.com/oauth/callback", "form-action 'self' https:;"},
		{"http://localhost:9/t/oauth2/v2.0/authorize", "http://127.0.0.1:8080/oauth/callback", "form-action 'self' https: http://localhost:9 http://127.0.0.1:8080;"},
	} {
		if got := contentSecurityPolicy(tc.auth, tc.callback); !strings.Contains(got, tc.want) || !strings.HasPrefix(got, "default-src 'none';") {
			t.Errorf("contentSecurityPolicy(%q, %q) = %q, want %q in it", tc.auth, tc.callback, got, tc.want)
		}
	}
}
