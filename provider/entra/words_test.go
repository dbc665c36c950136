package entra_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mailoauth/mailoauth/internal/gowords"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// entraNames are the Go identifiers an operator never needs to read: the
// configuration's fields and the package's functions.
var entraNames = gowords.Names([]any{entra.Config{}, entra.Certificate{}, entra.Cloud{}, entra.ProbeResult{}},
	"ClientCredentials", "Delegated", "AuthorizeDevice", "NewDeviceFlow", "NewAuthCodeFlow", "KeepAlive",
	"ProbeCredentials", "AdminConsentURL", "CredentialExpiry", "DelegatedScopes", "WithAuthorityHost")

// checkWords fails t when text names a Go identifier.
func checkWords(t *testing.T, where, text string) {
	t.Helper()
	if found := gowords.Find(text, entraNames); len(found) > 0 {
		t.Errorf("%s names Go identifiers %q:\n%s", where, found, text)
	}
}

// TestTextsSpeakTheOperatorsLanguage: what the package tells an operator
// (a configuration error's reason, a probe's problem and warning, an expired
// secret's error and diagnosis, the expiry warnings, a missing grant, a
// token's problems) names settings as the operator knows them (the
// directory (tenant) ID, the secret's value and expiry date), never a Go
// field or function.
func TestTextsSpeakTheOperatorsLanguage(t *testing.T) {
	ctx := context.Background()
	p := getPKI(t)
	ec, err := entra.ParseCertificatePEM(concat(pemCert(p.ecLeaf), pemEC(t, p.ecKey)))
	require.NoError(t, err)
	good := entra.Config{TenantID: "contoso.com", ClientID: "client", ClientSecret: "s", Mailbox: "a@contoso.com", Lazy: true}

	// Configuration errors: the reason, and the diagnosis made of it.
	for name, change := range map[string]func(*entra.Config){
		"missing tenant":          func(c *entra.Config) { c.TenantID = "" },
		"bad tenant":              func(c *entra.Config) { c.TenantID = "a/b" },
		"common tenant, app-only": func(c *entra.Config) { c.TenantID = "common" },
		"missing client":          func(c *entra.Config) { c.ClientID = "" },
		"no credential, app-only": func(c *entra.Config) { c.ClientSecret = "" },
		"secret and certificate":  func(c *entra.Config) { c.Certificate = ec },
		"EC certificate":          func(c *entra.Config) { c.ClientSecret, c.Certificate = "", ec },
		"missing mailbox":         func(c *entra.Config) { c.Mailbox = "" },
		"mailbox control bytes":   func(c *entra.Config) { c.Mailbox = "a@b\x01" },
		"login host not a URL":    func(c *entra.Config) { c.Cloud.AuthorityHost = "login.example.com" },
		"login host over http":    func(c *entra.Config) { c.Cloud.AuthorityHost = "http://login.example.com" },
	} {
		cfg := good
		change(&cfg)
		_, err := entra.ClientCredentials(ctx, cfg)
		var ce *provider.ConfigError
		require.True(t, errors.As(err, &ce), "%s: %v", name, err)
		checkWords(t, name+": Reason", ce.Reason)
		if d := provider.Diagnose(err); d != nil {
			checkWords(t, name+": Diagnosis", d.Summary+" "+d.Fix)
		}
	}
	for name, call := range map[string]func() error{
		"Delegated without a store":       func() error { _, err := entra.Delegated(ctx, good, nil); return err },
		"KeepAlive without a store":       func() error { _, err := entra.KeepAlive(ctx, good, nil); return err },
		"NewDeviceFlow without a store":   func() error { _, err := entra.NewDeviceFlow(good, nil); return err },
		"NewAuthCodeFlow without a store": func() error { _, err := entra.NewAuthCodeFlow(good, nil, "https://x/cb"); return err },
		"a relative redirect URL": func() error {
			_, err := entra.NewAuthCodeFlow(good, tokenstore.NewMemory(), "/cb")
			return err
		},
		"AuthorizeDevice without a prompt": func() error {
			_, err := entra.AuthorizeDevice(ctx, good, tokenstore.NewMemory(), nil)
			return err
		},
		"admin consent without state": func() error { _, err := entra.AdminConsentURL(good, "https://x/cb", ""); return err },
		"Delegated without a grant": func() error {
			cfg := good
			cfg.Lazy = false
			_, err := entra.Delegated(ctx, cfg, tokenstore.NewMemory())
			return err
		},
	} {
		err := call()
		require.Error(t, err, name)
		var ce *provider.ConfigError
		if errors.As(err, &ce) {
			checkWords(t, name+": Reason", ce.Reason)
		} else {
			checkWords(t, name, err.Error())
		}
	}

	// The probe's verdicts.
	for _, code := range []int{7000215, 7000222, 700016, 90002, 90038, 7000218, 700025, 700027, 700024} {
		for _, secret := range []string{probeSecret, probeSecretID} {
			srv, cfg := probeEnv(t, confidentialApp())
			cfg.ClientSecret = secret
			srv.FailNext(1, providertest.AADSTS(code, "invalid_client", "refused"))
			res, err := entra.ProbeCredentials(ctx, cfg)
			require.NoError(t, err)
			checkWords(t, "probe problem", res.Problem)
		}
	}
	srv, cfg := probeEnv(t, confidentialApp())
	cfg.SecretExpiresAt = srv.Now().Add(-time.Hour)
	res, err := entra.ProbeCredentials(ctx, cfg)
	require.NoError(t, err)
	require.NotEmpty(t, res.Warning)
	checkWords(t, "probe warning", res.Warning)

	// An expired secret whose date the configuration does not know, and
	// the warnings before a known date.
	srv, cfg = probeEnv(t, confidentialApp())
	cfg.Mailbox = testMailbox
	srv.FailNext(1, providertest.AADSTS(7000222, "invalid_client", "The provided client secret keys for app are expired."))
	_, err = entra.ClientCredentials(ctx, cfg)
	var exp *entra.ExpiredCredentialError
	require.True(t, errors.As(err, &exp), "%v", err)
	checkWords(t, "expired secret", exp.Error())
	d := exp.Diagnosis()
	checkWords(t, "expired secret's diagnosis", d.Summary+" "+d.Fix)

	logs := &logBuffer{}
	srv, cfg = probeEnv(t, providertest.App{ClientID: probeClientID, Secret: probeSecret, Roles: []string{"SMTP.SendAsApp"}})
	cfg.Mailbox = testMailbox
	cfg.SecretExpiresAt = srv.Now().Add(5 * 24 * time.Hour)
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	_, err = entra.ClientCredentials(ctx, cfg)
	require.NoError(t, err)
	require.Contains(t, logs.String(), "expires in")
	checkWords(t, "expiry warning", logs.String())

	// A token's problems.
	claims := &entra.Claims{Tenant: "11111111-1111-1111-1111-111111111111", ExpiresAt: time.Now().Add(-time.Hour)}
	problems := strings.Join(claims.Problems("", "22222222-2222-2222-2222-222222222222", time.Now()), "; ")
	require.NotEmpty(t, problems)
	checkWords(t, "token problems", problems)
}
