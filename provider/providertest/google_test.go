package providertest

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	oauthjwt "golang.org/x/oauth2/jwt"

	"github.com/mailoauth/mailoauth/internal/jwt"
)

const googleMail = "https://mail.google.com/"

func googleConfig(s *Server) *oauth2.Config {
	return &oauth2.Config{ClientID: "g-app.apps.googleusercontent.com", ClientSecret: "g-secret",
		RedirectURL: "http://127.0.0.1:8123/",
		Endpoint: oauth2.Endpoint{AuthURL: s.URL() + "/o/oauth2/v2/auth", TokenURL: s.URL() + "/token",
			AuthStyle: oauth2.AuthStyleInParams},
		Scopes: []string{googleMail}}
}

func googleServer(t *testing.T) *Server {
	t.Helper()
	s := newServer(t)
	s.AddApp(App{ClientID: "g-app.apps.googleusercontent.com", Secret: "g-secret", RedirectURIs: []string{"http://127.0.0.1"}})
	s.SignIn("alice@example.com")
	return s
}

func TestGoogleAuthorizationCodeOfflineAndConsent(t *testing.T) {
	s := googleServer(t)
	cfg := googleConfig(s)
	exchange := func(opts ...oauth2.AuthCodeOption) *oauth2.Token {
		t.Helper()
		v := oauth2.GenerateVerifier()
		q := authorizeRedirect(t, s, cfg.AuthCodeURL("st", append(opts, oauth2.S256ChallengeOption(v))...))
		if q.Get("state") != "st" || q.Get("scope") != googleMail {
			t.Fatalf("redirect query %v", q)
		}
		tok, err := cfg.Exchange(ctxWith(s), q.Get("code"), oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	first := exchange(oauth2.AccessTypeOffline)
	if !strings.HasPrefix(first.RefreshToken, "1//") {
		t.Fatalf("first offline consent: refresh token %q", first.RefreshToken)
	}
	if first.Extra("ext_expires_in") != nil || first.Extra("scope") != googleMail {
		t.Errorf("not Google's response shape: %v %v", first.Extra("ext_expires_in"), first.Extra("scope"))
	}
	if u, err := s.Verify(first.AccessToken); err != nil || u != "alice@example.com" {
		t.Fatalf("Verify = %q, %v", u, err)
	}
	if again := exchange(oauth2.AccessTypeOffline); again.RefreshToken != "" {
		t.Error("second consent without prompt=consent returned a refresh token")
	}
	if forced := exchange(oauth2.AccessTypeOffline, oauth2.SetAuthURLParam("prompt", "consent")); forced.RefreshToken == "" {
		t.Error("prompt=consent returned no refresh token")
	}
	if online := exchange(); online.RefreshToken != "" {
		t.Error("online access returned a refresh token")
	}

	// Google does not rotate: a refresh answers with an access token only.
	r := post(t, s, s.URL()+"/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {cfg.ClientID},
		"client_secret": {"g-secret"}, "refresh_token": {first.RefreshToken}})
	if r.status != 200 || r.str("refresh_token") != "" || r.str("access_token") == "" {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	s.RevokeGrant(first.RefreshToken)
	r = post(t, s, s.URL()+"/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {cfg.ClientID},
		"client_secret": {"g-secret"}, "refresh_token": {first.RefreshToken}})
	wantGoogleError(t, r, 400, "invalid_grant", "Token has been expired or revoked.")
}

func TestGoogleTokenErrors(t *testing.T) {
	s := googleServer(t)
	base := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"1//garbage"}}
	with := func(kv ...string) url.Values {
		f := url.Values{}
		for k, v := range base {
			f[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	wantGoogleError(t, post(t, s, s.URL()+"/token", with("client_id", "nobody")), 401, "invalid_client", "The OAuth client was not found.")
	wantGoogleError(t, post(t, s, s.URL()+"/token", with("client_id", "g-app.apps.googleusercontent.com", "client_secret", "bad")), 401, "invalid_client", "Unauthorized")
	wantGoogleError(t, post(t, s, s.URL()+"/token", with("client_id", "g-app.apps.googleusercontent.com", "client_secret", "g-secret")), 400, "invalid_grant", "Bad Request")
	wantGoogleError(t, post(t, s, s.URL()+"/token", with("grant_type", "client_credentials", "client_id", "g-app.apps.googleusercontent.com")), 400, "unsupported_grant_type", "Invalid grant_type: client_credentials")
}

func TestGoogleAuthorizeRedirectMismatchPage(t *testing.T) {
	s := googleServer(t)
	cfg := googleConfig(s)
	cfg.RedirectURL = "https://evil.example.com/"
	resp, err := noRedirect(s).Get(cfg.AuthCodeURL("x"))
	if err != nil {
		t.Fatal(err)
	}
	r := readReply(t, resp)
	if r.status != 400 || r.header.Get("Location") != "" || !strings.Contains(r.raw, "redirect_uri_mismatch") {
		t.Fatalf("got %d %.200s", r.status, r.raw)
	}
	s.DenyConsent("access_denied", "The user denied access.")
	q := authorizeRedirect(t, s, googleConfig(s).AuthCodeURL("y"))
	if q.Get("error") != "access_denied" || q.Get("state") != "y" {
		t.Fatalf("denied: %v", q)
	}
}

func TestGoogleDeviceFlow(t *testing.T) {
	s := googleServer(t)
	r := post(t, s, s.URL()+"/device/code", url.Values{"client_id": {"g-app.apps.googleusercontent.com"}, "scope": {googleMail}})
	wantGoogleError(t, r, 400, "invalid_scope", "")
	if !strings.Contains(r.str("error_description"), googleMail) {
		t.Errorf("description %q does not name the refused scope", r.str("error_description"))
	}
	d := post(t, s, s.URL()+"/device/code", url.Values{"client_id": {"g-app.apps.googleusercontent.com"}, "scope": {"email openid"}})
	if d.status != 200 || !strings.HasSuffix(d.str("verification_url"), "/device") || d.str("verification_uri") != "" {
		t.Fatalf("device/code: %d %s", d.status, d.raw)
	}
	poll := func() reply {
		return post(t, s, s.URL()+"/token", url.Values{"grant_type": {GrantDeviceCode}, "client_id": {"g-app.apps.googleusercontent.com"},
			"client_secret": {"g-secret"}, "device_code": {d.str("device_code")}})
	}
	wantGoogleError(t, poll(), http.StatusPreconditionRequired, "authorization_pending", "Precondition Required")
	wantGoogleError(t, poll(), http.StatusForbidden, "slow_down", "Forbidden")
	s.Advance(5 * time.Second)
	if err := s.DeclineDevice(d.str("user_code")); err != nil {
		t.Fatal(err)
	}
	wantGoogleError(t, poll(), http.StatusForbidden, "access_denied", "Forbidden")
}

func TestGoogleServiceAccountThroughOAuth2JWT(t *testing.T) {
	key, _, other := appKey(t)
	s := newServer(t)
	s.AddApp(App{ServiceAccountEmail: "robot@proj.iam.gserviceaccount.com", ServiceAccountKey: &key.PublicKey,
		DelegatedScopes: []string{googleMail}, Mailboxes: []string{"helpdesk@example.com"}})
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	cfg := &oauthjwt.Config{Email: "robot@proj.iam.gserviceaccount.com", PrivateKey: pemKey,
		Scopes: []string{googleMail}, TokenURL: s.URL() + "/token", Subject: "helpdesk@example.com"}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, s.Client())
	tok, err := cfg.TokenSource(ctx).Token()
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := jwt.Decode(tok.AccessToken, nil, &c); err != nil {
		t.Fatal(err)
	}
	if c["email"] != "helpdesk@example.com" || c["scope"] != googleMail {
		t.Errorf("claims = %v", c)
	}
	if err := s.VerifySASL("helpdesk@example.com", tok.AccessToken); err != nil {
		t.Errorf("VerifySASL: %v", err)
	}
	if s.Requests("jwt-bearer") != 1 {
		t.Errorf("Requests(jwt-bearer) = %d", s.Requests("jwt-bearer"))
	}

	fail := func(c *oauthjwt.Config, errName, desc string) {
		t.Helper()
		_, err := c.TokenSource(ctx).Token()
		// x/oauth2/jwt leaves ErrorCode empty: read the body.
		re, ok := err.(*oauth2.RetrieveError)
		if !ok {
			t.Fatalf("err = %v, want *oauth2.RetrieveError", err)
		}
		var body map[string]string
		if err := json.Unmarshal(re.Body, &body); err != nil || body["error"] != errName || (desc != "" && body["error_description"] != desc) {
			t.Fatalf("body %s, want %s %q", re.Body, errName, desc)
		}
	}
	notDelegated := *cfg
	notDelegated.Scopes = []string{"https://www.googleapis.com/auth/gmail.imap_admin"}
	fail(&notDelegated, "unauthorized_client", "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.")
	wrongKey := *cfg
	wrongKey.PrivateKey = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other)})
	fail(&wrongKey, "invalid_grant", "Invalid JWT Signature.")
	otherUser := *cfg
	otherUser.Subject = "ceo@example.com"
	fail(&otherUser, "invalid_grant", "Invalid email or User ID")
	wrongAud := *cfg
	wrongAud.Audience = "https://oauth2.googleapis.com/token"
	fail(&wrongAud, "invalid_grant", "Invalid JWT: Failed audience check.")
	unknown := *cfg
	unknown.Email = "ghost@proj.iam.gserviceaccount.com"
	fail(&unknown, "invalid_grant", "")
	s.Advance(-2 * time.Hour) // the assertion's iat is now far in the server's future
	fail(cfg, "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
}
