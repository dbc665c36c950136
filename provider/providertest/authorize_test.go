package providertest

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/internal/jwt"
)

const (
	testRedirect = "https://app.example.com/callback"
	mailScopes   = "offline_access https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All"
)

func entraConfig(s *Server, clientID, secret string) *oauth2.Config {
	base := s.URL() + "/" + DefaultTenant + "/oauth2/v2.0/"
	return &oauth2.Config{ClientID: clientID, ClientSecret: secret, RedirectURL: testRedirect,
		Endpoint: oauth2.Endpoint{AuthURL: base + "authorize", TokenURL: base + "token", AuthStyle: oauth2.AuthStyleInParams},
		Scopes:   strings.Fields(mailScopes)}
}

// noRedirect is a client of s that stops at the first redirect.
func noRedirect(s *Server) *http.Client {
	c := *s.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// authorizeURL follows an authorization URL one step and returns the redirect target's query, or
// fails when there is no redirect.
func authorizeRedirect(t *testing.T, s *Server, u string) url.Values {
	t.Helper()
	resp, err := noRedirect(s).Get(u)
	if err != nil {
		t.Fatal(err)
	}
	r := readReply(t, resp)
	if r.status != http.StatusFound {
		t.Fatalf("authorize answered %d, want 302: %.300s", r.status, r.raw)
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc.Query()
}

func ctxWith(s *Server) context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, s.Client())
}

