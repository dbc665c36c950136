package authorize_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/authorize"
	"github.com/mailoauth/mailoauth/provider/oauth"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// End-to-end tests of the shared flows against providertest, over TLS,
// with the Entra v2.0 routes (authorization code, device code) and the
// Google routes (loopback).

const (
	e2eClient = "11111111-2222-3333-4444-555555555555"
	e2eSecret = "e2e~secret.value"
	e2eUser   = "alice@contoso.example"
)

var entraScopes = []string{"offline_access", "https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/SMTP.Send"}

type e2eRig struct {
	idp   *providertest.Server
	store *tokenstore.Memory
	token *oauth.Client
	base  string // https://127.0.0.1:PORT/{tenant}/oauth2/v2.0
}

func newE2E(t *testing.T, app providertest.App) *e2eRig {
	t.Helper()
	idp := providertest.New()
	t.Cleanup(idp.Close)
	idp.AddApp(app)
	idp.SignIn(e2eUser)
	base := idp.URL() + "/" + providertest.DefaultTenant + "/oauth2/v2.0"
	te := &oauth.Client{TokenURL: base + "/token", ID: app.ClientID, HTTPClient: idp.Client(), Clock: idp}
	if app.Secret != "" {
		te.Auth = oauth.ClientSecretPost(app.Secret)
	}
	return &e2eRig{idp: idp, store: tokenstore.NewMemory(), token: te, base: base}
}

// browser is an HTTP client with a cookie jar that trusts the identity
// provider's certificate.
func (r *e2eRig) browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := *r.idp.Client()
	c.Jar = jar
	return &c
}

func fetch(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestE2EAuthorizationCodeThroughHandlers(t *testing.T) {
	mux := http.NewServeMux()
	app := httptest.NewServer(mux)
	defer app.Close()
	rig := newE2E(t, providertest.App{ClientID: e2eClient, Secret: e2eSecret, RedirectURIs: []string{app.URL + "/oauth/callback"}})

	completed := make(chan *tokenstore.Record, 4)
	flow := &authorize.AuthCodeFlow{
		AuthURL:     rig.base + "/authorize",
		Client:      rig.token,
		RedirectURL: app.URL + "/oauth/callback",
		Scopes:      entraScopes,
		Store:       rig.store,
		Key:         "entra/alice",
		Account:     e2eUser,
		OnComplete: func(w http.ResponseWriter, r *http.Request, rec *tokenstore.Record) {
			completed <- rec
			io.WriteString(w, "authorized "+rec.Account)
		},
	}
	mux.Handle("/oauth/start", flow.StartHandler())
	mux.Handle("/oauth/callback", flow.CallbackHandler())

	b := rig.browser(t)
	resp, body := fetch(t, b, app.URL+"/oauth/start")
	if resp.StatusCode != 200 || body != "authorized "+e2eUser {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}
	rec := <-completed
	stored, err := rig.store.Load(context.Background(), "entra/alice")
	if err != nil {
		t.Fatal(err)
	}
	if stored.Token.RefreshToken == "" || stored.Account != e2eUser || stored.Version != rec.Version {
		t.Errorf("stored %+v", stored)
	}
	if user, err := rig.idp.Verify(stored.Token.AccessToken); err != nil || !strings.EqualFold(user, e2eUser) {
		t.Errorf("Verify = %q, %v", user, err)
	}
	if n := rig.idp.Requests("authorization_code"); n != 1 {
		t.Errorf("authorization_code requests = %d", n)
	}

	// Replaying the callback (the code is in the browser history) is refused
	// before any second redemption.
	resp, body = fetch(t, b, resp.Request.URL.String())
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "already used") {
		t.Errorf("replay: status %d body %q", resp.StatusCode, body)
	}
	if n := rig.idp.Requests("authorization_code"); n != 1 {
		t.Errorf("replay reached the token endpoint: %d requests", n)
	}

	// The identity provider refuses consent: the page names its code and
	// description and carries the diagnosis; the stored grant is untouched.
	rig.idp.DenyConsent("consent_required", "AADSTS65001: The user or administrator has not consented to use the application <app>.")
	var refusals []error
	flow.OnError = func(r *http.Request, err error) { refusals = append(refusals, err) }
	resp, body = fetch(t, b, app.URL+"/oauth/start")
	var ce *authorize.CallbackError
	if len(refusals) != 1 || !errors.As(refusals[0], &ce) || ce.Code != "consent_required" || provider.Diagnose(refusals[0]) == nil {
		t.Errorf("OnError heard %v, want the diagnosed refusal", refusals)
	}
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("IdP error: status %d", resp.StatusCode)
	}
	for _, want := range []string{"<code>consent_required</code>", "AADSTS65001", "&lt;app&gt;", "How to fix it"} {
		if !strings.Contains(body, want) {
			t.Errorf("IdP error page lacks %q:\n%s", want, body)
		}
	}
	if again, _ := rig.store.Load(context.Background(), "entra/alice"); again.Version != stored.Version {
		t.Error("IdP error changed the stored grant")
	}
}

