package oidc_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/authorize"
	"github.com/mailoauth/mailoauth/provider/oidc"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// Entra's endpoints in providertest follow the standards: its issuer
// publishes OpenID Connect discovery, its token endpoint takes HTTP Basic,
// it rotates refresh tokens and detects their reuse.
const (
	appID       = "5b1f2c3d-0000-4000-8000-00000000a11c"
	appSecret   = "oidc-test-secret-value"
	user        = "alice@example.test"
	imapScope   = "https://outlook.office.com/IMAP.AccessAsUser.All"
	offlineScop = "offline_access"
)

func entraIssuer(t *testing.T) (*providertest.Server, oidc.Config) {
	t.Helper()
	idp := providertest.New()
	t.Cleanup(idp.Close)
	idp.AddApp(providertest.App{ClientID: appID, Secret: appSecret})
	idp.SetRotation(true)
	idp.SetReuseDetection(true)
	idp.SetDeviceInterval(time.Second)
	idp.SignIn(user)
	return idp, oidc.Config{
		Issuer:       idp.URL() + "/" + providertest.DefaultTenant + "/v2.0",
		ClientID:     appID,
		ClientSecret: appSecret,
		Scopes:       []string{offlineScop, imapScope},
		Mailbox:      user,
		HTTPClient:   idp.Client(),
		Clock:        idp,
	}
}