func TestAuthorizationCodeWithPKCE(t *testing.T) {
	s := newServer(t)
	s.AddApp(App{ClientID: "web", Secret: "pw", RedirectURIs: []string{testRedirect}})
	s.SignIn("alice@example.com")
	cfg := entraConfig(s, "web", "pw")
	verifier := oauth2.GenerateVerifier()
	q := authorizeRedirect(t, s, cfg.AuthCodeURL("st-123", oauth2.S256ChallengeOption(verifier)))
	if q.Get("state") != "st-123" || q.Get("code") == "" || q.Get("error") != "" {
		t.Fatalf("redirect query = %v", q)
	}
	tok, err := cfg.Exchange(ctxWith(s), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("offline_access gave no refresh token")
	}
	var c map[string]any
	if err := jwt.Decode(tok.AccessToken, nil, &c); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{"aud": "https://outlook.office.com", "scp": "SMTP.Send IMAP.AccessAsUser.All",
		"upn": "alice@example.com", "unique_name": "alice@example.com", "tid": DefaultTenant, "appid": "web",
		"azp": "web", "idtyp": "user", "ver": "1.0"} {
		if c[k] != v {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
	if tok.Extra("scope") != "https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All offline_access" {
		t.Errorf("scope = %v", tok.Extra("scope"))
	}
	if err := s.VerifySASL("alice@example.com", tok.AccessToken); err != nil {
		t.Errorf("VerifySASL: %v", err)
	}
	// The code is single use.
	_, err = cfg.Exchange(ctxWith(s), q.Get("code"), oauth2.VerifierOption(verifier))
	wantRetrieveError(t, err, "invalid_grant", 54005)
}

// wantRetrieveError checks an error from x/oauth2 carries the Entra error and code.
func wantRetrieveError(t *testing.T, err error, errName string, code int) {
	t.Helper()
	re, ok := err.(*oauth2.RetrieveError)
	if !ok {
		t.Fatalf("err = %v (%T), want *oauth2.RetrieveError", err, err)
	}
	if re.ErrorCode != errName || !strings.HasPrefix(re.ErrorDescription, "AADSTS"+itoa(code)+": ") {
		t.Fatalf("got %s / %.80q, want %s AADSTS%d", re.ErrorCode, re.ErrorDescription, errName, code)
	}
}

func TestAuthorizationCodeExchangeErrors(t *testing.T) {
	s := newServer(t)
	s.AddApp(App{ClientID: "web", Secret: "pw", RedirectURIs: []string{testRedirect, "https://app.example.com/other"}})
	s.AddApp(App{ClientID: "web2", Secret: "pw", RedirectURIs: []string{testRedirect}})
	s.SignIn("alice@example.com")
	cfg := entraConfig(s, "web", "pw")
	newCode := func() (string, string) {
		v := oauth2.GenerateVerifier()
		return authorizeRedirect(t, s, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(v))).Get("code"), v
	}
	t.Run("wrong verifier", func(t *testing.T) {
		code, _ := newCode()
		_, err := cfg.Exchange(ctxWith(s), code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		wantRetrieveError(t, err, "invalid_grant", 501481)
	})
	t.Run("missing verifier", func(t *testing.T) {
		code, _ := newCode()
		_, err := cfg.Exchange(ctxWith(s), code)
		wantRetrieveError(t, err, "invalid_grant", 501481)
	})
	t.Run("other redirect_uri", func(t *testing.T) {
		code, v := newCode()
		other := *cfg
		other.RedirectURL = "https://app.example.com/other"
		_, err := other.Exchange(ctxWith(s), code, oauth2.VerifierOption(v))
		wantRetrieveError(t, err, "invalid_grant", 500112)
	})
	t.Run("other client", func(t *testing.T) {
		code, v := newCode()
		_, err := entraConfig(s, "web2", "pw").Exchange(ctxWith(s), code, oauth2.VerifierOption(v))
		wantRetrieveError(t, err, "invalid_grant", 70000)
	})
	t.Run("expired code", func(t *testing.T) {
		code, v := newCode()
		s.Advance(11 * time.Minute)
		_, err := cfg.Exchange(ctxWith(s), code, oauth2.VerifierOption(v))
		wantRetrieveError(t, err, "invalid_grant", 70008)
	})
	t.Run("garbage code", func(t *testing.T) {
		_, err := cfg.Exchange(ctxWith(s), "garbage")
		wantRetrieveError(t, err, "invalid_grant", 9002313)
	})
	t.Run("wrong secret", func(t *testing.T) {
		code, v := newCode()
		_, err := entraConfig(s, "web", "nope").Exchange(ctxWith(s), code, oauth2.VerifierOption(v))
		wantRetrieveError(t, err, "invalid_client", 7000215)
	})
}

func TestAuthorizeRedirectErrors(t *testing.T) {
	s := newServer(t)
	s.AddApp(App{ClientID: "web", Secret: "pw", RedirectURIs: []string{testRedirect}})
	cfg := entraConfig(s, "web", "pw")
	v := oauth2.GenerateVerifier()

	t.Run("not signed in", func(t *testing.T) {
		q := authorizeRedirect(t, s, cfg.AuthCodeURL("s1", oauth2.S256ChallengeOption(v)))
		if q.Get("error") != "login_required" || !strings.HasPrefix(q.Get("error_description"), "AADSTS50058: ") || q.Get("state") != "s1" {
			t.Fatalf("query = %v", q)
		}
	})
	s.SignIn("alice@example.com")
	t.Run("consent denied", func(t *testing.T) {
		s.DenyConsent("consent_required", "AADSTS65001: The user or administrator has not consented to use the application.")
		q := authorizeRedirect(t, s, cfg.AuthCodeURL("s2", oauth2.S256ChallengeOption(v)))
		if q.Get("error") != "consent_required" || q.Get("error_description") != "AADSTS65001: The user or administrator has not consented to use the application." ||
			q.Get("state") != "s2" || q.Get("code") != "" {
			t.Fatalf("query = %v", q)
		}
		// Only the next authorization is denied.
		if q := authorizeRedirect(t, s, cfg.AuthCodeURL("s3", oauth2.S256ChallengeOption(v))); q.Get("code") == "" {
			t.Fatalf("after denial: %v", q)
		}
	})
	t.Run("plain PKCE method", func(t *testing.T) {
		q := authorizeRedirect(t, s, cfg.AuthCodeURL("s4", oauth2.SetAuthURLParam("code_challenge", v[:43]),
			oauth2.SetAuthURLParam("code_challenge_method", "plain")))
		if q.Get("error") != "invalid_request" || q.Get("code") != "" {
			t.Fatalf("query = %v", q)
		}
	})
	t.Run("response_type token", func(t *testing.T) {
		u := strings.Replace(cfg.AuthCodeURL("s5"), "response_type=code", "response_type=token", 1)
		if q := authorizeRedirect(t, s, u); q.Get("error") != "unsupported_response_type" {
			t.Fatalf("query = %v", q)
		}
	})
	t.Run("scopes of two resources", func(t *testing.T) {
		bad := *cfg
		bad.Scopes = []string{"https://outlook.office.com/SMTP.Send", "https://graph.microsoft.com/Mail.Send"}
		if q := authorizeRedirect(t, s, bad.AuthCodeURL("s6")); q.Get("error") != "invalid_scope" ||
			!strings.HasPrefix(q.Get("error_description"), "AADSTS700022: ") {
			t.Fatalf("query = %v", q)
		}
	})
}

func TestAuthorizeErrorPagesDoNotRedirect(t *testing.T) {
	s := newServer(t)
	s.AddApp(App{ClientID: "web", RedirectURIs: []string{testRedirect}})
	s.SignIn("alice@example.com")
	base := s.URL() + "/" + DefaultTenant + "/oauth2/v2.0/authorize?response_type=code&scope=openid&"
	cases := map[string]struct {
		url  string
		code string
	}{
		"unregistered redirect": {base + "client_id=web&redirect_uri=" + url.QueryEscape("https://evil.example.com/cb"), "AADSTS50011"},
		"unknown client":        {base + "client_id=nobody&redirect_uri=" + url.QueryEscape(testRedirect), "AADSTS700016"},
		"missing client":        {base + "redirect_uri=" + url.QueryEscape(testRedirect), "AADSTS900144"},
		"unknown tenant":        {s.URL() + "/nope/oauth2/v2.0/authorize?client_id=web", "AADSTS90002"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			resp, err := noRedirect(s).Get(c.url)
			if err != nil {
				t.Fatal(err)
			}
			r := readReply(t, resp)
			if r.status != http.StatusBadRequest || r.header.Get("Location") != "" || !strings.Contains(r.raw, c.code+":") {
				t.Fatalf("got %d Location=%q body %.300s", r.status, r.header.Get("Location"), r.raw)
			}
		})
	}
}

func TestLoopbackRedirectAnyPortAndPublicClient(t *testing.T) {
	s := newServer(t)
	s.AddApp(App{ClientID: "desk", Public: true, RedirectURIs: []string{"http://127.0.0.1"}})
	s.SignIn("alice@example.com")
	cfg := entraConfig(s, "desk", "")
	cfg.RedirectURL = "http://127.0.0.1:49152/"
	v := oauth2.GenerateVerifier()
	q := authorizeRedirect(t, s, cfg.AuthCodeURL("x", oauth2.S256ChallengeOption(v)))
	if q.Get("code") == "" {
		t.Fatalf("loopback with a port refused: %v", q)
	}
	tok, err := cfg.Exchange(ctxWith(s), q.Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	_ = jwt.Decode(tok.AccessToken, nil, &c)
	if c["appidacr"] != "0" {
		t.Errorf("public client appidacr = %v", c["appidacr"])
	}
	// A public client sending a secret is refused.
	q = authorizeRedirect(t, s, cfg.AuthCodeURL("x", oauth2.S256ChallengeOption(v)))
	withSecret := *cfg
	withSecret.ClientSecret = "oops"
	_, err = withSecret.Exchange(ctxWith(s), q.Get("code"), oauth2.VerifierOption(v))
	wantRetrieveError(t, err, "invalid_client", 700025)
	// Another host is not the loopback.
	if redirectAllowed([]string{"http://127.0.0.1"}, "http://127.0.0.2:8080/") || redirectAllowed([]string{"http://127.0.0.1/cb"}, "http://127.0.0.1:9/other") {
		t.Error("loopback rule too wide")
	}
}

func TestIDTokenWithOpenID(t *testing.T) {
	s := newServer(t)
	s.AddApp(App{ClientID: "web", Secret: "pw", RedirectURIs: []string{testRedirect}})
	s.SignIn("alice@example.com")
	cfg := entraConfig(s, "web", "pw")
	cfg.Scopes = append(cfg.Scopes, "openid")
	q := authorizeRedirect(t, s, cfg.AuthCodeURL("x", oauth2.SetAuthURLParam("nonce", "n-1")))
	tok, err := cfg.Exchange(ctxWith(s), q.Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	idt, _ := tok.Extra("id_token").(string)
	var c map[string]any
	if _, err := jwt.Verify(idt, &s.key.PublicKey, &c); err != nil {
		t.Fatal(err)
	}
	if c["aud"] != "web" || c["nonce"] != "n-1" || c["preferred_username"] != "alice@example.com" {
		t.Errorf("id_token claims = %v", c)
	}
}

func TestAdminConsent(t *testing.T) {
	s := newServer(t)
	s.AddApp(App{ClientID: "isv", Secret: "pw", RedirectURIs: []string{testRedirect}})
	u := s.URL() + "/organizations/v2.0/adminconsent?client_id=isv&state=z&scope=" +
		url.QueryEscape("https://outlook.office365.com/.default") + "&redirect_uri=" + url.QueryEscape(testRedirect)
	q := authorizeRedirect(t, s, u)
	if q.Get("admin_consent") != "True" || q.Get("tenant") != DefaultTenant || q.Get("state") != "z" {
		t.Fatalf("query = %v", q)
	}
	s.DenyConsent("access_denied", "AADSTS65004: User declined to consent to access the app.")
	q = authorizeRedirect(t, s, u)
	if q.Get("error") != "access_denied" || q.Get("admin_consent") != "" {
		t.Fatalf("query = %v", q)
	}
}
