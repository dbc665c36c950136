package providertest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func newServer(t *testing.T) *Server {
	t.Helper()
	s := New()
	t.Cleanup(s.Close)
	return s
}

func entraToken(s *Server) string { return s.URL() + "/" + DefaultTenant + "/oauth2/v2.0/token" }

type reply struct {
	status int
	header http.Header
	raw    string
	json   map[string]any
}

func (r reply) str(key string) string {
	v, _ := r.json[key].(string)
	return v
}

func post(t *testing.T, s *Server, u string, form url.Values) reply {
	t.Helper()
	resp, err := s.Client().PostForm(u, form)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	return readReply(t, resp)
}

func readReply(t *testing.T, resp *http.Response) reply {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(b, &r.json) // left nil for a malformed body; tests that expect JSON check fields

	}
	return r
}

var (
	guidRE        = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	timestampRE   = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z$`)
	descriptionRE = regexp.MustCompile(`^AADSTS(\d+): [^\r]*\r\nTrace ID: ([0-9a-f-]{36})\r\nCorrelation ID: ([0-9a-f-]{36})\r\nTimestamp: (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z)$`)
)

// wantEntraError checks an Entra error reply completely: status, error, every field's shape and their
// agreement with each other.
func wantEntraError(t *testing.T, r reply, status int, errName string, code int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %.300s", r.status, status, r.raw)
	}
	if got := r.str("error"); got != errName {
		t.Fatalf("error = %q, want %q; body %.300s", got, errName, r.raw)
	}
	codes, _ := r.json["error_codes"].([]any)
	if len(codes) != 1 || codes[0] != float64(code) {
		t.Fatalf("error_codes = %v, want [%d]", r.json["error_codes"], code)
	}
	m := descriptionRE.FindStringSubmatch(r.str("error_description"))
	if m == nil {
		t.Fatalf("error_description has not Entra's shape: %q", r.str("error_description"))
	}
	if m[1] != itoa(code) || m[2] != r.str("trace_id") || m[3] != r.str("correlation_id") || m[4] != r.str("timestamp") {
		t.Fatalf("description %q disagrees with fields %v", r.str("error_description"), r.json)
	}
	if !guidRE.MatchString(r.str("trace_id")) || !guidRE.MatchString(r.str("correlation_id")) ||
		!timestampRE.MatchString(r.str("timestamp")) {
		t.Fatalf("malformed trace_id/correlation_id/timestamp: %v", r.json)
	}
	if !strings.HasSuffix(r.str("error_uri"), "/error?code="+itoa(code)) {
		t.Fatalf("error_uri = %q", r.str("error_uri"))
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// wantGoogleError checks a Google error reply.
func wantGoogleError(t *testing.T, r reply, status int, errName, desc string) {
	t.Helper()
	if r.status != status || r.str("error") != errName || (desc != "" && r.str("error_description") != desc) {
		t.Fatalf("got %d %s, want %d error=%q description=%q", r.status, r.raw, status, errName, desc)
	}
	if len(r.json) != 2 {
		t.Fatalf("Google error body has extra fields: %s", r.raw)
	}
}

func newFormRequest(u string, form url.Values) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, nil
}

// testKeys holds RSA keys generated once per test binary (key generation is slow under -race).
var testKeys struct {
	once       sync.Once
	app, other *rsa.PrivateKey
	cert       *x509.Certificate
}

// appKey returns the app's key, its self-signed certificate, and an unrelated key.
func appKey(t *testing.T) (*rsa.PrivateKey, *x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	testKeys.once.Do(func() {
		var err error
		if testKeys.app, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if testKeys.other, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "mailoauth test app"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &testKeys.app.PublicKey, testKeys.app)
		if err != nil {
			panic(err)
		}
		if testKeys.cert, err = x509.ParseCertificate(der); err != nil {
			panic(err)
		}
	})
	return testKeys.app, testKeys.cert, testKeys.other
}