// TestDeviceFlowThenDelegated: the device flow of a discovered server
// stores a grant that Delegated refreshes; every rotated refresh token is
// saved, and many goroutines asking at once cost one refresh, so the
// server's reuse detection never fires.
func TestDeviceFlowThenDelegated(t *testing.T) {
	idp, cfg := entraIssuer(t)
	store := tokenstore.NewMemory()
	ctx := context.Background()
	var shown authorize.DevicePrompt
	flow, err := oidc.NewDeviceFlow(ctx, cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := flow.Authorize(ctx, func(p authorize.DevicePrompt) error {
		shown = p
		return idp.ApproveDevice(p.UserCode)
	})
	if err != nil {
		t.Fatal(err)
	}
	if shown.UserCode == "" || !strings.HasPrefix(shown.VerificationURI, idp.URL()) || rec.Token.RefreshToken == "" || rec.Account != user {
		t.Fatalf("prompt %+v, record %v", shown, rec)
	}
	first := rec.Token.RefreshToken

	mb, err := oidc.Delegated(ctx, cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := mb.Tokens.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := idp.VerifySASL(user, tok.AccessToken); err != nil {
		t.Fatalf("the mail server would refuse the token: %v", err)
	}
	before := idp.Requests("refresh_token")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			mb.Tokens.Invalidate(tok)
			if _, err := mb.Tokens.Token(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := idp.Requests("refresh_token") - before; n != 1 {
		t.Errorf("%d refreshes for 8 goroutines, want 1", n)
	}
	saved, err := store.Load(ctx, cfg.Key())
	if err != nil {
		t.Fatal(err)
	}
	chain := idp.RefreshChain(first)
	if len(chain) != 2 || saved.Token.RefreshToken != chain[len(chain)-1] || idp.GrantRevoked(first) {
		t.Errorf("the store holds %q; the server's chain is %d long, its last %q; revoked %v", saved.Token.RefreshToken, len(chain), chain[len(chain)-1], idp.GrantRevoked(first))
	}
}

// TestDelegatedRevokedGrant: a revoked grant fails at Delegated with a
// diagnosis that says to authorize again; a missing one says so too.
func TestDelegatedRevokedGrant(t *testing.T) {
	idp, cfg := entraIssuer(t)
	ctx := context.Background()
	store := tokenstore.NewMemory()
	if _, err := oidc.Delegated(ctx, cfg, store); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("no grant: err = %v", err)
	}
	rt := idp.IssueRefreshToken(appID, user, offlineScop+" "+imapScope)
	if _, err := authorize.SaveGrant(ctx, store, cfg.Key(), user, nil, &oauth2.Token{RefreshToken: rt}, idp.Now()); err != nil {
		t.Fatal(err)
	}
	idp.RevokeGrant(rt)
	_, err := oidc.Delegated(ctx, cfg, store)
	d := provider.Diagnose(err)
	if d == nil || d.Kind != provider.Reauthorize || !strings.Contains(d.Summary, "answered by the token endpoint") {
		t.Errorf("err = %v, diagnosis %v; want Reauthorize from the token endpoint", err, d)
	}
}

// TestAuthCodeFlowOfAnIssuer: the flow of a discovered server sends the
// browser to its authorization endpoint with the resource indicators,
// offline_access with prompt=consent, and checks iss as announced.
func TestAuthCodeFlowOfAnIssuer(t *testing.T) {
	s := newIDP(t, "/.well-known/openid-configuration", map[string]any{
		"scopes_supported": []string{"openid", "offline_access"},
		"authorization_response_iss_parameter_supported": true,
	})
	cfg := s.config()
	cfg.Scopes = []string{"mail"}
	cfg.Resources = []string{"imap://mail.example.test"}
	f, err := oidc.NewAuthCodeFlow(context.Background(), cfg, tokenstore.NewMemory(), "https://helpdesk.example.test/oauth/callback")
	if err != nil {
		t.Fatal(err)
	}
	if f.AuthURL != s.URL+"/auth" || f.Issuer != s.URL || !f.RequireIssuer || f.Client.Auth != nil {
		t.Errorf("flow %+v", f)
	}
	if strings.Join(f.Scopes, " ") != "mail offline_access" || f.Params.Get("prompt") != "consent" || f.Params.Get("resource") != "imap://mail.example.test" {
		t.Errorf("scopes %v, params %v", f.Scopes, f.Params)
	}
	if cfg.Scopes[0] != "mail" || len(cfg.Scopes) != 1 {
		t.Errorf("the caller's scopes changed: %v", cfg.Scopes)
	}
	// The whole redirect, as a browser follows it: the start handler
	// sends the browser where the resource and consent go along.
	rec := httptest.NewRecorder()
	f.StartHandler().ServeHTTP(rec, httptest.NewRequest("GET", "https://helpdesk.example.test/oauth/start", nil))
	to, err := url.Parse(rec.Header().Get("Location"))
	if err != nil || to.Query().Get("resource") != "imap://mail.example.test" || to.Query().Get("prompt") != "consent" || to.Query().Get("scope") != "mail offline_access" {
		t.Errorf("authorization request %v (%v)", to, err)
	}
}

// TestConfigRefusals: what cannot work is refused before anything is
// sent, in the operator's words.
func TestConfigRefusals(t *testing.T) {
	s := newIDP(t, "/.well-known/openid-configuration", nil)
	for _, tc := range []struct {
		name string
		mod  func(c *oidc.Config)
		has  string
	}{
		{"no issuer", func(c *oidc.Config) { c.Issuer = "" }, "issuer URL"},
		{"no client", func(c *oidc.Config) { c.ClientID = " " }, "client ID"},
		{"no mailbox", func(c *oidc.Config) { c.Mailbox = "" }, "mailbox"},
		{"reserved param", func(c *oidc.Config) { c.Params = url.Values{"grant_type": {"password"}} }, "grant_type"},
		{"relative resource", func(c *oidc.Config) { c.Resources = []string{"mail"} }, "absolute URI"},
		{"issuer and metadata disagree", func(c *oidc.Config) {
			c.Metadata = &oidc.Metadata{Issuer: "https://other.example", TokenEndpoint: "https://other.example/token"}
		}, "not the issuer"},
		{"no credential for client credentials", func(c *oidc.Config) { c.ClientSecret = "" }, "client secret or a private key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := s.config()
			cfg.ClientSecret = "s3cret"
			tc.mod(&cfg)
			_, err := oidc.ClientCredentials(context.Background(), cfg)
			var ce *provider.ConfigError
			if !errors.As(err, &ce) || !strings.Contains(ce.Reason, tc.has) {
				t.Errorf("err = %v, want a configuration error saying %q", err, tc.has)
			}
		})
	}
	if n := len(s.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
	cfg := s.config()
	cfg.ClientSecret = "hunter2-secret"
	for _, out := range []string{fmt.Sprint(cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%+v", cfg)} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("printed the secret: %s", out)
		}
	}
}

// TestExplicitEndpoints: a server without discovery is described by
// Metadata; nothing is fetched.
func TestExplicitEndpoints(t *testing.T) {
	s := newIDP(t, "/nowhere", nil)
	cfg := s.config()
	cfg.Issuer = ""
	cfg.ClientSecret = "s3cret"
	cfg.AuthMethod = "client_secret_post"
	cfg.Metadata = &oidc.Metadata{TokenEndpoint: s.URL + "/token"}
	if _, err := oidc.ClientCredentials(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if r := s.requests(); len(r) != 1 || r[0].form.Get("client_secret") != "s3cret" {
		t.Errorf("requests %v", r)
	}
	if !strings.HasPrefix(cfg.Key(), "oidc:"+s.URL+"/token:helpdesk:") {
		t.Errorf("key %q", cfg.Key())
	}
	_, err := oidc.NewDeviceFlow(context.Background(), cfg, tokenstore.NewMemory())
	var ce *provider.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(ce.Reason, "device authorization endpoint") {
		t.Errorf("a device flow without its endpoint: %v", err)
	}
}
