package entra_test

import (
	"context"
	"crypto/sha1" //nolint:gosec // the x5t header is defined as SHA-1
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mailoauth/mailoauth/internal/jwt"
	"github.com/mailoauth/mailoauth/internal/testclock"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

type assertionClaims struct {
	Aud string `json:"aud"`
	Iss string `json:"iss"`
	Sub string `json:"sub"`
	Jti string `json:"jti"`
	Nbf int64  `json:"nbf"`
	Iat int64  `json:"iat"`
	Exp int64  `json:"exp"`
}

func certConfig(t *testing.T, now time.Time) entra.Config {
	t.Helper()
	p := getPKI(t)
	cert, err := entra.ParseCertificatePEM(concat(pemCert(p.leaf), pemCert(p.ca), pemPKCS8(t, p.leafKey)))
	require.NoError(t, err)
	return entra.Config{
		TenantID:    "contoso.onmicrosoft.com",
		ClientID:    "11111111-2222-3333-4444-555555555555",
		Certificate: cert,
		Mailbox:     "helpdesk@contoso.com",
		Clock:       testclock.At(now),
	}
}

// applyAssertion runs the config's credential and returns the form.
func applyAssertion(t *testing.T, cfg entra.Config) url.Values {
	t.Helper()
	cred, err := cfg.Credential()
	require.NoError(t, err)
	// The form as x/oauth2 builds it: the client ID is in it.
	form := url.Values{"client_id": {cfg.ClientID}}
	require.NoError(t, cred.Apply(context.Background(), cfg.TokenURL(), form, http.Header{}))
	assert.Equal(t, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", form.Get("client_assertion_type"))
	assert.Empty(t, form.Get("client_secret"))
	return form
}

func TestCertificateAssertionPS256(t *testing.T) {
	p := getPKI(t)
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	cfg := certConfig(t, now)

	form := applyAssertion(t, cfg)
	var claims assertionClaims
	header, err := jwt.Verify(form.Get("client_assertion"), &p.leafKey.PublicKey, &claims)
	require.NoError(t, err, "the assertion verifies with the certificate's public key")

	sum := sha256.Sum256(p.leaf.Raw)
	assert.Equal(t, "PS256", header["alg"])
	assert.Equal(t, "JWT", header["typ"])
	assert.Equal(t, base64.RawURLEncoding.EncodeToString(sum[:]), header["x5t#S256"], "x5t#S256 is base64url SHA-256 of the DER leaf")
	assert.NotContains(t, header, "x5t")
	assert.NotContains(t, header, "x5c")

	assert.Equal(t, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token", claims.Aud)
	assert.Equal(t, cfg.ClientID, claims.Iss)
	assert.Equal(t, cfg.ClientID, claims.Sub)
	assert.Regexp(t, uuidV4, claims.Jti)
	assert.Equal(t, now.Unix(), claims.Nbf)
	assert.Equal(t, now.Unix(), claims.Iat)
	assert.Equal(t, now.Add(10*time.Minute).Unix(), claims.Exp)

	// Every request gets a new assertion: a reused jti is refused by Entra.
	seen := map[string]bool{claims.Jti: true}
	for range 20 {
		var c assertionClaims
		_, err := jwt.Verify(applyAssertion(t, cfg).Get("client_assertion"), &p.leafKey.PublicKey, &c)
		require.NoError(t, err)
		require.False(t, seen[c.Jti], "jti %s repeated", c.Jti)
		seen[c.Jti] = true
	}
}

func TestCertificateAssertionRS256WithSHA1Thumbprint(t *testing.T) {
	p := getPKI(t)
	cfg := certConfig(t, time.Now())
	cfg.AssertionAlgorithm = entra.AssertionRS256
	var claims assertionClaims
	header, err := jwt.Verify(applyAssertion(t, cfg).Get("client_assertion"), &p.leafKey.PublicKey, &claims)
	require.NoError(t, err)
	sum := sha1.Sum(p.leaf.Raw) //nolint:gosec
	assert.Equal(t, "RS256", header["alg"])
	assert.Equal(t, base64.RawURLEncoding.EncodeToString(sum[:]), header["x5t"])
	assert.NotContains(t, header, "x5t#S256")
}

func TestCertificateAssertionSendsChain(t *testing.T) {
	p := getPKI(t)
	cfg := certConfig(t, time.Now())
	cfg.SendCertificateChain = true
	header, err := jwt.Verify(applyAssertion(t, cfg).Get("client_assertion"), &p.leafKey.PublicKey, nil)
	require.NoError(t, err)
	x5c, ok := header["x5c"].([]any)
	require.True(t, ok, "x5c is an array")
	require.Len(t, x5c, 2)
	assert.Equal(t, base64.StdEncoding.EncodeToString(p.leaf.Raw), x5c[0], "leaf first, standard base64")
	assert.Equal(t, base64.StdEncoding.EncodeToString(p.ca.Raw), x5c[1])
}

func TestCertificateCredentialRefusesUnusableKeys(t *testing.T) {
	p := getPKI(t)
	ec, err := entra.ParseCertificatePEM(concat(pemCert(p.ecLeaf), pemEC(t, p.ecKey)))
	require.NoError(t, err)
	cfg := certConfig(t, time.Now())
	cfg.Certificate = ec
	_, err = cfg.Credential()
	var ce *provider.ConfigError
	require.True(t, errors.As(err, &ce), "got %v", err)
	assert.Equal(t, "Certificate", ce.Field)
	assert.Contains(t, err.Error(), "ECDSA")

	// A hand-built Certificate whose key is not the leaf's.
	cfg.Certificate = &entra.Certificate{Chain: ec.Chain, Key: p.leafKey}
	_, err = cfg.Credential()
	require.ErrorContains(t, err, "does not belong to the certificate")

	cfg.Certificate = &entra.Certificate{Key: p.leafKey}
	_, err = cfg.Credential()
	require.ErrorContains(t, err, "no leaf")
}
