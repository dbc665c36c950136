package providertest

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/mailoauth/mailoauth/internal/jwt"
)

func TestClientCredentialsWithSecretThroughOAuth2Library(t *testing.T) {
	s := newServer(t)
	s.AddApp(App{ClientID: "app-1", Secret: "s3cret", Roles: []string{"SMTP.SendAsApp", "IMAP.AccessAsApp"},
		Mailboxes: []string{"helpdesk@example.com"}})
	cfg := clientcredentials.Config{ClientID: "app-1", ClientSecret: "s3cret", TokenURL: entraToken(s),
		Scopes: []string{"https://outlook.office365.com/.default"}}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, s.Client())
	tok, err := cfg.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken != "" {
		t.Error("client_credentials returned a refresh token")
	}
	if d := time.Until(tok.Expiry); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("expiry in %v, want 1h", d)
	}
	if tok.Extra("ext_expires_in") == nil || tok.Extra("scope") != "https://outlook.office365.com/.default" {
		t.Errorf("response lacks Entra fields: ext_expires_in=%v scope=%v", tok.Extra("ext_expires_in"), tok.Extra("scope"))
	}
	var c map[string]any
	if err := jwt.Decode(tok.AccessToken, nil, &c); err != nil {
		t.Fatal(err)
	}
	if c["aud"] != "https://outlook.office365.com" || c["tid"] != DefaultTenant || c["appid"] != "app-1" ||
		c["idtyp"] != "app" || c["appidacr"] != "1" {
		t.Errorf("claims = %v", c)
	}
	if roles, _ := c["roles"].([]any); len(roles) != 2 || roles[0] != "SMTP.SendAsApp" {
		t.Errorf("roles = %v", c["roles"])
	}
	if _, ok := c["scp"]; ok {
		t.Error("app-only token has scp")
	}
	user, err := s.Verify(tok.AccessToken)
	if err != nil || user != "helpdesk@example.com" {
		t.Errorf("Verify = %q, %v; want the app's only mailbox", user, err)
	}
	if err := s.VerifySASL("HelpDesk@example.com", tok.AccessToken); err != nil {
		t.Errorf("VerifySASL(own mailbox): %v", err)
	}
	if err := s.VerifySASL("ceo@example.com", tok.AccessToken); !errors.Is(err, ErrNotPermitted) {
		t.Errorf("VerifySASL(other mailbox) = %v, want ErrNotPermitted", err)
	}
	if n := s.Requests("client_credentials"); n != 1 {
		t.Errorf("Requests = %d, want 1", n)
	}
}

func TestClientSecretInBasicAuth(t *testing.T) {
	s := newServer(t)
	s.AddApp(App{ClientID: "app-1", Secret: "a+b/c", Roles: []string{"SMTP.SendAsApp"}})
	cfg := clientcredentials.Config{ClientID: "app-1", ClientSecret: "a+b/c", TokenURL: entraToken(s),
		Scopes: []string{"https://outlook.office365.com/.default"}, AuthStyle: oauth2.AuthStyleInHeader}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, s.Client())
	if _, err := cfg.Token(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyFollowsServerClockAndLifetime(t *testing.T) {
	s := newServer(t)
	s.SetTokenLifetime(10 * time.Minute)
	tok := s.IssueToken(TokenSpec{UPN: "alice@example.com", Scopes: []string{"SMTP.Send"}})
	if u, err := s.Verify(tok); err != nil || u != "alice@example.com" {
		t.Fatalf("Verify = %q, %v", u, err)
	}
	s.Advance(9 * time.Minute)
	if _, err := s.Verify(tok); err != nil {
		t.Fatalf("after 9 min: %v", err)
	}
	s.Advance(2 * time.Minute)
	if _, err := s.Verify(tok); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("after 11 min: %v, want ErrTokenExpired", err)
	}
	if d := time.Until(s.Now()); d < 11*time.Minute-time.Second || d > 11*time.Minute+time.Second {
		t.Errorf("Now is %v ahead, want 11m", d)
	}
}

