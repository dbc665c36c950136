package oidc_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/mailoauth/mailoauth/internal/jwt"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/oidc"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// idp is a small standards server on loopback: metadata at the path
// asked, a token endpoint and a device authorization endpoint that record
// each request and answer with a token (or a device code).
type idp struct {
	*httptest.Server
	t *testing.T

	mu       sync.Mutex
	meta     map[string]any // the metadata document; "issuer" defaults to the server's URL
	metaPath string         // where it is served
	reqs     []recorded
	answer   func(r *http.Request) (int, string) // the token endpoint's answer; nil: a token
}

type recorded struct {
	path   string
	form   url.Values
	header http.Header
}

func newIDP(t *testing.T, metaPath string, meta map[string]any) *idp {
	t.Helper()
	s := &idp{t: t, meta: meta, metaPath: metaPath}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *idp) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodGet {
		if r.URL.Path != s.metaPath {
			http.NotFound(w, r)
			return
		}
		doc := map[string]any{"issuer": s.URL, "token_endpoint": s.URL + "/token",
			"device_authorization_endpoint": s.URL + "/device", "authorization_endpoint": s.URL + "/auth"}
		for k, v := range s.meta {
			doc[k] = v
		}
		_ = json.NewEncoder(w).Encode(doc)
		return
	}
	_ = r.ParseForm()
	s.reqs = append(s.reqs, recorded{path: r.URL.Path, form: r.PostForm, header: r.Header.Clone()})
	if r.URL.Path == "/device" {
		io.WriteString(w, `{"device_code":"DC-0123456789","user_code":"WDJB-MJHT","verification_uri":"`+s.URL+`/activate","expires_in":60,"interval":1}`)
		return
	}
	status, body := 200, `{"access_token":"AT-1","token_type":"Bearer","expires_in":3600,"refresh_token":"RT-2"}`
	if s.answer != nil {
		status, body = s.answer(r)
	}
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func (s *idp) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

func (s *idp) config() oidc.Config {
	return oidc.Config{
		Issuer:     s.URL,
		ClientID:   "helpdesk",
		Mailbox:    "helpdesk@example.test",
		SMTP:       provider.Server{Host: "mail.example.test", Port: 587},
		IMAP:       provider.Server{Host: "mail.example.test", Port: 993, Security: provider.ImplicitTLS},
		HTTPClient: s.Client(),
	}
}

