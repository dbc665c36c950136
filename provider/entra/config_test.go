package entra_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// mailboxOf returns the Mailbox of cfg without any network traffic.
func mailboxOf(t *testing.T, cfg entra.Config) *provider.Mailbox {
	t.Helper()
	cfg.ClientID, cfg.ClientSecret, cfg.Mailbox, cfg.Lazy = "client", "secret", "box@contoso.com", true
	mb, err := entra.ClientCredentials(context.Background(), cfg)
	require.NoError(t, err)
	return mb
}

func TestClientCredentialsMailbox(t *testing.T) {
	mb := mailboxOf(t, entra.Config{TenantID: "contoso.com"})
	assert.Equal(t, "box@contoso.com", mb.Address)
	assert.Equal(t, "XOAUTH2", string(mb.Mechanism))
	assert.Equal(t, provider.Limits{MaxConns: 3, MessagesPerMinute: 30, MaxRecipients: 500}, mb.Limits)
	assert.NotNil(t, mb.Tokens)
}

func TestConfigValidation(t *testing.T) {
	p := getPKI(t)
	cert, err := entra.ParseCertificatePEM(concat(pemCert(p.leaf), pemPKCS8(t, p.leafKey)))
	require.NoError(t, err)
	good := entra.Config{TenantID: "contoso.com", ClientID: "client", ClientSecret: "s", Mailbox: "a@contoso.com", Lazy: true}

	cases := []struct {
		name    string
		change  func(*entra.Config)
		field   string
		appOnly bool // the rule is client credentials only
	}{
		{"missing tenant", func(c *entra.Config) { c.TenantID = " " }, "TenantID", false},
		{"tenant with a slash", func(c *entra.Config) { c.TenantID = "contoso.com/../x" }, "TenantID", false},
		{"common tenant for app-only", func(c *entra.Config) { c.TenantID = "common" }, "TenantID", true},
		{"organizations tenant for app-only", func(c *entra.Config) { c.TenantID = "Organizations" }, "TenantID", true},
		{"missing client", func(c *entra.Config) { c.ClientID = "" }, "ClientID", false},
		{"no credential for app-only", func(c *entra.Config) { c.ClientSecret = "" }, "ClientSecret", true},
		{"secret and certificate", func(c *entra.Config) { c.Certificate = cert }, "ClientSecret", false},
		{"missing mailbox", func(c *entra.Config) { c.Mailbox = "" }, "Mailbox", false},
		{"mailbox with control byte", func(c *entra.Config) { c.Mailbox = "a@b\x01auth=x" }, "Mailbox", false},
		{"authority without scheme", func(c *entra.Config) { c.Cloud.AuthorityHost = "login.microsoftonline.com" }, "Cloud.AuthorityHost", false},
		{"authority over plain http", func(c *entra.Config) { c.Cloud.AuthorityHost = "http://login.example.com" }, "Cloud.AuthorityHost", false},
		{"authority with a path", func(c *entra.Config) { c.Cloud.AuthorityHost = "https://login.microsoftonline.com/tenant" }, "Cloud.AuthorityHost", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.change(&cfg)
			_, err := entra.ClientCredentials(context.Background(), cfg)
			var ce *provider.ConfigError
			require.True(t, errors.As(err, &ce), "ClientCredentials: got %v", err)
			assert.Equal(t, tc.field, ce.Field)
			assert.NotContains(t, err.Error(), "s3cr3t")

			_, err = entra.Delegated(context.Background(), cfg, tokenstore.NewMemory())
			if tc.appOnly {
				assert.False(t, errors.As(err, &ce) && ce.Field == tc.field, "Delegated allows it: got %v", err)
			} else {
				require.True(t, errors.As(err, &ce), "Delegated: got %v", err)
				assert.Equal(t, tc.field, ce.Field)
			}
		})
	}

	t.Run("plain http to loopback is fine", func(t *testing.T) {
		cfg := good
		cfg.Cloud.AuthorityHost = "http://127.0.0.1:8080"
		_, err := entra.ClientCredentials(context.Background(), cfg)
		require.NoError(t, err)
	})
	t.Run("certificate only is fine", func(t *testing.T) {
		cfg := good
		cfg.ClientSecret, cfg.Certificate = "", cert
		_, err := entra.ClientCredentials(context.Background(), cfg)
		require.NoError(t, err)
	})
	t.Run("Delegated needs a store", func(t *testing.T) {
		_, err := entra.Delegated(context.Background(), good, nil)
		var ce *provider.ConfigError
		require.True(t, errors.As(err, &ce))
		assert.Equal(t, "store", ce.Field)
	})
}

func TestConfigNeverPrintsTheSecret(t *testing.T) {
	cfg := entra.Config{TenantID: "t", ClientID: "c", ClientSecret: "s3cr3t-Value~xyz", Mailbox: "m@x"}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "cfg", cfg)
	for _, out := range []string{fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), cfg.String(), logged.String()} {
		assert.NotContains(t, out, "s3cr3t")
		assert.Contains(t, out, "redacted")
	}
}

func TestStoreKey(t *testing.T) {
	cfg := entra.Config{TenantID: "Contoso.com", ClientID: "ABC", Mailbox: "HelpDesk@Contoso.com"}
	assert.Equal(t, "entra:contoso.com:abc:helpdesk@contoso.com", cfg.Key())
	cfg.StoreKey = "mine"
	assert.Equal(t, "mine", cfg.Key())
}
