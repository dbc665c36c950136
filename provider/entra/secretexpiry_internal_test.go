package entra

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/internal/testclock"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/oauth"
)

// logCapture collects slog records as (level, message) lines.
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logCapture) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// lines returns "LEVEL message" per record and empties the buffer.
func (l *logCapture) lines(t *testing.T) []string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, raw := range bytes.Split(bytes.TrimSpace(l.buf.Bytes()), []byte("\n")) {
		if len(raw) == 0 {
			continue
		}
		var rec map[string]any
		require.NoError(t, json.Unmarshal(raw, &rec))
		out = append(out, fmt.Sprintf("%v %v", rec["level"], rec["msg"]))
	}
	l.buf.Reset()
	return out
}

func TestExpiryWarningsAtThresholds(t *testing.T) {
	expires := time.Date(2026, 9, 30, 0, 0, 0, 0, time.UTC)
	clk := testclock.At(expires.Add(-45 * day))
	var logs logCapture
	cfg := Config{
		ClientID:        "app",
		ClientSecret:    "s3cr3t",
		SecretExpiresAt: expires,
		Logger:          slog.New(slog.NewJSONHandler(&logs, nil)),
		Clock:           clk,
	}
	w := newExpiryWatcher(cfg)
	require.NotNil(t, w)
	ctx := context.Background()

	steps := []struct {
		left time.Duration
		want []string
	}{
		{45 * day, nil},
		{30*day + time.Hour, nil},
		{30 * day, []string{"WARN entra: the client secret expires in 30 days, on 2026-09-30: add a new client secret under the app registration's Certificates & secrets and give the program its value and its expiry date"}},
		{29 * day, nil}, // once per threshold, not on every token
		{10 * day, nil},
		{7 * day, []string{"WARN entra: the client secret expires in 7 days, on 2026-09-30: add a new client secret under the app registration's Certificates & secrets and give the program its value and its expiry date"}},
		{3 * day, nil},
		{23 * time.Hour, []string{"WARN entra: the client secret expires in 1 day, on 2026-09-30: add a new client secret under the app registration's Certificates & secrets and give the program its value and its expiry date"}},
		{time.Hour, nil},
		{0, []string{"ERROR entra: the client secret expired on 2026-09-30; token requests will fail: add a new client secret under the app registration's Certificates & secrets and give the program its value and its expiry date"}},
		{-day, nil},
	}
	for _, s := range steps {
		clk.Set(expires.Add(-s.left))
		for range 3 {
			w.check(ctx)
		}
		assert.Equal(t, s.want, logs.lines(t), "with %s left", s.left)
	}
}

func TestExpiryWarningSkipsPassedThresholds(t *testing.T) {
	// A process started 5 days before expiry warns once (7 days), not
	// three times.
	cert := testCertificate(t, time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC))
	now := cert.NotAfter().Add(-5 * day)
	var logs logCapture
	cfg := Config{ClientID: "app", Certificate: cert, Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Clock: testclock.At(now)}
	exp, src := CredentialExpiry(cfg)
	assert.Equal(t, cert.NotAfter(), exp)
	assert.Equal(t, SourceCertificate, src)

	w := newExpiryWatcher(cfg)
	w.check(context.Background())
	w.check(context.Background())
	lines := logs.lines(t)
	require.Len(t, lines, 1)
	assert.True(t, strings.HasPrefix(lines[0], "WARN entra: the certificate expires in 5 days, on 2026-03-10: upload a new certificate"), lines[0])
}

func TestCredentialExpiry(t *testing.T) {
	at := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	exp, src := CredentialExpiry(Config{ClientSecret: "s", SecretExpiresAt: at})
	assert.Equal(t, at, exp)
	assert.Equal(t, SourceClientSecret, src)

	exp, src = CredentialExpiry(Config{ClientSecret: "s"})
	assert.True(t, exp.IsZero())
	assert.Empty(t, src)
	assert.Nil(t, newExpiryWatcher(Config{ClientSecret: "s"}), "nothing to watch")

	exp, src = CredentialExpiry(Config{})
	assert.True(t, exp.IsZero())
	assert.Empty(t, src)
}

// tokenError builds the error TokenEndpoint returns for an Entra answer.
func tokenError(code string, aadsts int) error {
	body := fmt.Sprintf(`{"error":%q,"error_description":"AADSTS%d: something.\r\nTrace ID: x","error_codes":[%d]}`, code, aadsts, aadsts)
	return &oauth.TokenError{Endpoint: "https://login/t/oauth2/v2.0/token", Grant: "client_credentials", StatusCode: http.StatusUnauthorized,
		Err: &oauth2.RetrieveError{Body: []byte(body), ErrorCode: code, ErrorDescription: fmt.Sprintf("AADSTS%d: something.", aadsts)}}
}

func TestExpiredSecretErrorNamesTheDate(t *testing.T) {
	expires := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	cfg := Config{ClientSecret: "s3cr3t", SecretExpiresAt: expires, Clock: testclock.At(expires.Add(day))}

	err := fmt.Errorf("wrapped: %w", wrapExpired(cfg, tokenError("invalid_client", 7000222)))
	var ee *ExpiredCredentialError
	require.True(t, errors.As(err, &ee))
	assert.Equal(t, SourceClientSecret, ee.Source)
	assert.Contains(t, err.Error(), "the client secret expired on 2026-04-01")
	assert.NotContains(t, err.Error(), "s3cr3t")

	d := provider.Diagnose(err)
	require.NotNil(t, d)
	assert.Equal(t, provider.Misconfigured, d.Kind)
	assert.Contains(t, d.Summary, "2026-04-01")
	assert.NotEmpty(t, d.Fix)
	var te *oauth.TokenError
	assert.True(t, errors.As(err, &te), "the token error stays in the chain")

	// The date unknown: still an expired-secret error, saying so.
	cfg.SecretExpiresAt = time.Time{}
	err = wrapExpired(cfg, tokenError("invalid_client", 7000222))
	require.True(t, errors.As(err, &ee))
	assert.Contains(t, err.Error(), "has expired (the program was not given its expiry date")

	// Past the configured date, an invalid_client refusal is the expiry
	// even without the code (the certificate case: Entra answers 700027).
	cert := testCertificate(t, expires)
	cfg = Config{Certificate: cert, Clock: testclock.At(expires.Add(time.Hour))}
	err = wrapExpired(cfg, tokenError("invalid_client", 700027))
	require.True(t, errors.As(err, &ee))
	assert.Equal(t, SourceCertificate, ee.Source)
	assert.Contains(t, err.Error(), "the certificate expired on 2026-04-01")

	// Before the date the same refusal is something else.
	cfg.Clock = testclock.At(expires.Add(-time.Hour))
	err = wrapExpired(cfg, tokenError("invalid_client", 700027))
	assert.False(t, errors.As(err, &ee))

	// Network failures are never called an expiry.
	cfg.Clock = testclock.At(expires.Add(time.Hour))
	netErr := &oauth.NetworkError{Endpoint: "x", Grant: "y", Err: errors.New("refused")}
	assert.Same(t, error(netErr), wrapExpired(cfg, netErr))
}

// testCertificate is a self-signed (ECDSA, fast to make) certificate
// expiring at notAfter.
func testCertificate(t *testing.T, notAfter time.Time) *Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "expiring"},
		NotBefore: notAfter.AddDate(-1, 0, 0), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &Certificate{Chain: []*x509.Certificate{leaf}, Key: key}
}