// TestClientCredentialsFromAnIssuer: one discovery, then a client
// credentials token with the scopes and every resource indicator, the
// client authenticated with HTTP Basic (the default of RFC 8414 when the
// metadata names no method), and the Mailbox on the servers named.
func TestClientCredentialsFromAnIssuer(t *testing.T) {
	s := newIDP(t, "/.well-known/openid-configuration", nil)
	cfg := s.config()
	cfg.ClientSecret = "s3cret"
	cfg.Scopes = []string{"mail", "other"}
	cfg.Resources = []string{"imap://mail.example.test", "smtp://mail.example.test"}
	cfg.Params = url.Values{"audience": {"mail"}}
	mb, err := oidc.ClientCredentials(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if mb.Address != "helpdesk@example.test" || mb.SMTP != cfg.SMTP || mb.IMAP != cfg.IMAP {
		t.Errorf("mailbox %+v", mb)
	}
	tok, err := mb.Tokens.Token(context.Background())
	if err != nil || tok.AccessToken != "AT-1" {
		t.Fatalf("Token = %v, %v; want the first token, fetched by ClientCredentials", tok, err)
	}
	reqs := s.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d token requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.form.Get("grant_type") != "client_credentials" || r.form.Get("scope") != "mail other" ||
		strings.Join(r.form["resource"], " ") != "imap://mail.example.test smtp://mail.example.test" || r.form.Get("audience") != "mail" {
		t.Errorf("form %v", r.form)
	}
	if u, p, ok := (&http.Request{Header: r.header}).BasicAuth(); !ok || u != "helpdesk" || p != "s3cret" || r.form.Has("client_secret") {
		t.Errorf("client authentication: basic %v %q, form %v", ok, u, r.form)
	}
}

// TestDiscoveryFindsRFC8414Metadata: a server without the OpenID path
// is found at the RFC 8414 one, inserted before the issuer's path.
func TestDiscoveryFindsRFC8414Metadata(t *testing.T) {
	s := newIDP(t, "/.well-known/oauth-authorization-server/tenants/mail", nil)
	s.meta = map[string]any{"issuer": s.URL + "/tenants/mail"}
	md, err := oidc.Discover(context.Background(), s.URL+"/tenants/mail", s.Client())
	if err != nil {
		t.Fatal(err)
	}
	if md.TokenEndpoint != s.URL+"/token" || md.Issuer != s.URL+"/tenants/mail" {
		t.Errorf("metadata %+v", md)
	}
}

// TestDiscoveryRefusals: an issuer that names another, a document
// without a token endpoint, an endpoint in clear to another host, a
// failing or missing document, and an issuer URL in clear to another host
// are refused with a diagnosis; nothing is posted.
func TestDiscoveryRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		meta   map[string]any
		path   string
		issuer func(s *idp) string
		kind   provider.Kind
		has    string
	}{
		{name: "another issuer", meta: map[string]any{"issuer": "https://evil.example"}, kind: provider.Misconfigured, has: `names itself "https://evil.example"`},
		{name: "trailing slash", issuer: func(s *idp) string { return s.URL + "/" }, kind: provider.Misconfigured, has: "exactly"},
		{name: "no token endpoint", meta: map[string]any{"token_endpoint": ""}, kind: provider.Misconfigured, has: "no token endpoint"},
		{name: "token endpoint in clear", meta: map[string]any{"token_endpoint": "http://idp.example/token"}, kind: provider.Misconfigured, has: "plain http"},
		{name: "no document", path: "/elsewhere", kind: provider.Misconfigured, has: "not an OAuth endpoint"},
		{name: "issuer in clear", issuer: func(*idp) string { return "http://idp.example" }, kind: provider.Misconfigured, has: "plain http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = "/.well-known/openid-configuration"
			}
			s := newIDP(t, path, tc.meta)
			if tc.issuer == nil {
				tc.issuer = func(s *idp) string { return s.URL }
			}
			cfg := s.config()
			cfg.Issuer = tc.issuer(s)
			cfg.ClientSecret = "s3cret"
			_, err := oidc.ClientCredentials(context.Background(), cfg)
			d := provider.Diagnose(err)
			if err == nil || d == nil || d.Kind != tc.kind || !strings.Contains(d.Summary, tc.has) {
				t.Errorf("err = %v, diagnosis %v; want %v saying %q", err, d, tc.kind, tc.has)
			}
			if n := len(s.requests()); n != 0 {
				t.Errorf("%d requests posted", n)
			}
		})
	}
	t.Run("server failing", func(t *testing.T) {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }))
		defer s.Close()
		_, err := oidc.Discover(context.Background(), s.URL, s.Client())
		var de *oidc.DiscoveryError
		if !errors.As(err, &de) || de.StatusCode != 503 {
			t.Fatalf("err = %v", err)
		}
		if d := provider.Diagnose(err); d == nil || d.Kind != provider.Transient {
			t.Errorf("diagnosis %v, want transient", d)
		}
	})
}

