package google

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/internal/jwt"
	"github.com/mailoauth/mailoauth/internal/testclock"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/authorize"
	"github.com/mailoauth/mailoauth/provider/oauth"
	"github.com/mailoauth/mailoauth/tokenstore"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

func rsaKey(t testing.TB) *rsa.PrivateKey {
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKey = k
	})
	return testKey
}

// keyFile returns a service-account key file like the one Google Cloud
// console downloads.
func keyFile(t testing.TB, key any, tokenURI string) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "p",
		"private_key_id": "kid-123",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "mailer@p.iam.gserviceaccount.com",
		"client_id":      "1234567890",
		"token_uri":      tokenURI,
	})
	return b
}

func TestParseServiceAccountKey(t *testing.T) {
	k, err := ParseServiceAccountKey(keyFile(t, rsaKey(t), "https://oauth2.googleapis.com/token"))
	if err != nil {
		t.Fatal(err)
	}
	if k.ClientEmail != "mailer@p.iam.gserviceaccount.com" || k.PrivateKeyID != "kid-123" || k.ClientID != "1234567890" || k.TokenURI != TokenURL {
		t.Errorf("key %v", k)
	}
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%#v", k), fmt.Sprintf("%+v", k)} {
		if strings.Contains(s, "PRIVATE") || strings.Contains(s, fmt.Sprint(rsaKey(t).D)) {
			t.Errorf("printed key material: %s", s)
		}
	}
	// PKCS#1 and a missing token_uri are accepted too.
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey(t))})
	b, _ := json.Marshal(map[string]string{"client_email": "a@b", "private_key": string(pkcs1)})
	if k, err := ParseServiceAccountKey(b); err != nil || k.TokenURI != TokenURL {
		t.Errorf("PKCS#1: %v %v", k, err)
	}
}

func TestParseServiceAccountKeyRefusesBadInput(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good := keyFile(t, rsaKey(t), TokenURL)
	var m map[string]string
	_ = json.Unmarshal(good, &m)
	with := func(k, v string) []byte {
		c := map[string]string{}
		for a, b := range m {
			c[a] = b
		}
		c[k] = v
		b, _ := json.Marshal(c)
		return b
	}
	for name, tc := range map[string]struct {
		in   []byte
		want string
	}{
		"not json":     {[]byte("-----BEGIN PRIVATE KEY-----"), "is not JSON"},
		"client file":  {[]byte(`{"installed":{"client_id":"x"}}`), "OAuth client file"},
		"wrong type":   {with("type", "authorized_user"), "authorized_user"},
		"no email":     {with("client_email", ""), "client_email"},
		"no key":       {with("private_key", ""), "no private_key"},
		"not pem":      {with("private_key", "abc"), "not PEM"},
		"garbage der":  {with("private_key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("xx")}))), "does not parse"},
		"ec key":       {keyFile(t, ec, TokenURL), "RSA"},
		"http token":   {with("token_uri", "http://evil.example/token"), "not an https URL"},
		"certificate":  {with("private_key", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("x")}))), "CERTIFICATE"},
		"empty object": {[]byte(`{}`), "client_email"},
	} {
		_, err := ParseServiceAccountKey(tc.in)
		var ce *provider.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ConfigError containing %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "MII") {
			t.Errorf("%s: error quotes key material", name)
		}
	}
}

