package oauth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"

	"github.com/mailoauth/mailoauth/internal/leaktest"
	"github.com/mailoauth/mailoauth/internal/testclock"
)

// freshAssertion is a ClientAuth that sends a new client assertion on each
// request, as Entra's certificate credential does.
type freshAssertion struct {
	mu   sync.Mutex
	n    int
	sent []string
}

func (a *freshAssertion) Apply(_ context.Context, tokenURL string, form url.Values, _ http.Header) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n++
	v := fmt.Sprintf("eyJhbGciOiJQUzI1NiJ9.assertion-%d-for-%s.c2lnbmF0dXJl", a.n, tokenURL)
	a.sent = append(a.sent, v)
	form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	form.Set("client_assertion", v)
	return nil
}

// rsaKey is an RSA key for client assertions and JWT-bearer grants.
var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// rsaPEM is rsaKey as a PKCS#8 PEM private key.
var rsaPEM = sync.OnceValue(func() []byte {
	der, _ := x509.MarshalPKCS8PrivateKey(rsaKey())
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
})

// grantCall is one grant of a Client, run against base (the server's URL).
type grantCall struct {
	name string
	run  func(ctx context.Context, c *Client, base string) error
}

var grantCalls = []grantCall{
	{"client credentials", func(ctx context.Context, c *Client, _ string) error {
		_, err := c.ClientCredentials(ctx, []string{"https://outlook.office365.com/.default"})
		return err
	}},
	{"refresh token", func(ctx context.Context, c *Client, _ string) error {
		_, err := c.Refresh(ctx, "0.AAAA-refresh-token-of-the-grant-0123456789")
		return err
	}},
	{"authorization code", func(ctx context.Context, c *Client, _ string) error {
		_, err := c.Exchange(ctx, "M.C105-authorization-code-0123456789", "https://app.example/cb", "verifier-0123456789-0123456789-0123456789-abc")
		return err
	}},
	{"device code", func(ctx context.Context, c *Client, base string) error {
		da, err := c.DeviceAuth(ctx, base+"/devicecode", []string{"offline_access"})
		if err != nil {
			return err
		}
		_, err = c.DeviceAccessToken(ctx, da)
		return err
	}},
	{"device authorization", func(ctx context.Context, c *Client, base string) error {
		_, err := c.DeviceAuth(ctx, base+"/devicecode", []string{"offline_access"})
		return err
	}},
	{"jwt bearer", func(ctx context.Context, c *Client, _ string) error {
		_, err := c.JWTBearer(ctx, &jwt.Config{Email: "sa@p.iam.gserviceaccount.com", PrivateKey: rsaPEM(), Subject: "bob@example.com", Scopes: []string{"https://mail.google.com/"}})
		return err
	}},
}

