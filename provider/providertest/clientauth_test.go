package providertest

import (
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/internal/jwt"
)

// assertionOpts varies one thing of a client assertion.
type assertionOpts struct {
	alg     string
	header  map[string]any
	aud     string
	iss     string
	jti     string
	nbf     time.Time
	exp     time.Time
	noJTI   bool
	signKey bool // sign with the unrelated key
}

func makeAssertion(t *testing.T, s *Server, o assertionOpts) string {
	t.Helper()
	key, cert, other := appKey(t)
	now := s.Now()
	if o.alg == "" {
		o.alg = jwt.PS256
	}
	if o.header == nil {
		o.header = map[string]any{"x5t#S256": jwt.ThumbprintS256(cert)}
	}
	if o.aud == "" {
		o.aud = entraToken(s)
	}
	if o.iss == "" {
		o.iss = "cert-app"
	}
	if o.jti == "" {
		o.jti = newGUID()
	}
	if o.nbf.IsZero() {
		o.nbf = now
	}
	if o.exp.IsZero() {
		o.exp = o.nbf.Add(10 * time.Minute)
	}
	c := map[string]any{"aud": o.aud, "iss": o.iss, "sub": o.iss, "nbf": o.nbf.Unix(), "exp": o.exp.Unix()}
	if !o.noJTI {
		c["jti"] = o.jti
	}
	k := key
	if o.signKey {
		k = other
	}
	tok, err := jwt.Sign(k, o.alg, o.header, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func assertionForm(assertion string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {"cert-app"},
		"scope":                 {"https://outlook.office365.com/.default"},
		"client_assertion_type": {clientAssertionType}, "client_assertion": {assertion}}
}

func certServer(t *testing.T) *Server {
	t.Helper()
	_, cert, _ := appKey(t)
	s := newServer(t)
	s.AddApp(App{ClientID: "cert-app", Certificate: cert, Roles: []string{"SMTP.SendAsApp"}})
	return s
}

func TestClientAssertionAccepted(t *testing.T) {
	_, cert, _ := appKey(t)
	s := certServer(t)
	sum := sha256.Sum256(cert.Raw)
	cases := map[string]assertionOpts{
		"PS256 x5t#S256":              {},
		"RS256 x5t (older form)":      {alg: jwt.RS256, header: map[string]any{"x5t": jwt.ThumbprintSHA1(cert)}},
		"x5t#S256 in standard base64": {header: map[string]any{"x5t#S256": base64.StdEncoding.EncodeToString(sum[:])}},
		"nbf 4 minutes ahead (skew)":  {nbf: s.Now().Add(4 * time.Minute)},
		"exp 1 minute away":           {nbf: s.Now().Add(-9 * time.Minute)},
	}
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			r := post(t, s, entraToken(s), assertionForm(makeAssertion(t, s, o)))
			if r.status != 200 || r.str("access_token") == "" {
				t.Fatalf("got %d %s", r.status, r.raw)
			}
			var c map[string]any
			if err := jwt.Decode(r.str("access_token"), nil, &c); err != nil {
				t.Fatal(err)
			}
			if c["appidacr"] != "2" {
				t.Errorf("appidacr = %v, want 2 (certificate)", c["appidacr"])
			}
		})
	}
}

func TestClientAssertionRejected(t *testing.T) {
	_, cert, _ := appKey(t)
	s := certServer(t)
	s.AddApp(App{ClientID: "no-cert-app", Secret: "x"})
	now := s.Now()
	cases := []struct {
		name string
		o    assertionOpts
		code int
	}{
		{"wrong audience", assertionOpts{aud: s.URL() + "/common/oauth2/v2.0/token"}, 50013},
		{"audience of the real cloud", assertionOpts{aud: "https://login.microsoftonline.com/" + DefaultTenant + "/oauth2/v2.0/token"}, 50013},
		{"expired", assertionOpts{nbf: now.Add(-20 * time.Minute), exp: now.Add(-10 * time.Minute)}, 700024},
		{"not yet valid beyond skew", assertionOpts{nbf: now.Add(6 * time.Minute)}, 700024},
		{"signed by another key", assertionOpts{signKey: true}, 700027},
		{"unknown thumbprint", assertionOpts{header: map[string]any{"x5t#S256": "AAAA"}}, 700027},
		{"no thumbprint", assertionOpts{header: map[string]any{}}, 700027},
		{"issuer is not the client", assertionOpts{iss: "someone-else"}, 700021},
		{"no jti", assertionOpts{noJTI: true}, 50027},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := post(t, s, entraToken(s), assertionForm(makeAssertion(t, s, c.o)))
			wantEntraError(t, r, 401, "invalid_client", c.code)
		})
	}
	t.Run("jti reused", func(t *testing.T) {
		a := makeAssertion(t, s, assertionOpts{})
		if r := post(t, s, entraToken(s), assertionForm(a)); r.status != 200 {
			t.Fatalf("first use: %d %s", r.status, r.raw)
		}
		wantEntraError(t, post(t, s, entraToken(s), assertionForm(a)), 401, "invalid_client", 700024)
		// Same jti in a freshly signed assertion is still a replay.
		b := makeAssertion(t, s, assertionOpts{jti: "fixed-jti"})
		c := makeAssertion(t, s, assertionOpts{jti: "fixed-jti", nbf: s.Now().Add(time.Second)})
		if r := post(t, s, entraToken(s), assertionForm(b)); r.status != 200 {
			t.Fatalf("b: %d %s", r.status, r.raw)
		}
		wantEntraError(t, post(t, s, entraToken(s), assertionForm(c)), 401, "invalid_client", 700024)
	})
	t.Run("app without certificate", func(t *testing.T) {
		f := assertionForm(makeAssertion(t, s, assertionOpts{iss: "no-cert-app"}))
		f.Set("client_id", "no-cert-app")
		wantEntraError(t, post(t, s, entraToken(s), f), 401, "invalid_client", 700027)
	})
	t.Run("malformed assertion", func(t *testing.T) {
		wantEntraError(t, post(t, s, entraToken(s), assertionForm("a.b")), 401, "invalid_client", 50027)
	})
	t.Run("missing assertion type", func(t *testing.T) {
		f := assertionForm(makeAssertion(t, s, assertionOpts{}))
		f.Del("client_assertion_type")
		wantEntraError(t, post(t, s, entraToken(s), f), 400, "invalid_request", 900144)
	})
	t.Run("clock moved past exp", func(t *testing.T) {
		a := makeAssertion(t, s, assertionOpts{})
		s.Advance(11 * time.Minute)
		defer s.Advance(-11 * time.Minute)
		r := post(t, s, entraToken(s), assertionForm(a))
		wantEntraError(t, r, 401, "invalid_client", 700024)
	})
	_ = cert
}

func TestAssertionAudienceOnPlainListener(t *testing.T) {
	s := certServer(t)
	plain := s.PlainURL()
	if plain == "" || plain[:7] != "http://" {
		t.Fatalf("PlainURL = %q", plain)
	}
	// The https token endpoint is the audience wherever the assertion is posted.
	a := makeAssertion(t, s, assertionOpts{})
	r := post(t, s, plain+"/"+DefaultTenant+"/oauth2/v2.0/token", assertionForm(a))
	if r.status != 200 {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
}