func TestE2EAuthorizationCodeExchangeFailureIsAPage(t *testing.T) {
	mux := http.NewServeMux()
	app := httptest.NewServer(mux)
	defer app.Close()
	rig := newE2E(t, providertest.App{ClientID: e2eClient, Secret: e2eSecret, RedirectURIs: []string{app.URL + "/cb"}})
	rig.token.Auth = oauth.ClientSecretPost("wrong secret")
	var reported []error
	flow := &authorize.AuthCodeFlow{AuthURL: rig.base + "/authorize", Client: rig.token, RedirectURL: app.URL + "/cb",
		Scopes: entraScopes, Store: rig.store, Key: "k", Account: e2eUser,
		OnError: func(r *http.Request, err error) { reported = append(reported, err) }}
	mux.Handle("/start", flow.StartHandler())
	mux.Handle("/cb", flow.CallbackHandler())

	resp, body := fetch(t, rig.browser(t), app.URL+"/start")
	var d *provider.Diagnosis
	if len(reported) != 1 || !errors.As(reported[0], &d) || d.Code != "AADSTS7000215" {
		t.Errorf("OnError heard %v, want one error carrying the AADSTS7000215 diagnosis", reported)
	}
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "<code>invalid_client</code>") ||
		!strings.Contains(body, "AADSTS7000215") || !strings.Contains(body, "How to fix it") {
		t.Errorf("status %d body:\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, "wrong secret") {
		t.Error("page shows the secret")
	}
}

// deviceRig is an Entra device flow against providertest, announcing an
// interval of 1 s (x/oauth2 polls on the wall clock). afterPoll, when set,
// runs after the n-th poll's answer (1-based): the user acts there.
type deviceRig struct {
	*e2eRig
	mu        sync.Mutex
	polls     int
	afterPoll func(n int)
}