// TestMetadataReadOncePerMailbox: a lazy Mailbox discovers at its first
// token and never again.
func TestMetadataReadOncePerMailbox(t *testing.T) {
	var gets int
	var mu sync.Mutex
	s := newIDP(t, "/.well-known/openid-configuration", nil)
	inner := s.Config.Handler
	s.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			mu.Lock()
			gets++
			mu.Unlock()
		}
		inner.ServeHTTP(w, r)
	})
	cfg := s.config()
	cfg.ClientSecret = "s3cret"
	cfg.Lazy = true
	mb, err := oidc.ClientCredentials(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if gets != 0 {
		t.Errorf("a lazy Mailbox read the metadata %d times before its first token", gets)
	}
	mu.Unlock()
	for range 3 {
		tok, err := mb.Tokens.Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		mb.Tokens.Invalidate(tok)
	}
	mu.Lock()
	defer mu.Unlock()
	if gets != 1 || len(s.requests()) != 3 {
		t.Errorf("%d metadata reads and %d token requests; want 1 and 3", gets, len(s.requests()))
	}
}

// TestClientAuthenticationFromMetadata: the method follows the credential
// and what the server lists, unless the configuration names one.
func TestClientAuthenticationFromMetadata(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		listed  []string
		algs    []string
		secret  string
		key     crypto.Signer
		method  string
		want    string // basic, post, jwt:ALG, none
		refused string
	}{
		{name: "secret, nothing listed", secret: "s", want: "basic"},
		{name: "secret, both listed", listed: []string{"client_secret_post", "client_secret_basic"}, secret: "s", want: "basic"},
		{name: "secret, post only", listed: []string{"client_secret_post", "private_key_jwt"}, secret: "s", want: "post"},
		{name: "secret, post asked for", listed: []string{"client_secret_basic", "client_secret_post"}, secret: "s", method: "client_secret_post", want: "post"},
		{name: "rsa key", listed: []string{"client_secret_basic", "private_key_jwt"}, key: rk, want: "jwt:RS256"},
		{name: "rsa key, PS256 only", listed: []string{"private_key_jwt"}, algs: []string{"PS256", "ES256"}, key: rk, want: "jwt:PS256"},
		{name: "ec key", listed: []string{"private_key_jwt"}, key: ek, want: "jwt:ES256"},
		{name: "public client", listed: []string{"none", "client_secret_basic"}, want: "none"},
		{name: "secret, jwt only", listed: []string{"private_key_jwt"}, secret: "s", refused: "none fits"},
		{name: "public client, none not listed", listed: []string{"client_secret_basic"}, want: "none"},
		{name: "basic without a secret", method: "client_secret_basic", refused: "needs a client secret"},
		{name: "jwt with a secret", method: "private_key_jwt", secret: "s", refused: "needs a private key"},
		{name: "unknown method", method: "tls_client_auth", secret: "s", refused: "is not one of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta := map[string]any{}
			if tc.listed != nil {
				meta["token_endpoint_auth_methods_supported"] = tc.listed
			}
			if tc.algs != nil {
				meta["token_endpoint_auth_signing_alg_values_supported"] = tc.algs
			}
			s := newIDP(t, "/.well-known/openid-configuration", meta)
			cfg := s.config()
			cfg.ClientSecret, cfg.AuthMethod = tc.secret, tc.method
			cfg.PrivateKey = tc.key
			store := tokenstore.NewMemory()
			f, err := oidc.NewDeviceFlow(context.Background(), cfg, store)
			if tc.refused != "" {
				var ce *provider.ConfigError
				if !errors.As(err, &ce) || !strings.Contains(ce.Reason, tc.refused) {
					t.Fatalf("err = %v, want a configuration error saying %q", err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Client.ClientCredentials(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			r := s.requests()[0]
			got := "none"
			switch {
			case r.header.Get("Authorization") != "":
				got = "basic"
			case r.form.Has("client_secret"):
				got = "post"
			case r.form.Has("client_assertion"):
				hdr := map[string]any{}
				if err := jwt.Decode(r.form.Get("client_assertion"), &hdr, nil); err != nil {
					t.Fatal(err)
				}
				got = fmt.Sprintf("jwt:%v", hdr["alg"])
			}
			if got != tc.want {
				t.Errorf("client authenticated with %s, want %s (form %v)", got, tc.want, r.form)
			}
		})
	}
}
