package entra_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/authorize"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/tokenstore"
)

func TestDeviceCodeThroughThePollingStates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.publicApp()
	e.srv.SignIn(testUser)
	e.srv.GrantMailbox(testMailbox, testUser)
	store := tokenstore.NewMemory()
	var prompt authorize.DevicePrompt
	cfg = afterPolls(cfg, func(n int) {
		if n == 2 { // the user approves after two polls found the code pending
			assert.NoError(t, e.srv.ApproveDevice(prompt.UserCode))
		}
	})
	f, err := entra.NewDeviceFlow(cfg, store)
	require.NoError(t, err)
	assert.Equal(t, cfg.DeviceCodeURL(), f.DeviceURL)
	assert.Equal(t, cfg.DelegatedScopes(), f.Scopes)

	rec, err := f.Authorize(context.Background(), func(p authorize.DevicePrompt) error {
		prompt = p
		return nil
	})
	require.NoError(t, err)

	assert.NotEmpty(t, prompt.UserCode)
	assert.NotEmpty(t, prompt.VerificationURI)
	assert.Contains(t, prompt.Message, prompt.UserCode)
	assert.Equal(t, 15*time.Minute, prompt.ExpiresIn)
	assert.Equal(t, 3, e.srv.Requests("urn:ietf:params:oauth:grant-type:device_code"), "pending, pending, approved")

	stored, err := store.Load(context.Background(), cfg.Key())
	require.NoError(t, err)
	assert.Equal(t, rec.Token.RefreshToken, stored.Token.RefreshToken)
	assert.Equal(t, testMailbox, stored.Account)
	require.NoError(t, e.srv.VerifySASL(testMailbox, stored.Token.AccessToken))
}

func TestDeviceCodeEndings(t *testing.T) {
	cases := []struct {
		name  string
		act   func(e *envT, code string, cancel context.CancelFunc)
		check func(t *testing.T, err error)
	}{
		{"declined", func(e *envT, code string, _ context.CancelFunc) {
			_ = e.srv.DeclineDevice(code)
		}, func(t *testing.T, err error) { assert.ErrorIs(t, err, authorize.ErrDeviceDeclined) }},
		{"expired", func(e *envT, _ string, _ context.CancelFunc) {
			e.srv.Advance(16 * time.Minute)
		}, func(t *testing.T, err error) { assert.ErrorIs(t, err, authorize.ErrDeviceExpired) }},
		{"cancelled", func(_ *envT, _ string, cancel context.CancelFunc) {
			cancel()
		}, func(t *testing.T, err error) { assert.ErrorIs(t, err, context.Canceled) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			cfg := e.publicApp()
			e.srv.SignIn(testUser)
			store := tokenstore.NewMemory()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var code string
			cfg = afterPolls(cfg, func(n int) {
				if n == 1 {
					tc.act(e, code, cancel)
				}
			})
			f, err := entra.NewDeviceFlow(cfg, store)
			require.NoError(t, err)
			_, err = f.Authorize(ctx, func(p authorize.DevicePrompt) error { code = p.UserCode; return nil })
			require.Error(t, err)
			tc.check(t, err)
			_, err = store.Load(context.Background(), cfg.Key())
			assert.ErrorIs(t, err, tokenstore.ErrNotFound, "nothing saved")
		})
	}
}

// envT names the env type in table tests.
type envT = env

func TestAuthorizeDevice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.publicApp()
	e.srv.SignIn(testUser)
	store := tokenstore.NewMemory()
	rec, err := entra.AuthorizeDevice(context.Background(), cfg, store, func(p authorize.DevicePrompt) error {
		return e.srv.ApproveDevice(p.UserCode)
	})
	require.NoError(t, err)
	assert.Equal(t, testMailbox, rec.Account)
	mb, err := entra.Delegated(context.Background(), cfg, store)
	require.NoError(t, err)
	tok, err := mb.Tokens.Token(context.Background())
	require.NoError(t, err)
	assert.Equal(t, rec.Token.AccessToken, tok.AccessToken)

	_, err = entra.AuthorizeDevice(context.Background(), cfg, store, nil)
	var ce *provider.ConfigError
	require.True(t, errors.As(err, &ce))
}

// webApp is a helpdesk's admin site mounting the authorization handlers.
type webApp struct {
	srv      *httptest.Server
	flow     *authorize.AuthCodeFlow
	client   *http.Client
	mu       sync.Mutex
	callback string // the last callback URL the browser was sent to
}

