package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/internal/jwt"
	"github.com/mailoauth/mailoauth/internal/testclock"
)

// request is what a token or device authorization endpoint received.
type request struct {
	path   string
	form   url.Values
	header http.Header
}

// recordingServer answers the device authorization request with a device
// code, every device code poll with a token, and every other request with
// a token, and keeps each request.
type recordingServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
}

func newRecordingServer(t *testing.T) *recordingServer {
	t.Helper()
	rs := &recordingServer{}
	rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		rs.mu.Lock()
		rs.reqs = append(rs.reqs, request{path: r.URL.Path, form: r.PostForm, header: r.Header.Clone()})
		rs.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/device" {
			io.WriteString(w, `{"device_code":"DC-0123456789","user_code":"U","verification_uri":"https://x/d","expires_in":60,"interval":1}`)
			return
		}
		io.WriteString(w, `{"access_token":"AT","token_type":"Bearer","expires_in":3600}`)
	}))
	t.Cleanup(rs.Close)
	return rs
}

func (rs *recordingServer) requests() []request {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]request(nil), rs.reqs...)
}

// everyRequest runs each grant and the device authorization once.
func everyRequest(t *testing.T, c *Client, base string) {
	t.Helper()
	ctx := context.Background()
	for _, g := range []func() error{
		func() error { _, err := c.ClientCredentials(ctx, []string{"mail"}); return err },
		func() error { _, err := c.Refresh(ctx, "refresh-0123456789"); return err },
		func() error {
			_, err := c.Exchange(ctx, "code-0123456789", "https://app.example/cb", "verifier-0123456789-0123456789-0123456789")
			return err
		},
		func() error {
			da, err := c.DeviceAuth(ctx, base+"/device", []string{"mail"})
			if err != nil {
				return err
			}
			_, err = c.DeviceAccessToken(ctx, da)
			return err
		},
	} {
		if err := g(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestClientSecretBasic: RFC 6749 section 2.3.1 form-urlencodes the
// client ID and the secret before they go into the Basic header; the form
// then carries no client_id and no client_secret, on every request.
func TestClientSecretBasic(t *testing.T) {
	rs := newRecordingServer(t)
	const id, secret = "app:1 é", "p@ss w+rd:/%"
	c := &Client{ID: id, TokenURL: rs.URL + "/token", Auth: ClientSecretBasic(secret), HTTPClient: rs.Client()}
	everyRequest(t, c, rs.URL)
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("app%3A1+%C3%A9:p%40ss+w%2Brd%3A%2F%25"))
	reqs := rs.requests()
	if len(reqs) != 5 {
		t.Fatalf("%d requests, want 5", len(reqs))
	}
	for i, r := range reqs {
		if got := r.header.Get("Authorization"); got != want {
			t.Errorf("request %d to %s: Authorization %q, want %q", i, r.path, got, want)
		}
		if r.form.Has("client_id") || r.form.Has("client_secret") {
			t.Errorf("request %d to %s: the form also authenticates: %v", i, r.path, r.form)
		}
	}
	// What the server decodes is the client's own ID and secret.
	req := httptest.NewRequest("POST", "/", nil)
	req.Header.Set("Authorization", want)
	u, p, _ := req.BasicAuth()
	if du, _ := url.QueryUnescape(u); du != id {
		t.Errorf("the server reads client ID %q, want %q", du, id)
	}
	if dp, _ := url.QueryUnescape(p); dp != secret {
		t.Errorf("the server reads a secret other than the client's")
	}
	if s := fmt.Sprintf("%v %#v %+v", c.Auth, c.Auth, *c); strings.Contains(s, "p@ss") {
		t.Errorf("printing the client shows its secret: %s", s)
	}
}

// TestPublicClientSendsItsIDOnly: no Auth is the method "none": client_id
// and nothing else, on every request.
func TestPublicClientSendsItsIDOnly(t *testing.T) {
	rs := newRecordingServer(t)
	c := &Client{ID: "native-app", TokenURL: rs.URL + "/token", HTTPClient: rs.Client()}
	everyRequest(t, c, rs.URL)
	for i, r := range rs.requests() {
		if r.form.Get("client_id") != "native-app" || r.form.Has("client_secret") || r.form.Has("client_assertion") || r.header.Get("Authorization") != "" {
			t.Errorf("request %d to %s: %v %v", i, r.path, r.form, r.header)
		}
	}
}

type keyCase struct {
	alg string
	key crypto.Signer
	pub crypto.PublicKey
}

func signingKeys(t *testing.T) []keyCase {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return []keyCase{{"RS256", rk, &rk.PublicKey}, {"PS256", rk, &rk.PublicKey}, {"ES256", ek, &ek.PublicKey}}
}

type clientAssertion struct {
	Iss string `json:"iss"`
	Sub string `json:"sub"`
	Aud string `json:"aud"`
	Jti string `json:"jti"`
	Iat int64  `json:"iat"`
	Nbf int64  `json:"nbf"`
	Exp int64  `json:"exp"`
}

// TestPrivateKeyJWT: every request, to either endpoint, carries a new
// assertion signed with the client's key in the algorithm asked for, for
// the token endpoint, with a jti never sent before (RFC 7523 section 3).
func TestPrivateKeyJWT(t *testing.T) {
	for _, k := range signingKeys(t) {
		t.Run(k.alg, func(t *testing.T) {
			rs := newRecordingServer(t)
			clock := testclock.At(testNow)
			auth := &PrivateKeyJWT{Key: k.key, Algorithm: k.alg, KeyID: "key-1", Clock: clock}
			c := &Client{ID: "app-1", TokenURL: rs.URL + "/token", Auth: auth, HTTPClient: rs.Client()}
			everyRequest(t, c, rs.URL)
			seen := map[string]bool{}
			for i, r := range rs.requests() {
				if r.form.Get("client_assertion_type") != ClientAssertionType || r.form.Has("client_secret") || r.header.Get("Authorization") != "" {
					t.Errorf("request %d to %s: %v", i, r.path, r.form)
				}
				var cl clientAssertion
				hdr, err := jwt.Verify(r.form.Get("client_assertion"), k.pub, &cl)
				if err != nil {
					t.Fatalf("request %d to %s: the assertion does not verify with the client's public key: %v", i, r.path, err)
				}
				if hdr["alg"] != k.alg || hdr["kid"] != "key-1" || hdr["typ"] != "JWT" {
					t.Errorf("request %d: header %v", i, hdr)
				}
				if cl.Iss != "app-1" || cl.Sub != "app-1" || cl.Aud != rs.URL+"/token" {
					t.Errorf("request %d to %s: iss %q sub %q aud %q; want the client ID twice and the token endpoint", i, r.path, cl.Iss, cl.Sub, cl.Aud)
				}
				if cl.Iat != testNow.Unix() || cl.Nbf != testNow.Unix() || cl.Exp != testNow.Add(DefaultAssertionLifetime).Unix() {
					t.Errorf("request %d: iat %d nbf %d exp %d; want the clock's time and %s after it", i, cl.Iat, cl.Nbf, cl.Exp, DefaultAssertionLifetime)
				}
				if cl.Jti == "" || seen[cl.Jti] {
					t.Errorf("request %d: jti %q is empty or was sent before", i, cl.Jti)
				}
				seen[cl.Jti] = true
			}
			if len(seen) != 5 {
				t.Errorf("%d assertions, want one for each of the 5 requests", len(seen))
			}
		})
	}
}

// TestPrivateKeyJWTRefusals: a key that cannot make the algorithm's
// signature sends nothing; printing the credential never shows the key.
func TestPrivateKeyJWTRefusals(t *testing.T) {
	keys := signingKeys(t)
	rs := newRecordingServer(t)
	for _, a := range []*PrivateKeyJWT{
		{Key: keys[0].key, Algorithm: "ES256"},
		{Key: keys[2].key, Algorithm: "RS256"},
		{Key: keys[0].key, Algorithm: "HS256"},
		{},
	} {
		c := &Client{ID: "app-1", TokenURL: rs.URL + "/token", Auth: a, HTTPClient: rs.Client()}
		if _, err := c.ClientCredentials(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "not sent") {
			t.Errorf("%v: err = %v, want a refusal before sending", a, err)
		}
	}
	if n := len(rs.requests()); n != 0 {
		t.Errorf("%d requests sent with an unusable key", n)
	}
	rk := keys[0].key.(*rsa.PrivateKey)
	a := &PrivateKeyJWT{Key: rk, KeyID: "k"}
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%#v", a), fmt.Sprintf("%+v", a)} {
		if strings.Contains(s, rk.D.String()) || strings.Contains(s, rk.Primes[0].String()) || !strings.Contains(s, "RS256") {
			t.Errorf("printed %s", s)
		}
	}
	// The default algorithm follows the key.
	if got := (&PrivateKeyJWT{Key: keys[2].key}).String(); !strings.Contains(got, "ES256") {
		t.Errorf("an ECDSA key's default algorithm: %s", got)
	}
	lt := &PrivateKeyJWT{Key: rk, Lifetime: 10 * time.Minute, Clock: testclock.At(testNow)}
	tok, err := lt.Sign("app-1", "https://idp.example/token")
	if err != nil {
		t.Fatal(err)
	}
	var cl clientAssertion
	if _, err := jwt.Verify(tok, &rk.PublicKey, &cl); err != nil || cl.Exp-cl.Iat != 600 {
		t.Errorf("Lifetime 10m: %v, exp - iat = %d", err, cl.Exp-cl.Iat)
	}
}

// TestParamsGoOnEveryRequest: resource indicators (repeatable) and other
// parameters reach the token endpoint for every grant and the device
// authorization endpoint.
func TestParamsGoOnEveryRequest(t *testing.T) {
	rs := newRecordingServer(t)
	params := url.Values{"resource": {"imap://mail.example", "smtp://mail.example"}, "audience": {"mail"}}
	c := &Client{ID: "app-1", TokenURL: rs.URL + "/token", Auth: ClientSecretPost("s"), Params: params, HTTPClient: rs.Client()}
	everyRequest(t, c, rs.URL)
	reqs := rs.requests()
	if len(reqs) != 5 {
		t.Fatalf("%d requests, want 5", len(reqs))
	}
	for i, r := range reqs {
		if got := r.form["resource"]; len(got) != 2 || got[0] != "imap://mail.example" || got[1] != "smtp://mail.example" || r.form.Get("audience") != "mail" {
			t.Errorf("request %d to %s (%s): %v", i, r.path, r.form.Get("grant_type"), r.form)
		}
	}
	if params.Get("client_secret") != "" || len(params) != 2 {
		t.Errorf("the caller's Params were changed: %v", params)
	}
}

// TestParamsCannotReplaceTheRequestsOwn: a parameter a request sets
// itself is refused before anything is sent.
func TestParamsCannotReplaceTheRequestsOwn(t *testing.T) {
	rs := newRecordingServer(t)
	for _, name := range []string{"grant_type", "scope", "client_id", "refresh_token", "client_assertion"} {
		c := &Client{ID: "app-1", TokenURL: rs.URL + "/token", Params: url.Values{name: {"x"}}, HTTPClient: rs.Client()}
		_, err := c.ClientCredentials(context.Background(), nil)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Params %s: err = %v", name, err)
		}
		if err := CheckParams(c.Params); err == nil {
			t.Errorf("CheckParams accepts %s", name)
		}
	}
	if n := len(rs.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
	if err := CheckParams(url.Values{"resource": {"a", "b"}, "prompt": {"consent"}}); err != nil {
		t.Errorf("CheckParams refuses ordinary parameters: %v", err)
	}
}