func newDeviceRig(t *testing.T) *deviceRig {
	r := &deviceRig{e2eRig: newE2E(t, providertest.App{ClientID: e2eClient, Public: true})}
	// Announced as 1 s (whole seconds); the server calls a poll early
	// below 0.5 s, the slack a ticker needs when the first poll also opens
	// the TLS connection.
	r.idp.SetDeviceInterval(500 * time.Millisecond)
	base := r.idp.Client().Transport
	hc := *r.idp.Client()
	hc.Transport = roundTripper(func(req *http.Request) (*http.Response, error) {
		resp, err := base.RoundTrip(req)
		if strings.HasSuffix(req.URL.Path, "/token") {
			r.mu.Lock()
			r.polls++
			n, after := r.polls, r.afterPoll
			r.mu.Unlock()
			if after != nil {
				after(n)
			}
		}
		return resp, err
	})
	r.token.HTTPClient = &hc
	return r
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (r *deviceRig) flow() *authorize.DeviceFlow {
	return &authorize.DeviceFlow{DeviceURL: r.base + "/devicecode", Client: r.token, Scopes: entraScopes,
		Store: r.store, Key: "entra/device", Account: e2eUser, Clock: r.idp}
}

func TestE2EDeviceCodeThroughThePollingStates(t *testing.T) {
	t.Parallel()
	rig := newDeviceRig(t)
	var prompt authorize.DevicePrompt
	rig.afterPoll = func(n int) {
		if n == 2 {
			if err := rig.idp.ApproveDevice(prompt.UserCode); err != nil {
				t.Error(err)
			}
		}
	}
	rec, err := rig.flow().Authorize(context.Background(), func(p authorize.DevicePrompt) error { prompt = p; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if prompt.UserCode == "" || !strings.HasSuffix(prompt.VerificationURI, "/devicelogin") || !strings.Contains(prompt.Message, prompt.UserCode) || prompt.ExpiresIn != 15*time.Minute {
		t.Errorf("prompt %+v", prompt)
	}
	// pending, pending, approved: at the server's interval, so never slow_down.
	if n := rig.idp.Requests("device_code"); n != 3 {
		t.Errorf("%d polls, want 3", n)
	}
	if user, err := rig.idp.Verify(rec.Token.AccessToken); err != nil || !strings.EqualFold(user, e2eUser) {
		t.Errorf("Verify = %q, %v", user, err)
	}
	if stored, err := rig.store.Load(context.Background(), "entra/device"); err != nil || stored.Token.RefreshToken == "" {
		t.Errorf("stored %+v, %v", stored, err)
	}
}

func TestE2EDeviceCodeDeclined(t *testing.T) {
	t.Parallel()
	rig := newDeviceRig(t)
	var code string
	rig.afterPoll = func(n int) {
		if n == 1 {
			if err := rig.idp.DeclineDevice(code); err != nil {
				t.Error(err)
			}
		}
	}
	_, err := rig.flow().Authorize(context.Background(), func(p authorize.DevicePrompt) error { code = p.UserCode; return nil })
	if !errors.Is(err, authorize.ErrDeviceDeclined) {
		t.Fatalf("err = %v, want ErrDeviceDeclined", err)
	}
	if d := provider.Diagnose(err); d == nil {
		t.Error("no diagnosis for a declined device code")
	}
	if _, err := rig.store.Load(context.Background(), "entra/device"); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Errorf("store: %v", err)
	}
}

func TestE2EDeviceCodeExpires(t *testing.T) {
	t.Parallel()
	// The server's expired_token answer: its clock jumps past the expiry
	// after the first poll, long before ours reaches it.
	rig := newDeviceRig(t)
	rig.afterPoll = func(n int) {
		if n == 1 {
			rig.idp.Advance(16 * time.Minute)
		}
	}
	_, err := rig.flow().Authorize(context.Background(), func(authorize.DevicePrompt) error { return nil })
	var te *oauth.TokenError
	if !errors.Is(err, authorize.ErrDeviceExpired) || !errors.As(err, &te) || te.Code() != "expired_token" {
		t.Fatalf("err = %v, want ErrDeviceExpired from expired_token", err)
	}

	// Our own deadline: the user never acts; polling stops at expires_in.
	rig2 := newDeviceRig(t)
	rig2.idp.SetDeviceExpiry(2 * time.Second)
	_, err = rig2.flow().Authorize(context.Background(), func(authorize.DevicePrompt) error { return nil })
	if !errors.Is(err, authorize.ErrDeviceExpired) {
		t.Fatalf("err = %v, want ErrDeviceExpired", err)
	}
	if n := rig2.idp.Requests("device_code"); n > 2 {
		t.Errorf("%d polls in 2 s at 1 s", n)
	}
}

func TestE2EDeviceCodeCancelled(t *testing.T) {
	t.Parallel()
	rig := newDeviceRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rig.afterPoll = func(n int) {
		if n == 2 {
			cancel()
		}
	}
	_, err := rig.flow().Authorize(ctx, func(authorize.DevicePrompt) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestE2ELoopbackWithGoogleRoutes(t *testing.T) {
	idp := providertest.New()
	defer idp.Close()
	idp.AddApp(providertest.App{ClientID: "desk.apps.googleusercontent.com", Secret: "GOCSPX-desk", RedirectURIs: []string{"http://127.0.0.1/"}})
	idp.SignIn("carol@example.com")
	store := tokenstore.NewMemory()
	flow := &authorize.LoopbackFlow{
		AuthURL: idp.URL() + "/o/oauth2/v2/auth",
		Client: &oauth.Client{TokenURL: idp.URL() + "/token", ID: "desk.apps.googleusercontent.com",
			Auth: oauth.ClientSecretPost("GOCSPX-desk"), HTTPClient: idp.Client()},
		Scopes: []string{"https://mail.google.com/"},
		Params: url.Values{"access_type": {"offline"}, "prompt": {"consent"}},
		Store:  store, Key: "google/carol", Account: "carol@example.com",
	}
	var page string
	rec, err := flow.Authorize(context.Background(), func(authURL string) error {
		// The browser: trusts the IdP, follows its redirect to 127.0.0.1.
		resp, err := idp.Client().Get(authURL)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		page = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page, "Mailbox authorized") {
		t.Errorf("browser page %q", page)
	}
	if rec.Token.RefreshToken == "" {
		t.Error("no refresh token with access_type=offline")
	}
	if user, err := idp.Verify(rec.Token.AccessToken); err != nil || user != "carol@example.com" {
		t.Errorf("Verify = %q, %v", user, err)
	}
}

// TestE2ERefreshWithRotation redeems refresh tokens through oauth.Client
// and tokenstore.Refresher against Entra's rotating refresh, then shows
// what a strict server does with a stale copy.
func TestE2ERefreshWithRotation(t *testing.T) {
	rig := newE2E(t, providertest.App{ClientID: e2eClient, Secret: e2eSecret})
	rig.idp.SetRotation(true)
	rt := rig.idp.IssueRefreshToken(e2eClient, e2eUser, strings.Join(entraScopes, " "))
	ctx := context.Background()
	if _, err := authorize.SaveGrant(ctx, rig.store, "entra/alice", e2eUser, entraScopes, &oauth2.Token{RefreshToken: rt}, rig.idp.Now()); err != nil {
		t.Fatal(err)
	}
	refresh := func(ctx context.Context, rec *tokenstore.Record) (*oauth2.Token, error) {
		return rig.token.Refresh(ctx, rec.Token.RefreshToken)
	}
	r := tokenstore.NewRefresher(rig.store, "entra/alice", refresh, &tokenstore.RefresherOptions{Clock: rig.idp})
	for i := range 3 {
		tok, err := r.Refresh(ctx, nil)
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		if user, err := rig.idp.Verify(tok.AccessToken); err != nil || !strings.EqualFold(user, e2eUser) {
			t.Errorf("Verify = %q, %v", user, err)
		}
		rig.idp.Advance(2 * time.Hour)
	}
	stored, err := rig.store.Load(ctx, "entra/alice")
	if err != nil {
		t.Fatal(err)
	}
	chain := rig.idp.RefreshChain(rt)
	if len(chain) != 4 || chain[3] != stored.Token.RefreshToken {
		t.Errorf("chain of %d refresh tokens; stored is the newest: %v", len(chain), len(chain) > 0 && chain[len(chain)-1] == stored.Token.RefreshToken)
	}

	// Without rotation the same refresh token comes back and stays stored.
	rig.idp.SetRotation(false)
	if _, err := r.Refresh(ctx, nil); err != nil {
		t.Fatal(err)
	}
	again, _ := rig.store.Load(ctx, "entra/alice")
	if again.Token.RefreshToken != stored.Token.RefreshToken || again.Version <= stored.Version {
		t.Error("refresh without rotation changed the refresh token or saved nothing")
	}

	// A strict server: a rotated-away refresh token revokes the family.
	rig.idp.SetRotation(true)
	rig.idp.SetReuseDetection(true)
	if _, err := rig.token.Refresh(ctx, rt); err == nil {
		t.Fatal("rotated-away refresh token accepted")
	}
	rig.idp.Advance(2 * time.Hour)
	_, err = r.Refresh(ctx, nil)
	var te *oauth.TokenError
	if !errors.As(err, &te) || te.Code() != "invalid_grant" {
		t.Fatalf("err = %v, want invalid_grant", err)
	}
	if d := provider.Diagnose(err); d == nil || d.Kind != provider.Reauthorize {
		t.Errorf("diagnosis %+v", d)
	}
}

// TestE2ETokenEndpointFaults: the typed errors of oauth.Client for
// providertest's injected faults.
func TestE2ETokenEndpointFaults(t *testing.T) {
	rig := newE2E(t, providertest.App{ClientID: e2eClient, Secret: e2eSecret, Roles: []string{"SMTP.SendAsApp"}})
	scopes := []string{"https://outlook.office365.com/.default"}
	ctx := context.Background()
	if _, err := rig.token.ClientCredentials(ctx, scopes); err != nil {
		t.Fatalf("client credentials: %v", err)
	}
	rig.idp.FailNext(1, providertest.TooManyRequests(7*time.Second))
	var ue *oauth.UnavailableError
	if _, err := rig.token.ClientCredentials(ctx, scopes); !errors.As(err, &ue) || ue.StatusCode != 429 || ue.RetryAfter != 7*time.Second {
		t.Errorf("429: %v", err)
	}
	rig.idp.FailNext(1, providertest.ServerError(503))
	if _, err := rig.token.ClientCredentials(ctx, scopes); !errors.As(err, &ue) || ue.StatusCode != 503 {
		t.Errorf("503: %v", err)
	}
	var re *oauth.ResponseError
	rig.idp.FailNext(1, providertest.MalformedJSON())
	if _, err := rig.token.ClientCredentials(ctx, scopes); !errors.As(err, &re) {
		t.Errorf("malformed: %v", err)
	}
	rig.idp.FailNext(1, providertest.OversizedBody())
	if _, err := rig.token.ClientCredentials(ctx, scopes); !errors.As(err, &re) || !strings.Contains(re.Reason, "larger than") {
		t.Errorf("oversized: %v", err)
	}
	rig.idp.FailNext(1, providertest.AADSTS(7000222, "invalid_client", "The provided client secret keys for app are expired."))
	var te *oauth.TokenError
	_, err := rig.token.ClientCredentials(ctx, scopes)
	var oe *oauth2.RetrieveError
	if !errors.As(err, &te) || !errors.As(err, &oe) || !strings.Contains(string(oe.Body), "7000222") {
		t.Errorf("AADSTS: %v", err)
	}
	if strings.Contains(err.Error(), e2eSecret) {
		t.Error("error carries the secret")
	}
}
