package entra_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/mailoauth/mailoauth/internal/jwt"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/oauth"
	"github.com/mailoauth/mailoauth/provider/providertest"
)

// appTokenClaims are the claims of an app-only access token that matter.
type appTokenClaims struct {
	Aud   string   `json:"aud"`
	Tid   string   `json:"tid"`
	AppID string   `json:"appid"`
	Roles []string `json:"roles"`
}

func TestClientCredentialsWithSecret(t *testing.T) {
	e := newEnv(t)
	e.srv.AddApp(providertest.App{ClientID: testClientID, Secret: testSecret,
		Roles: []string{"SMTP.SendAsApp", "IMAP.AccessAsApp"}, Mailboxes: []string{testMailbox}})
	cfg := e.cfg
	cfg.ClientSecret = testSecret

	ctx := context.Background()
	mb, err := entra.ClientCredentials(ctx, cfg)
	require.NoError(t, err)
	assert.Equal(t, 1, e.srv.Requests("client_credentials"), "one token fetched eagerly to validate the configuration")

	tok, err := mb.Tokens.Token(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, e.srv.Requests("client_credentials"), "the eager token is reused")
	require.NoError(t, e.srv.VerifySASL(testMailbox, tok.AccessToken), "the token opens the mailbox")

	var claims appTokenClaims
	require.NoError(t, jwt.Decode(tok.AccessToken, nil, &claims))
	assert.Equal(t, "https://outlook.office365.com", claims.Aud, "scope https://outlook.office365.com/.default")
	assert.Equal(t, providertest.DefaultTenant, claims.Tid)
	assert.Equal(t, testClientID, claims.AppID)
	assert.ElementsMatch(t, []string{"SMTP.SendAsApp", "IMAP.AccessAsApp"}, claims.Roles)

	// A refused token is replaced by a new request.
	mb.Tokens.Invalidate(tok)
	tok2, err := mb.Tokens.Token(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, tok.AccessToken, tok2.AccessToken)
	assert.Equal(t, 2, e.srv.Requests("client_credentials"))

	assert.NotContains(t, e.logs.String(), testSecret)
	assert.NotContains(t, e.logs.String(), tok.AccessToken)
}

func TestClientCredentialsLazyFetchesNothing(t *testing.T) {
	e := newEnv(t)
	e.srv.AddApp(providertest.App{ClientID: testClientID, Secret: testSecret})
	cfg := e.cfg
	cfg.ClientSecret, cfg.Lazy = testSecret, true
	mb, err := entra.ClientCredentials(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, 0, e.srv.Hits("token"))
	_, err = mb.Tokens.Token(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, e.srv.Requests("client_credentials"))
}

func TestClientCredentialsFailsFastOnAWrongSecret(t *testing.T) {
	e := newEnv(t)
	e.srv.AddApp(providertest.App{ClientID: testClientID, Secret: testSecret, SecretID: "c0ffee00-secret-id"})
	cfg := e.cfg
	cfg.ClientSecret = "c0ffee00-secret-id" // the Secret ID pasted instead of the Value

	mb, err := entra.ClientCredentials(context.Background(), cfg)
	require.Error(t, err)
	assert.Nil(t, mb)
	var te *oauth.TokenError
	require.True(t, errors.As(err, &te), "got %v", err)
	assert.Equal(t, "invalid_client", te.Code())
	assert.Contains(t, err.Error(), "AADSTS7000215")
	assert.Contains(t, err.Error(), testClientID, "the error says which app")
	assert.NotContains(t, err.Error(), "c0ffee00-secret-id")
}

func TestClientCredentialsExpiredSecretNamesTheDate(t *testing.T) {
	e := newEnv(t)
	expired := e.srv.Now().Add(-3 * 24 * time.Hour).Truncate(24 * time.Hour)
	e.srv.AddApp(providertest.App{ClientID: testClientID, Secret: testSecret, SecretExpiresAt: expired})
	cfg := e.cfg
	cfg.ClientSecret, cfg.SecretExpiresAt = testSecret, expired

	_, err := entra.ClientCredentials(context.Background(), cfg)
	var ee *entra.ExpiredCredentialError
	require.True(t, errors.As(err, &ee), "got %v", err)
	date := expired.UTC().Format(time.DateOnly)
	assert.Contains(t, err.Error(), "the client secret expired on "+date)
	d := provider.Diagnose(err)
	require.NotNil(t, d)
	assert.Equal(t, provider.Misconfigured, d.Kind)
	assert.Contains(t, d.Summary, date)
	assert.Equal(t, []string{"ERROR entra: the client secret expired on " + date + "; token requests will fail: add a new client secret under the app registration's Certificates & secrets and give the program its value and its expiry date"},
		entraRecords(e.logs.records(t, slog.LevelWarn)))
	assert.NotContains(t, e.logs.String(), testSecret)
}

