package entra_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/oauth"
	"github.com/mailoauth/mailoauth/provider/providertest"
)

const (
	probeClientID = "5a4e3c2b-1d0f-4e9a-8b7c-6d5e4f3a2b1c"
	probeSecret   = "Pr0be~Secret.Value_never-print-me"
	probeSecretID = "9b8a7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"
)

// probeCerts are two self-signed RSA certificates with keys, made once per
// test binary (RSA key generation is slow under -race).
var probeCerts = sync.OnceValues(func() (*entra.Certificate, *entra.Certificate) {
	mk := func(cn string) *entra.Certificate {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(7),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(365 * 24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			panic(err)
		}
		return &entra.Certificate{Chain: []*x509.Certificate{cert}, Key: key}
	}
	return mk("probe registered"), mk("probe other")
})

// probeEnv is a providertest server with one confidential app, and a
// Config that signs in at it with the app's secret.
func probeEnv(t *testing.T, app providertest.App) (*providertest.Server, entra.Config) {
	t.Helper()
	srv := providertest.New()
	t.Cleanup(srv.Close)
	srv.AddApp(app)
	return srv, entra.Config{
		TenantID:     providertest.DefaultTenant,
		ClientID:     probeClientID,
		ClientSecret: probeSecret,
		Cloud:        entra.Global.WithAuthorityHost(srv.URL()),
		HTTPClient:   srv.Client(),
		Clock:        srv,
	}
}

func confidentialApp() providertest.App {
	return providertest.App{ClientID: probeClientID, Secret: probeSecret, SecretID: probeSecretID}
}