func TestVerifyRejects(t *testing.T) {
	s := newServer(t)
	other := newServer(t)
	good := s.IssueToken(TokenSpec{UPN: "alice@example.com"})
	parts := strings.Split(good, ".")
	cases := map[string]struct {
		token string
		want  error
	}{
		"garbage":            {"not-a-token", ErrInvalidToken},
		"empty":              {"", ErrInvalidToken},
		"tampered":           {parts[0] + "." + parts[1] + "x." + parts[2], ErrInvalidToken},
		"other server":       {other.IssueToken(TokenSpec{UPN: "alice@example.com"}), ErrInvalidToken},
		"expired":            {s.IssueToken(TokenSpec{UPN: "alice@example.com", ExpiresIn: -time.Second}), ErrTokenExpired},
		"graph audience":     {s.IssueToken(TokenSpec{UPN: "alice@example.com", Audience: "https://graph.microsoft.com"}), ErrWrongAudience},
		"graph app audience": {s.IssueToken(TokenSpec{UPN: "alice@example.com", Audience: graphAppID}), ErrWrongAudience},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := s.Verify(c.token); !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
			if err := s.VerifySASL("alice@example.com", c.token); !errors.Is(err, c.want) {
				t.Fatalf("VerifySASL = %v, want %v", err, c.want)
			}
		})
	}
}

func TestVerifySASLDelegatedAndShared(t *testing.T) {
	s := newServer(t)
	tok := s.IssueToken(TokenSpec{UPN: "alice@example.com", Scopes: []string{"IMAP.AccessAsUser.All"}})
	if err := s.VerifySASL("ALICE@example.com", tok); err != nil {
		t.Fatalf("own mailbox: %v", err)
	}
	if err := s.VerifySASL("shared@example.com", tok); !errors.Is(err, ErrNotPermitted) {
		t.Fatalf("shared before grant: %v", err)
	}
	s.GrantMailbox("shared@example.com", "alice@example.com")
	if err := s.VerifySASL("shared@example.com", tok); err != nil {
		t.Fatalf("shared after grant: %v", err)
	}
	noRoles := s.IssueToken(TokenSpec{AppID: "x"})
	if err := s.VerifySASL("any@example.com", noRoles); !errors.Is(err, ErrNotPermitted) {
		t.Fatalf("app token without roles: %v", err)
	}
	withRoles := s.IssueToken(TokenSpec{AppID: "x", Roles: []string{"IMAP.AccessAsApp"}})
	if err := s.VerifySASL("any@example.com", withRoles); err != nil {
		t.Fatalf("unregistered app with roles: %v", err)
	}
}

func TestIssueTokenClaims(t *testing.T) {
	s := newServer(t)
	tok := s.IssueToken(TokenSpec{Audience: "https://outlook.office.com", Tenant: "t-1", AppID: "app-9",
		UPN: "bob@example.com", Scopes: []string{"SMTP.Send", "IMAP.AccessAsUser.All"}, ExpiresIn: 5 * time.Minute,
		Claims: map[string]any{"xms_cc": []string{"CP1"}}})
	var c map[string]any
	if err := jwt.Decode(tok, nil, &c); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"aud": "https://outlook.office.com", "tid": "t-1", "appid": "app-9", "azp": "app-9",
		"upn": "bob@example.com", "unique_name": "bob@example.com", "scp": "SMTP.Send IMAP.AccessAsUser.All",
		"ver": "1.0", "iss": "https://sts.windows.net/t-1/", "idtyp": "user"}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("%s = %v, want %v", k, c[k], v)
		}
	}
	if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat != 300 {
		t.Errorf("exp - iat = %v, want 300", exp-iat)
	}
	if c["xms_cc"] == nil {
		t.Error("extra claim missing")
	}
	g := s.IssueToken(TokenSpec{Email: "carol@example.com"})
	if u, err := s.Verify(g); err != nil || u != "carol@example.com" {
		t.Errorf("Google-style token: %q, %v", u, err)
	}
}

func TestRevokeToken(t *testing.T) {
	s := newServer(t)
	tok := s.IssueToken(TokenSpec{UPN: "alice@example.com"})
	other := s.IssueToken(TokenSpec{UPN: "alice@example.com"})
	s.RevokeToken(tok)
	s.RevokeToken("garbage")
	if _, err := s.Verify(tok); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("revoked: %v", err)
	}
	if _, err := s.Verify(other); err != nil {
		t.Fatalf("other token affected: %v", err)
	}
}