func TestClientCredentialsWarnsBeforeTheSecretExpires(t *testing.T) {
	e := newEnv(t)
	e.srv.SetTokenLifetime(time.Hour)
	expires := e.srv.Now().Add(8 * 24 * time.Hour)
	e.srv.AddApp(providertest.App{ClientID: testClientID, Secret: testSecret, SecretExpiresAt: expires})
	cfg := e.cfg
	cfg.ClientSecret, cfg.SecretExpiresAt = testSecret, expires
	ctx := context.Background()

	mb, err := entra.ClientCredentials(ctx, cfg)
	require.NoError(t, err)
	warnings := entraRecords(e.logs.records(t, slog.LevelWarn))
	require.Len(t, warnings, 1, "8 days left: the 30-day warning, once")
	assert.Contains(t, warnings[0], "expires in 8 days")

	// A day of hourly tokens brings no repeat; crossing 7 days brings one.
	for range 30 {
		e.srv.Advance(time.Hour)
		_, err := mb.Tokens.Token(ctx)
		require.NoError(t, err)
	}
	assert.Greater(t, e.srv.Requests("client_credentials"), 20, "tokens were fetched as they expired")
	warnings = entraRecords(e.logs.records(t, slog.LevelWarn))
	require.Len(t, warnings, 2)
	assert.Contains(t, warnings[1], "expires in 7 days")
}

func TestClientCredentialsWithCertificate(t *testing.T) {
	p := getPKI(t)
	pfx, err := pkcs12.Modern.Encode(p.leafKey, p.leaf, []*x509.Certificate{p.ca}, "export-pass")
	require.NoError(t, err)
	//lint:ignore SA1019 the legacy encoder is how many Windows exports look.
	legacyPFX, err := pkcs12.Encode(rand.Reader, p.leafKey, p.leaf, nil, "export-pass") //nolint:staticcheck
	require.NoError(t, err)

	load := map[string]func() (*entra.Certificate, error){
		"PEM": func() (*entra.Certificate, error) {
			return entra.ParseCertificatePEM(concat(pemCert(p.leaf), pemPKCS1(p.leafKey)))
		},
		"PKCS#12":          func() (*entra.Certificate, error) { return entra.ParseCertificatePKCS12(pfx, "export-pass") },
		"PKCS#12 (legacy)": func() (*entra.Certificate, error) { return entra.ParseCertificatePKCS12(legacyPFX, "export-pass") },
	}
	for name, fn := range load {
		for _, alg := range []entra.AssertionAlgorithm{entra.AssertionPS256, entra.AssertionRS256} {
			t.Run(name+" "+alg.String(), func(t *testing.T) {
				e := newEnv(t)
				e.srv.AddApp(providertest.App{ClientID: testClientID, Certificate: p.leaf, Roles: []string{"SMTP.SendAsApp"}})
				cert, err := fn()
				require.NoError(t, err)
				cfg := e.cfg
				cfg.Certificate, cfg.AssertionAlgorithm = cert, alg

				ctx := context.Background()
				mb, err := entra.ClientCredentials(ctx, cfg)
				require.NoError(t, err)
				tok, err := mb.Tokens.Token(ctx)
				require.NoError(t, err)
				require.NoError(t, e.srv.VerifySASL(testMailbox, tok.AccessToken))

				// Each request carries a new assertion: the server refuses a
				// reused jti, so three more tokens prove three new ones.
				for range 3 {
					mb.Tokens.Invalidate(tok)
					tok, err = mb.Tokens.Token(ctx)
					require.NoError(t, err)
				}
				assert.Equal(t, 4, e.srv.Requests("client_credentials"))
			})
		}
	}
}

func TestClientCredentialsWithAnUnregisteredCertificate(t *testing.T) {
	p := getPKI(t)
	e := newEnv(t)
	e.srv.AddApp(providertest.App{ClientID: testClientID, Certificate: p.ca}) // another certificate
	cert, err := entra.ParseCertificatePEM(concat(pemCert(p.leaf), pemPKCS8(t, p.leafKey)))
	require.NoError(t, err)
	cfg := e.cfg
	cfg.Certificate = cert
	_, err = entra.ClientCredentials(context.Background(), cfg)
	var te *oauth.TokenError
	require.True(t, errors.As(err, &te), "got %v", err)
	assert.Equal(t, "invalid_client", te.Code())
}

func TestClientCredentialsAssertionOnTheWire(t *testing.T) {
	// What the token endpoint receives, read back from a real request.
	p := getPKI(t)
	e := newEnv(t)
	e.srv.AddApp(providertest.App{ClientID: testClientID, Certificate: p.leaf})
	cert, err := entra.ParseCertificatePEM(concat(pemCert(p.leaf), pemPKCS8(t, p.leafKey)))
	require.NoError(t, err)
	cfg := e.cfg
	cfg.Certificate, cfg.Lazy = cert, true
	var form url.Values
	cfg.HTTPClient = recordingClient(e.srv.Client(), func(f url.Values) { form = f })

	mb, err := entra.ClientCredentials(context.Background(), cfg)
	require.NoError(t, err)
	_, err = mb.Tokens.Token(context.Background())
	require.NoError(t, err)

	assert.Equal(t, "client_credentials", form.Get("grant_type"))
	assert.Equal(t, "https://outlook.office365.com/.default", form.Get("scope"))
	assert.Equal(t, testClientID, form.Get("client_id"))
	assert.Empty(t, form.Get("client_secret"))
	var claims assertionClaims
	header, err := jwt.Verify(form.Get("client_assertion"), &p.leafKey.PublicKey, &claims)
	require.NoError(t, err)
	assert.Equal(t, "PS256", header["alg"])
	assert.Equal(t, e.srv.URL()+"/"+providertest.DefaultTenant+"/oauth2/v2.0/token", claims.Aud)
	assert.LessOrEqual(t, claims.Exp-claims.Nbf, int64(600))
}