// TestNoGrantRevealsASecretTheServerEchoes: for each grant, each client
// credential and each kind of answer, no secret the request carried
// appears in the error (its text, %+v, the RetrieveError's Body,
// ErrorCode, ErrorDescription, ErrorURI and response, the Reply, the
// Diagnosis) or in the log.
func TestNoGrantRevealsASecretTheServerEchoes(t *testing.T) {
	creds := map[string]func() ClientAuth{
		"secret":    func() ClientAuth { return ClientSecretPost("Zq8~client.secret_value-0123") },
		"basic":     func() ClientAuth { return ClientSecretBasic("Zq8~client.secret_value:+/ 0123") },
		"assertion": func() ClientAuth { return &freshAssertion{} },
		"jwt":       func() ClientAuth { return &PrivateKeyJWT{Key: rsaKey()} },
	}
	for _, g := range grantCalls {
		for credName, cred := range creds {
			for _, mode := range leaktest.Modes {
				if g.name == "device code" && mode == leaktest.Unavailable {
					continue // a 503 does not end a device poll; TestDeviceAccessTokenEndsOnTheAnswer covers it
				}
				t.Run(g.name+"/"+credName+"/"+mode.String(), func(t *testing.T) {
					t.Parallel()
					echo := leaktest.NewEcho(t, mode)
					if g.name == "device authorization" {
						echo.EchoDeviceAuthorization()
					}
					logs := &leaktest.Logs{}
					c := &Client{ID: "client-1", TokenURL: echo.URL + "/token", Auth: cred(), HTTPClient: echo.Client(),
						Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
					if g.name == "jwt bearer" {
						c.ID, c.Auth = "", nil
					}
					err := g.run(context.Background(), c, echo.URL)
					secrets := echo.Secrets()
					leaktest.CheckError(t, err, secrets)
					leaktest.Check(t, "log", logs.String(), secrets)
				})
			}
		}
	}
}

// TestClientAuthenticatesEveryRequest: a confidential client's credential
// goes on every request, the device authorization and each poll included,
// and a fresh assertion each time: none is ever sent twice.
func TestClientAuthenticatesEveryRequest(t *testing.T) {
	var mu sync.Mutex
	var forms []url.Values
	polls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		defer mu.Unlock()
		forms = append(forms, r.PostForm)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/devicecode":
			io.WriteString(w, `{"device_code":"DC-0123456789","user_code":"U","verification_uri":"https://x/d","expires_in":60,"interval":1}`)
		case r.PostForm.Get("grant_type") == GrantDeviceCode && polls == 0:
			polls++
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"authorization_pending"}`)
		default:
			io.WriteString(w, `{"access_token":"AT","token_type":"Bearer","expires_in":3600}`)
		}
	}))
	defer srv.Close()
	a := &freshAssertion{}
	c := &Client{ID: "client-1", TokenURL: srv.URL + "/token", Auth: a, HTTPClient: srv.Client()}
	for _, g := range grantCalls[:4] {
		if err := g.run(context.Background(), c, srv.URL); err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	// client credentials, refresh, code, device authorization, two polls.
	if len(forms) != 6 || len(a.sent) != 6 {
		t.Fatalf("%d requests, %d assertions; want 6 of each", len(forms), len(a.sent))
	}
	seen := map[string]bool{}
	for i, f := range forms {
		got := f.Get("client_assertion")
		if got != a.sent[i] || seen[got] || f.Get("client_id") != "client-1" || f.Has("client_secret") {
			t.Errorf("request %d (%v) does not carry a fresh assertion of its own", i, f)
		}
		if !strings.Contains(got, "-for-"+srv.URL+"/token") {
			t.Errorf("request %d: the assertion's audience is not the token endpoint: %s", i, got)
		}
		seen[got] = true
	}
}

// TestExpiryOnTheClientsClock: x/oauth2 counts Expiry with time.Now; the
// Client counts it from expires_in on its Clock, for every grant.
func TestExpiryOnTheClientsClock(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/devicecode" {
			io.WriteString(w, `{"device_code":"DC","user_code":"U","verification_uri":"https://x/d","expires_in":60,"interval":1}`)
			return
		}
		io.WriteString(w, `{"access_token":"AT","token_type":"Bearer","expires_in":1234}`)
	}))
	defer srv.Close()
	clock := testclock.At(testNow)
	c := &Client{ID: "client-1", TokenURL: srv.URL + "/token", HTTPClient: srv.Client(), Clock: clock}
	ctx := context.Background()
	for _, g := range []func() (*oauth2.Token, error){
		func() (*oauth2.Token, error) { return c.ClientCredentials(ctx, nil) },
		func() (*oauth2.Token, error) { return c.Refresh(ctx, "RT") },
		func() (*oauth2.Token, error) { return c.Exchange(ctx, "code", "https://x/cb", "") },
		func() (*oauth2.Token, error) {
			return c.JWTBearer(ctx, &jwt.Config{Email: "sa@p", PrivateKey: rsaPEM()})
		},
		func() (*oauth2.Token, error) {
			da, err := c.DeviceAuth(ctx, srv.URL+"/devicecode", nil)
			if err != nil {
				return nil, err
			}
			return c.DeviceAccessToken(ctx, da)
		},
	} {
		tok, err := g()
		if err != nil {
			t.Fatal(err)
		}
		if want := testNow.Add(1234 * time.Second); !tok.Expiry.Equal(want) || tok.ExpiresIn != 1234 {
			t.Errorf("Expiry = %s (ExpiresIn %d), want %s: expires_in on the Client's clock", tok.Expiry, tok.ExpiresIn, want)
		}
	}
}

// TestExpiresInMustBeFinite: expires_in that is not a whole, plausible
// number of seconds is refused, whatever the grant.
func TestExpiresInMustBeFinite(t *testing.T) {
	for _, v := range []string{`"NaN"`, `"Inf"`, `"-Inf"`, `"Infinity"`, `1e400`, `"1e400"`, `-1`, `"-60"`, `1e12`, `31708800`, `9223372036854775808`, `3599.5`, `""`, `{}`} {
		t.Run(v, func(t *testing.T) {
			ts := newTokenServer(t, 200, `{"access_token":"AT","token_type":"Bearer","expires_in":`+v+`}`)
			for _, g := range grantCalls[:3] {
				err := g.run(context.Background(), ts.endpoint(nil), ts.URL)
				var re *ResponseError
				if !errors.As(err, &re) || !strings.Contains(re.Reason, "expires_in") {
					t.Errorf("%s: err = %v, want a ResponseError about expires_in", g.name, err)
				}
			}
		})
	}
	// The largest plausible lifetime, a year, is accepted.
	ts := newTokenServer(t, 200, `{"access_token":"AT","token_type":"Bearer","expires_in":31622400}`)
	if tok, err := ts.endpoint(nil).Refresh(context.Background(), "RT"); err != nil || !tok.Expiry.Equal(testNow.Add(366*24*time.Hour)) {
		t.Errorf("a year: %v, %v", tok, err)
	}
}