func TestEntraNaturalClientErrors(t *testing.T) {
	s := newServer(t)
	s.AddApp(App{ClientID: "app-1", Secret: "right", SecretID: "9f0c0d4e-secret-id", Roles: []string{"SMTP.SendAsApp"}})
	s.AddApp(App{ClientID: "app-old", Secret: "old", SecretExpiresAt: s.Now().Add(-time.Hour)})
	s.AddApp(App{ClientID: "app-public", Public: true})
	scope := "https://outlook.office365.com/.default"
	cc := func(extra url.Values) url.Values {
		f := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
		for k, v := range extra {
			f[k] = v
		}
		return f
	}
	cases := []struct {
		name   string
		url    string
		form   url.Values
		status int
		err    string
		code   int
	}{
		{"unknown tenant", s.URL() + "/no-such-tenant/oauth2/v2.0/token", cc(url.Values{"client_id": {"app-1"}, "client_secret": {"right"}}), 400, "invalid_request", 90002},
		{"unknown client", entraToken(s), cc(url.Values{"client_id": {"nobody"}, "client_secret": {"x"}}), 400, "unauthorized_client", 700016},
		{"wrong tenant for app", s.URL() + "/" + DefaultTenant + "x/oauth2/v2.0/token", cc(url.Values{"client_id": {"app-1"}, "client_secret": {"right"}}), 400, "invalid_request", 90002},
		{"wrong secret", entraToken(s), cc(url.Values{"client_id": {"app-1"}, "client_secret": {"wrong"}}), 401, "invalid_client", 7000215},
		{"secret ID as secret", entraToken(s), cc(url.Values{"client_id": {"app-1"}, "client_secret": {"9f0c0d4e-secret-id"}}), 401, "invalid_client", 7000215},
		{"expired secret", entraToken(s), cc(url.Values{"client_id": {"app-old"}, "client_secret": {"old"}}), 401, "invalid_client", 7000222},
		{"no credential", entraToken(s), cc(url.Values{"client_id": {"app-1"}}), 401, "invalid_client", 7000218},
		{"public client with secret", entraToken(s), cc(url.Values{"client_id": {"app-public"}, "client_secret": {"x"}}), 401, "invalid_client", 700025},
		{"scope without .default", entraToken(s), url.Values{"grant_type": {"client_credentials"}, "client_id": {"app-1"}, "client_secret": {"right"}, "scope": {"https://outlook.office365.com/SMTP.SendAsApp"}}, 400, "invalid_scope", 1002012},
		{"missing scope", entraToken(s), url.Values{"grant_type": {"client_credentials"}, "client_id": {"app-1"}, "client_secret": {"right"}}, 400, "invalid_request", 900144},
		{"missing client_id", entraToken(s), cc(nil), 400, "invalid_request", 900144},
		{"missing grant_type", entraToken(s), url.Values{"client_id": {"app-1"}}, 400, "invalid_request", 900144},
		{"unsupported grant", entraToken(s), url.Values{"grant_type": {"password"}, "client_id": {"app-1"}}, 400, "unsupported_grant_type", 70003},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := post(t, s, c.url, c.form)
			wantEntraError(t, r, c.status, c.err, c.code)
		})
	}
	r := post(t, s, entraToken(s), cc(url.Values{"client_id": {"app-1"}, "client_secret": {"wrong"}}))
	if !strings.HasPrefix(r.str("error_description"), "AADSTS7000215: Invalid client secret provided.") ||
		strings.Contains(r.raw, "right") {
		t.Errorf("description %q", r.str("error_description"))
	}
}

func TestCorrelationIDIsEchoed(t *testing.T) {
	s := newServer(t)
	req, _ := newFormRequest(entraToken(s), url.Values{"grant_type": {"client_credentials"}, "client_id": {"nobody"}})
	id := "0b0a37e5-3f29-4fb4-a2a1-5b1e2c3d4f50"
	req.Header.Set("client-request-id", id)
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r := readReply(t, resp)
	if r.str("correlation_id") != id {
		t.Fatalf("correlation_id = %q, want %q", r.str("correlation_id"), id)
	}
}
