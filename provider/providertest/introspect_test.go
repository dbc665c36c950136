package providertest

import (
	"crypto/rsa"
	"encoding/base64"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/internal/jwt"
)

func introspect(t *testing.T, s *Server, base, token string) reply {
	t.Helper()
	return post(t, s, base+"/introspect", url.Values{"token": {token}, "client_id": {"dovecot"}, "client_secret": {"x"}})
}

func TestIntrospectionActiveAndInactive(t *testing.T) {
	s := newServer(t)
	s.AddApp(App{ClientID: "one", Secret: "pw", Roles: []string{"IMAP.AccessAsApp"}, Mailboxes: []string{"helpdesk@example.com"}})
	s.AddApp(App{ClientID: "many", Secret: "pw", Roles: []string{"IMAP.AccessAsApp"}, Mailboxes: []string{"a@example.com", "b@example.com"}})
	delegated := s.IssueToken(TokenSpec{UPN: "alice@example.com", Scopes: []string{"IMAP.AccessAsUser.All"}, ExpiresIn: 10 * time.Minute})

	r := introspect(t, s, s.URL(), delegated)
	if r.status != 200 || r.json["active"] != true || r.str("email") != "alice@example.com" ||
		r.str("scope") != "IMAP.AccessAsUser.All" || r.json["exp"] == nil {
		t.Fatalf("delegated: %d %s", r.status, r.raw)
	}

	one := s.IssueToken(TokenSpec{AppID: "one", Roles: []string{"IMAP.AccessAsApp"}})
	if r := introspect(t, s, s.URL(), one); r.json["active"] != true || r.str("email") != "helpdesk@example.com" {
		t.Fatalf("app with one mailbox: %s", r.raw)
	}
	many := s.IssueToken(TokenSpec{AppID: "many", Roles: []string{"IMAP.AccessAsApp"}})
	if r := introspect(t, s, s.URL(), many); r.json["active"] != true || r.json["email"] != nil {
		t.Fatalf("app with several mailboxes: %s", r.raw)
	}

	revoked := s.IssueToken(TokenSpec{UPN: "alice@example.com"})
	s.RevokeToken(revoked)
	inactive := map[string]string{
		"garbage":        "garbage",
		"revoked":        revoked,
		"other server":   newServer(t).IssueToken(TokenSpec{UPN: "alice@example.com"}),
		"graph audience": s.IssueToken(TokenSpec{UPN: "alice@example.com", Audience: graphResource}),
	}
	for name, tok := range inactive {
		if r := introspect(t, s, s.URL(), tok); r.status != 200 || r.raw != `{"active":false}` {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	s.Advance(11 * time.Minute)
	if r := introspect(t, s, s.URL(), delegated); r.raw != `{"active":false}` {
		t.Errorf("expired by the server clock: %s", r.raw)
	}
	if s.Hits("introspect") != 8 {
		t.Errorf("Hits(introspect) = %d, want 8", s.Hits("introspect"))
	}
}

func TestIntrospectionModesAndPlainHTTP(t *testing.T) {
	s := newServer(t)
	tok := s.IssueToken(TokenSpec{UPN: "alice@example.com"})
	plain := s.PlainURL()
	if r := introspect(t, s, plain, tok); r.json["active"] != true {
		t.Fatalf("over plain HTTP: %s", r.raw)
	}
	resp, err := s.Client().Get(s.URL() + "/introspect?token=" + url.QueryEscape(tok))
	if err != nil {
		t.Fatal(err)
	}
	if r := readReply(t, resp); r.json["active"] != true {
		t.Fatalf("GET mode: %s", r.raw)
	}
	req, _ := http.NewRequest(http.MethodGet, s.URL()+"/introspect", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err = s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if r := readReply(t, resp); r.json["active"] != true {
		t.Fatalf("bearer header mode: %s", r.raw)
	}
	if r := post(t, s, s.URL()+"/introspect", url.Values{}); r.status != 400 {
		t.Fatalf("no token: %d", r.status)
	}
}

func TestFailIntrospection(t *testing.T) {
	s := newServer(t)
	tok := s.IssueToken(TokenSpec{UPN: "alice@example.com"})
	s.FailIntrospection(2, http.StatusServiceUnavailable)
	for i := 0; i < 2; i++ {
		if r := introspect(t, s, s.URL(), tok); r.status != 503 {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	if r := introspect(t, s, s.URL(), tok); r.status != 200 || r.json["active"] != true {
		t.Fatalf("after failures: %d %s", r.status, r.raw)
	}
}

func TestDiscoveryAndKeys(t *testing.T) {
	s := newServer(t)
	resp, err := s.Client().Get(s.URL() + "/" + DefaultTenant + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	cfg := readReply(t, resp)
	if cfg.str("token_endpoint") != entraToken(s) || cfg.str("introspection_endpoint") != s.URL()+"/introspect" {
		t.Fatalf("configuration: %s", cfg.raw)
	}
	resp, err = s.Client().Get(cfg.str("jwks_uri"))
	if err != nil {
		t.Fatal(err)
	}
	keys := readReply(t, resp)
	k := keys.json["keys"].([]any)[0].(map[string]any)
	n, _ := base64.RawURLEncoding.DecodeString(k["n"].(string))
	e, _ := base64.RawURLEncoding.DecodeString(k["e"].(string))
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	tok := s.IssueToken(TokenSpec{UPN: "alice@example.com"})
	hdr, err := jwt.Verify(tok, pub, nil)
	if err != nil || hdr["kid"] != k["kid"] {
		t.Fatalf("token does not verify with the published key: %v %v", err, hdr)
	}
	resp, err = s.Client().Get(s.URL() + "/nope/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	wantEntraError(t, readReply(t, resp), 400, "invalid_request", 90002)
}

func TestGoogleRevokeEndpoint(t *testing.T) {
	s := googleServer(t)
	rt := s.IssueRefreshToken("g-app.apps.googleusercontent.com", "alice@example.com", googleMail)
	if !strings.HasPrefix(rt, "1//") {
		t.Errorf("Google grant token %q", rt)
	}
	at := s.IssueToken(TokenSpec{Email: "alice@example.com"})
	if r := post(t, s, s.URL()+"/revoke", url.Values{"token": {rt}}); r.status != 200 || !s.GrantRevoked(rt) {
		t.Fatalf("revoke refresh token: %d", r.status)
	}
	if r := post(t, s, s.URL()+"/revoke", url.Values{"token": {at}}); r.status != 200 {
		t.Fatalf("revoke access token: %d", r.status)
	}
	if _, err := s.Verify(at); err == nil {
		t.Fatal("revoked access token verifies")
	}
	if r := post(t, s, s.URL()+"/revoke", url.Values{"token": {"nope"}}); r.status != 400 || r.str("error") != "invalid_token" {
		t.Fatalf("unknown token: %d %s", r.status, r.raw)
	}
}