func newWebApp(t *testing.T, e *env, store tokenstore.Store) *webApp {
	t.Helper()
	w := &webApp{}
	mux := http.NewServeMux()
	w.srv = httptest.NewServer(mux)
	t.Cleanup(w.srv.Close)
	redirect := w.srv.URL + "/mail/callback"
	cfg := e.publicApp(redirect)
	e.srv.SignIn(testUser)
	e.srv.GrantMailbox(testMailbox, testUser)
	flow, err := entra.NewAuthCodeFlow(cfg, store, redirect)
	require.NoError(t, err)
	assert.Equal(t, cfg.AuthorizeURL(), flow.AuthURL)
	flow.OnComplete = func(rw http.ResponseWriter, _ *http.Request, rec *tokenstore.Record) {
		fmt.Fprintf(rw, "mailbox %s authorized", rec.Account)
	}
	mux.Handle("/mail/authorize", flow.StartHandler())
	mux.Handle("/mail/callback", flow.CallbackHandler())
	w.flow = flow

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	w.client = &http.Client{
		Jar:       jar,
		Transport: e.srv.Client().Transport, // trusts the identity provider
		CheckRedirect: func(r *http.Request, _ []*http.Request) error {
			if r.URL.Path == "/mail/callback" {
				w.mu.Lock()
				w.callback = r.URL.String()
				w.mu.Unlock()
			}
			return nil
		},
	}
	return w
}

func (w *webApp) get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := w.client.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestAuthCodeThroughTheHandlers(t *testing.T) {
	e := newEnv(t)
	store := tokenstore.NewMemory()
	w := newWebApp(t, e, store)

	status, body := w.get(t, w.srv.URL+"/mail/authorize")
	assert.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "mailbox "+testMailbox+" authorized", body)
	assert.Equal(t, 1, e.srv.Requests("authorization_code"))

	rec, err := store.Load(context.Background(), e.cfg.Key())
	require.NoError(t, err)
	assert.NotEmpty(t, rec.Token.RefreshToken)
	mb, err := entra.Delegated(context.Background(), e.cfg, store)
	require.NoError(t, err)
	tok, err := mb.Tokens.Token(context.Background())
	require.NoError(t, err)
	require.NoError(t, e.srv.VerifySASL(testMailbox, tok.AccessToken))

	// The callback URL replayed (a reload, or an attacker with the link).
	w.mu.Lock()
	callback := w.callback
	w.mu.Unlock()
	require.Contains(t, callback, "state=")
	status, body = w.get(t, callback)
	assert.GreaterOrEqual(t, status, 400)
	assert.Less(t, status, 500)
	assert.NotContains(t, body, rec.Token.RefreshToken)
	assert.Equal(t, 1, e.srv.Requests("authorization_code"), "a replayed state is refused before any exchange")
	after, err := store.Load(context.Background(), e.cfg.Key())
	require.NoError(t, err)
	assert.Equal(t, rec.Version, after.Version)

	// A state never issued.
	u, err := url.Parse(callback)
	require.NoError(t, err)
	q := u.Query()
	q.Set("state", "forged-state")
	u.RawQuery = q.Encode()
	status, _ = w.get(t, u.String())
	assert.GreaterOrEqual(t, status, 400)
	assert.Less(t, status, 500)
}

func TestAuthCodeIdPErrorPage(t *testing.T) {
	e := newEnv(t)
	store := tokenstore.NewMemory()
	w := newWebApp(t, e, store)
	e.srv.DenyConsent("access_denied", "AADSTS65004: User declined to consent to access the app.")

	status, body := w.get(t, w.srv.URL+"/mail/authorize")
	assert.GreaterOrEqual(t, status, 400)
	assert.Less(t, status, 500, "a clear page, never a bare 500")
	assert.Contains(t, body, "access_denied")
	assert.Contains(t, body, "AADSTS65004")
	assert.True(t, strings.Contains(body, "declined"), body)
	_, err := store.Load(context.Background(), e.cfg.Key())
	assert.ErrorIs(t, err, tokenstore.ErrNotFound)
	assert.Equal(t, 0, e.srv.Requests("authorization_code"))
}

func TestNewAuthCodeFlowRefusesBadRedirect(t *testing.T) {
	e := newEnv(t)
	for _, r := range []string{"", "/relative", "ftp://x/cb", "https://x/cb#frag"} {
		_, err := entra.NewAuthCodeFlow(e.cfg, tokenstore.NewMemory(), r)
		var ce *provider.ConfigError
		require.True(t, errors.As(err, &ce), "redirect %q: %v", r, err)
		assert.Equal(t, "redirectURL", ce.Field)
	}
	_, err := entra.NewAuthCodeFlow(e.cfg, nil, "https://x/cb")
	require.Error(t, err)
}

func TestAdminConsentAgainstTheIdP(t *testing.T) {
	e := newEnv(t)
	const redirect = "https://helpdesk.example/consented"
	e.srv.AddApp(testAppWithRedirect(redirect))
	e.srv.SignIn(testUser)
	cfg := e.cfg
	cfg.TenantID = "organizations"
	s, err := entra.AdminConsentURL(cfg, redirect, "state-123")
	require.NoError(t, err)

	c := *e.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(s)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	assert.Equal(t, redirect, loc.Scheme+"://"+loc.Host+loc.Path)
	assert.Equal(t, "state-123", loc.Query().Get("state"))
	assert.Equal(t, "True", loc.Query().Get("admin_consent"))
	assert.Equal(t, 1, e.srv.Hits("adminconsent"))
}