// TestProbeCredentials runs the probe against each outcome the identity
// provider can give, and checks the verdict, the words and the diagnosis.
func TestProbeCredentials(t *testing.T) {
	registered, other := probeCerts()
	tests := []struct {
		name     string
		app      providertest.App
		edit     func(srv *providertest.Server, cfg *entra.Config)
		accepted bool
		cred     string
		problem  string // substring of Problem
		code     string // Diagnosis.Code
		kind     provider.Kind
	}{
		{name: "valid secret", app: confidentialApp(), accepted: true, cred: entra.SourceClientSecret},
		{name: "wrong secret", app: confidentialApp(),
			edit:    func(_ *providertest.Server, cfg *entra.Config) { cfg.ClientSecret = "Wr0ng~Secret.Value" },
			problem: "the client secret is wrong for app " + probeClientID, code: "AADSTS7000215", kind: provider.Misconfigured, cred: entra.SourceClientSecret},
		{name: "secret ID pasted instead of the value", app: confidentialApp(),
			edit:    func(_ *providertest.Server, cfg *entra.Config) { cfg.ClientSecret = probeSecretID },
			problem: "the client secret given is the secret's ID (a GUID), not its value", code: "AADSTS7000215", kind: provider.Misconfigured, cred: entra.SourceClientSecret},
		{name: "expired secret with its date configured",
			app: providertest.App{ClientID: probeClientID, Secret: probeSecret, SecretExpiresAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
			edit: func(srv *providertest.Server, cfg *entra.Config) {
				cfg.SecretExpiresAt = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
				if srv.Now().Before(cfg.SecretExpiresAt) {
					srv.Advance(cfg.SecretExpiresAt.Sub(srv.Now()) + time.Hour)
				}
			},
			problem: "the client secret expired on 2026-03-01", code: "AADSTS7000222", kind: provider.Misconfigured, cred: entra.SourceClientSecret},
		{name: "expired secret, date unknown",
			app: providertest.App{ClientID: probeClientID, Secret: probeSecret},
			edit: func(srv *providertest.Server, cfg *entra.Config) {
				srv.AddApp(providertest.App{ClientID: probeClientID, Secret: probeSecret, SecretExpiresAt: srv.Now().Add(-time.Minute)})
			},
			problem: "the client secret has expired", code: "AADSTS7000222", kind: provider.Misconfigured, cred: entra.SourceClientSecret},
		{name: "unknown app", app: confidentialApp(),
			edit:    func(_ *providertest.Server, cfg *entra.Config) { cfg.ClientID = "00000000-1111-4222-8333-444444444444" },
			problem: "app 00000000-1111-4222-8333-444444444444 is not registered in tenant " + providertest.DefaultTenant, code: "AADSTS700016", kind: provider.Misconfigured, cred: entra.SourceClientSecret},
		{name: "app registered in another tenant", app: confidentialApp(),
			edit: func(srv *providertest.Server, cfg *entra.Config) {
				srv.AddApp(providertest.App{ClientID: "6b5a4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d", Tenant: otherTenant})
				cfg.TenantID = otherTenant
			},
			problem: "app " + probeClientID + " is not registered in tenant " + otherTenant, code: "AADSTS700016", kind: provider.Misconfigured, cred: entra.SourceClientSecret},
		{name: "unknown tenant", app: confidentialApp(),
			edit:    func(_ *providertest.Server, cfg *entra.Config) { cfg.TenantID = "contoso.onmicrosoft.con" },
			problem: "tenant contoso.onmicrosoft.con does not exist in the global cloud", code: "AADSTS90002", kind: provider.Misconfigured, cred: entra.SourceClientSecret},
		{name: "registered certificate", app: providertest.App{ClientID: probeClientID, Certificate: registered.Leaf()},
			edit:     func(_ *providertest.Server, cfg *entra.Config) { cfg.ClientSecret, cfg.Certificate = "", registered },
			accepted: true, cred: entra.SourceCertificate},
		{name: "certificate not registered", app: providertest.App{ClientID: probeClientID, Certificate: registered.Leaf()},
			edit:    func(_ *providertest.Server, cfg *entra.Config) { cfg.ClientSecret, cfg.Certificate = "", other },
			problem: "the certificate (thumbprint " + other.Thumbprint() + ") is not registered for app " + probeClientID, code: "AADSTS700027", kind: provider.Misconfigured, cred: entra.SourceCertificate},
		{name: "public client without credential", app: providertest.App{ClientID: probeClientID, Public: true},
			edit:     func(_ *providertest.Server, cfg *entra.Config) { cfg.ClientSecret = "" },
			accepted: true, cred: "none (public client)"},
		{name: "public client sent a secret", app: providertest.App{ClientID: probeClientID, Public: true},
			problem: "is a public client and must not send a client secret", code: "AADSTS700025", kind: provider.Misconfigured, cred: entra.SourceClientSecret},
		{name: "confidential client without credential", app: confidentialApp(),
			edit:    func(_ *providertest.Server, cfg *entra.Config) { cfg.ClientSecret = "" },
			problem: "is a confidential client and the configuration has no credential", code: "AADSTS7000218", kind: provider.Misconfigured, cred: "none (public client)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, cfg := probeEnv(t, tt.app)
			if tt.edit != nil {
				tt.edit(srv, &cfg)
			}
			res, err := entra.ProbeCredentials(context.Background(), cfg)
			if err != nil {
				t.Fatalf("ProbeCredentials: %v", err)
			}
			if n := srv.Requests("refresh_token"); n != 1 {
				t.Errorf("%d refresh_token requests, want exactly 1", n)
			}
			if res.Accepted != tt.accepted || res.Credential != tt.cred {
				t.Fatalf("result %+v, want accepted=%v credential %q", res, tt.accepted, tt.cred)
			}
			if tt.accepted {
				if res.Problem != "" || res.Diagnosis != nil || res.Err != nil {
					t.Errorf("accepted, yet %+v", res)
				}
				return
			}
			if !strings.Contains(res.Problem, tt.problem) {
				t.Errorf("Problem = %q, want it to contain %q", res.Problem, tt.problem)
			}
			if res.Diagnosis == nil || res.Diagnosis.Code != tt.code || res.Diagnosis.Kind != tt.kind || res.Diagnosis.Fix == "" {
				t.Errorf("Diagnosis = %+v, want %s %v with a fix", res.Diagnosis, tt.code, tt.kind)
			}
			var te *oauth.TokenError
			if !errors.As(res.Err, &te) {
				t.Errorf("Err %v does not hold the token endpoint's refusal", res.Err)
			}
			for _, secret := range []string{probeSecret, "Wr0ng~Secret.Value"} {
				if strings.Contains(res.Problem+res.Err.Error()+res.Diagnosis.Error(), secret) {
					t.Errorf("the secret leaked into the result")
				}
			}
		})
	}
}

