package entra_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/internal/leaktest"
	"github.com/mailoauth/mailoauth/provider/authorize"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// serverConfig is a configuration whose identity provider is srv, logging
// into logs.
func serverConfig(srv *httptest.Server, logs io.Writer) entra.Config {
	return entra.Config{
		TenantID:   "contoso.onmicrosoft.com",
		ClientID:   testClientID,
		Mailbox:    testMailbox,
		Cloud:      entra.Global.WithAuthorityHost(srv.URL),
		HTTPClient: srv.Client(),
		Logger:     slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// withCredential returns cfg with a client secret or a certificate.
func withCredential(t *testing.T, cfg entra.Config, certificate bool) entra.Config {
	if certificate {
		p := getPKI(t)
		cert, err := entra.ParseCertificatePEM(concat(pemCert(p.leaf), pemPKCS8(t, p.leafKey)))
		require.NoError(t, err)
		cfg.Certificate = cert
		return cfg
	}
	cfg.ClientSecret = testSecret
	return cfg
}

// TestNoSecretInWhatATokenEndpointEchoes: whatever a token endpoint sends
// back (an OAuth error, a 503, an HTML page, an unusable 200, an error in a
// 200), no secret of the request (client secret, client assertion, refresh
// token, authorization code, PKCE verifier, device code) appears in the
// error, in the wrapped *oauth2.RetrieveError, in the diagnosis, on the
// error page or in the log.
func TestNoSecretInWhatATokenEndpointEchoes(t *testing.T) {
	type grant struct {
		name string
		run  func(t *testing.T, cfg entra.Config) (page string, err error)
	}
	grants := []grant{
		{"client credentials", func(t *testing.T, cfg entra.Config) (string, error) {
			_, err := entra.ClientCredentials(context.Background(), cfg)
			return "", err
		}},
		{"refresh token", func(t *testing.T, cfg entra.Config) (string, error) {
			store := tokenstore.NewMemory()
			require.NoError(t, store.Save(context.Background(), cfg.Key(), &tokenstore.Record{
				Token: &oauth2.Token{AccessToken: "old", RefreshToken: "RT-delegated-grant-of-the-helpdesk", Expiry: time.Now().Add(-time.Hour)}}))
			_, err := entra.Delegated(context.Background(), cfg, store)
			return "", err
		}},
		{"keep-alive refresh", func(t *testing.T, cfg entra.Config) (string, error) {
			store := tokenstore.NewMemory()
			require.NoError(t, store.Save(context.Background(), cfg.Key(), &tokenstore.Record{
				Token: &oauth2.Token{AccessToken: "old", RefreshToken: "RT-idle-grant-of-the-helpdesk"}}))
			_, err := entra.KeepAlive(context.Background(), cfg, store)
			return "", err
		}},
		{"device code", func(t *testing.T, cfg entra.Config) (string, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			_, err := entra.AuthorizeDevice(ctx, cfg, tokenstore.NewMemory(), func(authorize.DevicePrompt) error { return nil })
			return "", err
		}},
		{"authorization code", func(t *testing.T, cfg entra.Config) (string, error) {
			return authCodeCallback(t, cfg, "code-from-the-identity-provider-0123456789")
		}},
	}
	for _, g := range grants {
		for _, certificate := range []bool{false, true} {
			for _, mode := range leaktest.Modes {
				name := g.name + "/secret/" + mode.String()
				if certificate {
					name = g.name + "/certificate/" + mode.String()
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					echo := leaktest.NewEcho(t, mode)
					logs := &leaktest.Logs{}
					page, err := g.run(t, withCredential(t, serverConfig(echo.Server, logs), certificate))
					secrets := echo.Secrets()
					leaktest.CheckError(t, err, secrets)
					leaktest.Check(t, "log", logs.String(), secrets)
					if page != "" {
						leaktest.Check(t, "error page", leaktest.Page(page), secrets)
					}
				})
			}
		}
	}
}

// authCodeCallback starts an authorization-code flow of cfg and comes back
// to its callback with code, as the identity provider would send the
// browser; it returns the error the flow reported and the page it showed.
func authCodeCallback(t *testing.T, cfg entra.Config, code string) (string, error) {
	t.Helper()
	const redirect = "https://helpdesk.example/oauth/callback"
	flow, err := entra.NewAuthCodeFlow(cfg, tokenstore.NewMemory(), redirect)
	require.NoError(t, err)
	var reported error
	flow.OnError = func(_ *http.Request, err error) { reported = err }

	start := httptest.NewRecorder()
	flow.StartHandler().ServeHTTP(start, httptest.NewRequest(http.MethodGet, "https://helpdesk.example/oauth/start", nil))
	loc, err := url.Parse(start.Header().Get("Location"))
	require.NoError(t, err)
	back := httptest.NewRequest(http.MethodGet, redirect+"?"+url.Values{"state": {loc.Query().Get("state")}, "code": {code}}.Encode(), nil)
	for _, c := range start.Result().Cookies() {
		back.AddCookie(c)
	}
	cb := httptest.NewRecorder()
	flow.CallbackHandler().ServeHTTP(cb, back)
	require.Error(t, reported, "the callback reported no failure; page:\n%s", cb.Body.String())
	return cb.Body.String(), reported
}