// assertionClaims are the claims of a service account's assertion
// (https://developers.google.com/identity/protocols/oauth2/service-account).
type assertionClaims struct {
	Iss   string `json:"iss"`
	Scope string `json:"scope"`
	Aud   string `json:"aud"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
	Sub   string `json:"sub"`
}

// fakeGoogle is a token endpoint that verifies service-account assertions
// and redeems refresh tokens, rotating them when rotate is set.
type fakeGoogle struct {
	*httptest.Server
	t         *testing.T
	mu        sync.Mutex
	header    map[string]any
	claims    assertionClaims
	forms     []url.Values
	refreshRT string // the refresh token currently valid
	rotate    bool
	n         int
	fail      string // non-empty: answer 400 with this error
}

func newFakeGoogle(t *testing.T) *fakeGoogle {
	f := &fakeGoogle{t: t, refreshRT: "RT-0"}
	f.Server = httptest.NewServer(http.HandlerFunc(f.token))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeGoogle) token(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forms = append(f.forms, r.PostForm)
	w.Header().Set("Content-Type", "application/json")
	answer := func(status int, v any) {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	if r.URL.Path != "/token" {
		answer(404, map[string]string{"error": "not_found"})
		return
	}
	if f.fail != "" {
		answer(400, map[string]string{"error": f.fail, "error_description": "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."})
		return
	}
	f.n++
	switch r.PostForm.Get("grant_type") {
	case oauth.GrantJWTBearer:
		var c assertionClaims
		h, err := jwt.Verify(r.PostForm.Get("assertion"), &rsaKey(f.t).PublicKey, &c)
		if err != nil {
			answer(400, map[string]string{"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
			return
		}
		f.header, f.claims = h, c
		answer(200, map[string]any{"access_token": fmt.Sprintf("ya29.sa-%d", f.n), "token_type": "Bearer", "expires_in": 3599})
	case oauth.GrantRefreshToken:
		if r.PostForm.Get("refresh_token") != f.refreshRT || r.PostForm.Get("client_id") != "cid.apps.googleusercontent.com" || r.PostForm.Get("client_secret") != "GOCSPX-secret" {
			answer(400, map[string]string{"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
			return
		}
		out := map[string]any{"access_token": fmt.Sprintf("ya29.user-%d", f.n), "token_type": "Bearer", "expires_in": 3599, "scope": ScopeMail}
		if f.rotate {
			f.refreshRT = fmt.Sprintf("RT-%d", f.n)
			out["refresh_token"] = f.refreshRT
		}
		answer(200, out)
	default:
		answer(400, map[string]string{"error": "unsupported_grant_type"})
	}
}

func (f *fakeGoogle) get(fn func(f *fakeGoogle)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func TestServiceAccountSignsDelegationAssertion(t *testing.T) {
	g := newFakeGoogle(t)
	before := time.Now()
	mb, err := ServiceAccount(context.Background(), Config{ServiceAccountKey: keyFile(t, rsaKey(t), TokenURL), Mailbox: "helpdesk@example.com", BaseURL: g.URL, HTTPClient: g.Client(), Clock: testclock.At(testNow), Scopes: []string{ScopeMail, ScopeIMAPAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	g.get(func(g *fakeGoogle) {
		c := g.claims
		if c.Iss != "mailer@p.iam.gserviceaccount.com" || c.Sub != "helpdesk@example.com" || c.Aud != g.URL+"/token" ||
			c.Scope != ScopeMail+" "+ScopeIMAPAdmin || c.Exp-c.Iat != 3600 {
			t.Errorf("claims %+v", c)
		}
		// x/oauth2/jwt stamps the assertion on the wall clock, 10 s early
		// against clock skew; Google refuses more than an hour.
		if iat := time.Unix(c.Iat, 0); iat.Before(before.Add(-11*time.Second)) || iat.After(after) {
			t.Errorf("iat %v, want about %v", iat, before.Add(-10*time.Second))
		}
		if g.header["alg"] != "RS256" || g.header["kid"] != "kid-123" || g.header["typ"] != "JWT" {
			t.Errorf("header %v", g.header)
		}
		if f := g.forms[0]; f.Has("client_id") || f.Has("client_secret") {
			t.Errorf("form carries client credentials: %v", f)
		}
	})
	if mb.Address != "helpdesk@example.com" || mb.SASLMechanism() != "XOAUTH2" ||
		mb.SMTP != (provider.Server{Host: "smtp.gmail.com", Port: 587, Security: provider.StartTLS}) ||
		mb.IMAP != (provider.Server{Host: "imap.gmail.com", Port: 993, Security: provider.ImplicitTLS}) ||
		mb.Limits.MaxRecipients != 100 || mb.Limits.MaxConns == 0 || mb.Limits.MessagesPerMinute == 0 {
		t.Errorf("mailbox %+v", mb)
	}
	tok, err := mb.Tokens.Token(context.Background())
	if err != nil || !strings.HasPrefix(tok.AccessToken, "ya29.sa-") || !tok.Expiry.Equal(testNow.Add(3599*time.Second)) {
		t.Errorf("token %v %v", tok, err)
	}
}

func TestServiceAccountOptions(t *testing.T) {
	g := newFakeGoogle(t)
	mb, err := ServiceAccount(context.Background(), Config{ServiceAccountKey: keyFile(t, rsaKey(t), TokenURL), Mailbox: "a@example.com", BaseURL: g.URL, HTTPClient: g.Client(), Lazy: true, SMTPImplicitTLS: true, Scopes: []string{"s1"}})
	if err != nil {
		t.Fatal(err)
	}
	if mb.SMTP != (provider.Server{Host: "smtp.gmail.com", Port: 465, Security: provider.ImplicitTLS}) {
		t.Errorf("SMTP %+v", mb.SMTP)
	}
	g.get(func(g *fakeGoogle) {
		if g.n != 0 {
			t.Error("WithLazy fetched a token")
		}
	})
	if _, err := mb.Tokens.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	g.get(func(g *fakeGoogle) {
		if g.claims.Scope != "s1" {
			t.Errorf("scope %q", g.claims.Scope)
		}
	})
	if _, err := ServiceAccount(context.Background(), Config{ServiceAccountKey: keyFile(t, rsaKey(t), TokenURL), Mailbox: "not-an-address"}); err == nil {
		t.Error("mailbox without @ accepted")
	}
}

func TestServiceAccountUnauthorizedClient(t *testing.T) {
	g := newFakeGoogle(t)
	g.get(func(g *fakeGoogle) { g.fail = "unauthorized_client" })
	_, err := ServiceAccount(context.Background(), Config{ServiceAccountKey: keyFile(t, rsaKey(t), TokenURL), Mailbox: "helpdesk@example.com", BaseURL: g.URL, HTTPClient: g.Client()})
	var te *oauth.TokenError
	if !errors.As(err, &te) || te.Code() != "unauthorized_client" {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "helpdesk@example.com") || !strings.Contains(err.Error(), "mailer@p.iam.gserviceaccount.com") {
		t.Errorf("error does not name the mailbox and the service account: %v", err)
	}
	if strings.Contains(err.Error(), "eyJ") {
		t.Error("error carries the assertion")
	}
}

func clientFile(kind string) []byte {
	return []byte(`{"` + kind + `":{"client_id":"cid.apps.googleusercontent.com","project_id":"p","auth_uri":"https://accounts.google.com/o/oauth2/auth","token_uri":"https://oauth2.googleapis.com/token","client_secret":"GOCSPX-secret","redirect_uris":["http://localhost"]}}`)
}

func TestConfigFromClientFile(t *testing.T) {
	for _, kind := range []string{"installed", "web"} {
		c, err := Config{ClientJSON: clientFile(kind), Mailbox: " Bob@Example.com "}.validate()
		if err != nil {
			t.Fatal(err)
		}
		if c.ClientID != "cid.apps.googleusercontent.com" || c.ClientSecret != "GOCSPX-secret" || c.Mailbox != "Bob@Example.com" {
			t.Errorf("%s: %v", kind, c)
		}
		if c.Key() != "google:cid.apps.googleusercontent.com:bob@example.com" {
			t.Errorf("key %q", c.Key())
		}
	}
	c := Config{ClientJSON: clientFile("installed"), ClientSecret: "GOCSPX-secret"}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%#v", c), fmt.Sprintf("%+v", c)} {
		if strings.Contains(s, "GOCSPX") {
			t.Errorf("printed secret: %s", s)
		}
	}
	for name, bad := range map[string]Config{
		"no client":    {Mailbox: "a@b"},
		"sa key file":  {ClientJSON: []byte(`{"type":"service_account"}`), Mailbox: "a@b"},
		"not json":     {ClientJSON: []byte(`x`), Mailbox: "a@b"},
		"no mailbox":   {ClientID: "c"},
		"bad mailbox":  {ClientID: "c", Mailbox: "bob"},
		"empty client": {ClientJSON: []byte(`{"installed":{}}`), Mailbox: "a@b"},
	} {
		var ce *provider.ConfigError
		if _, err := bad.validate(); !errors.As(err, &ce) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestDelegatedRefreshesAndSavesRotation(t *testing.T) {
	g := newFakeGoogle(t)
	g.get(func(g *fakeGoogle) { g.rotate = true })
	store := tokenstore.NewMemory()
	cfg := Config{ClientJSON: clientFile("installed"), Mailbox: "bob@example.com", BaseURL: g.URL, HTTPClient: g.Client(), Clock: testclock.At(testNow)}
	// The grant as an authorization flow leaves it: an expired access token.
	if _, err := authorize.SaveGrant(context.Background(), store, cfg.Key(), "bob@example.com", []string{ScopeMail},
		&oauth2.Token{AccessToken: "old", RefreshToken: "RT-0", Expiry: testNow.Add(-time.Minute)}, testNow); err != nil {
		t.Fatal(err)
	}
	mb, err := Delegated(context.Background(), cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := mb.Tokens.Token(context.Background())
	if err != nil || tok.AccessToken != "ya29.user-1" {
		t.Fatalf("token %v %v", tok, err)
	}
	rec, err := store.Load(context.Background(), cfg.Key())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Token.RefreshToken != "RT-1" || rec.Token.AccessToken != "ya29.user-1" {
		t.Errorf("stored %+v", rec.Token)
	}
	if mb.Address != "bob@example.com" || mb.IMAP.Host != "imap.gmail.com" || mb.Limits.MaxRecipients != 100 {
		t.Errorf("mailbox %+v", mb)
	}
}

func TestDelegatedWithoutGrant(t *testing.T) {
	cfg := Config{ClientID: "cid.apps.googleusercontent.com", Mailbox: "bob@example.com", BaseURL: "http://127.0.0.1:1"}
	_, err := Delegated(context.Background(), cfg, tokenstore.NewMemory())
	if !errors.Is(err, tokenstore.ErrNotFound) || !strings.Contains(err.Error(), "authorize the mailbox first") {
		t.Errorf("err = %v", err)
	}
	if _, err := Delegated(context.Background(), cfg, nil); err == nil {
		t.Error("nil store accepted")
	}
}

func TestNewAuthCodeFlowAsksForOfflineAccess(t *testing.T) {
	cfg := Config{ClientJSON: clientFile("web"), Mailbox: "bob@example.com", BaseURL: "https://idp.test/"}
	f, err := NewAuthCodeFlow(cfg, tokenstore.NewMemory(), "https://app.example.com/oauth/callback")
	if err != nil {
		t.Fatal(err)
	}
	if f.AuthURL != "https://idp.test/o/oauth2/v2/auth" || f.Client.TokenURL != "https://idp.test/token" ||
		f.Params.Get("access_type") != "offline" || f.Params.Get("prompt") != "consent" ||
		f.Key != cfg.Key() || f.Account != "bob@example.com" || len(f.Scopes) != 1 || f.Scopes[0] != ScopeMail || f.Client.Auth == nil {
		t.Errorf("flow %+v", f)
	}
	if _, err := NewAuthCodeFlow(cfg, tokenstore.NewMemory(), "/relative"); err == nil {
		t.Error("relative redirect URL accepted")
	}
	d := Config{ClientID: "cid", Mailbox: "bob@example.com"}
	lf, err := NewLoopbackFlow(d, tokenstore.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	if lf.AuthURL != AuthURL || lf.Client.TokenURL != TokenURL || lf.Client.Auth != nil || lf.Params.Get("access_type") != "offline" {
		t.Errorf("loopback flow %+v", lf)
	}
}