func TestProbeExpiredSecretDiagnosisNamesTheDate(t *testing.T) {
	exp := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	srv, cfg := probeEnv(t, providertest.App{ClientID: probeClientID, Secret: probeSecret, SecretExpiresAt: exp})
	cfg.SecretExpiresAt = exp
	if srv.Now().Before(exp) {
		srv.Advance(exp.Sub(srv.Now()) + time.Hour)
	}
	res, err := entra.ProbeCredentials(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Diagnosis == nil || !strings.Contains(res.Diagnosis.Summary, "2026-03-01") {
		t.Errorf("Diagnosis %+v does not name the date", res.Diagnosis)
	}
	var ece *entra.ExpiredCredentialError
	if !errors.As(res.Err, &ece) {
		t.Errorf("Err %v is not an *ExpiredCredentialError", res.Err)
	}
}

func TestProbeWarnsOfASecretAboutToExpire(t *testing.T) {
	srv, cfg := probeEnv(t, confidentialApp())
	cfg.SecretExpiresAt = srv.Now().Add(5 * 24 * time.Hour)
	res, err := entra.ProbeCredentials(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Accepted || !strings.Contains(res.Warning, "client secret expires on "+cfg.SecretExpiresAt.UTC().Format(time.DateOnly)) {
		t.Errorf("result %+v, want accepted with an expiry warning", res)
	}
	cfg.SecretExpiresAt = srv.Now().Add(90 * 24 * time.Hour)
	if res, err := entra.ProbeCredentials(context.Background(), cfg); err != nil || res.Warning != "" {
		t.Errorf("far expiry: %+v, %v", res, err)
	}
}

// TestProbeWithoutVerdict: throttling, a failing endpoint and an
// unreachable one give an error diagnosed Transient, never a verdict.
func TestProbeWithoutVerdict(t *testing.T) {
	for _, f := range []providertest.Failure{
		providertest.ServerError(503),
		providertest.TooManyRequests(10 * time.Second),
	} {
		srv, cfg := probeEnv(t, confidentialApp())
		srv.FailNext(1, f)
		res, err := entra.ProbeCredentials(context.Background(), cfg)
		if err == nil || res != nil {
			t.Fatalf("HTTP %d: result %+v, error %v", f.Status, res, err)
		}
		var d *provider.Diagnosis
		if !errors.As(err, &d) || d.Kind != provider.Transient {
			t.Errorf("HTTP %d: diagnosis %+v, want Transient", f.Status, d)
		}
	}

	srv, cfg := probeEnv(t, confidentialApp())
	srv.Close()
	res, err := entra.ProbeCredentials(context.Background(), cfg)
	if err == nil || res != nil {
		t.Fatalf("closed server: result %+v, error %v", res, err)
	}
	if d := provider.Diagnose(err); d == nil || d.Kind != provider.Transient {
		t.Errorf("closed server: diagnosis %+v, want Transient", d)
	}
}

func TestProbeRefusesAnUnusableConfig(t *testing.T) {
	_, cfg := probeEnv(t, confidentialApp())
	cfg.TenantID = ""
	_, err := entra.ProbeCredentials(context.Background(), cfg)
	var ce *provider.ConfigError
	if !errors.As(err, &ce) || ce.Field != "TenantID" {
		t.Errorf("error %v, want a ConfigError for TenantID", err)
	}
}
