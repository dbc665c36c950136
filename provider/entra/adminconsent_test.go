package entra_test

import (
	"errors"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
)

func TestAdminConsentURL(t *testing.T) {
	const redirect = "https://helpdesk.example/admin/consented?x=1"
	cases := []struct {
		name      string
		cfg       entra.Config
		wantBase  string
		wantScope string
	}{
		{"IMAP and SMTP, global", entra.Config{TenantID: "organizations", ClientID: "app-1"},
			"https://login.microsoftonline.com/organizations/v2.0/adminconsent", "https://ps.outlook.com/.default"},
		{"IMAP only, global", entra.Config{TenantID: "fabrikam.com", ClientID: "app-1", Protocols: entra.IMAP},
			"https://login.microsoftonline.com/fabrikam.com/v2.0/adminconsent", "https://ps.outlook.com/.default"},
		{"SMTP only, global", entra.Config{TenantID: "fabrikam.com", ClientID: "app-1", Protocols: entra.SMTP},
			"https://login.microsoftonline.com/fabrikam.com/v2.0/adminconsent", "https://outlook.office365.com/.default"},
		{"GCC High", entra.Config{TenantID: "gov.us", ClientID: "app-1", Cloud: entra.USGovernment},
			"https://login.microsoftonline.us/gov.us/v2.0/adminconsent", "https://outlook.office365.us/.default"},
		{"China", entra.Config{TenantID: "cn", ClientID: "app-1", Cloud: entra.China},
			"https://login.partner.microsoftonline.cn/cn/v2.0/adminconsent", "https://partner.outlook.cn/.default"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := entra.AdminConsentURL(tc.cfg, redirect, "st&ate=1")
			require.NoError(t, err)
			u, err := url.Parse(s)
			require.NoError(t, err)
			assert.Equal(t, tc.wantBase, u.Scheme+"://"+u.Host+u.Path)
			q := u.Query()
			assert.Equal(t, "app-1", q.Get("client_id"))
			assert.Equal(t, redirect, q.Get("redirect_uri"), "redirect URI survives escaping")
			assert.Equal(t, tc.wantScope, q.Get("scope"))
			assert.Equal(t, "st&ate=1", q.Get("state"))
			assert.Len(t, q, 4)
		})
	}
}

func TestAdminConsentURLRefusesBadInput(t *testing.T) {
	good := entra.Config{TenantID: "organizations", ClientID: "app-1"}
	cases := []struct {
		name, redirect, state string
		cfg                   entra.Config
		field                 string
	}{
		{"no state", "https://a.example/cb", "", good, "state"},
		{"relative redirect", "/cb", "s", good, "redirectURL"},
		{"redirect with fragment", "https://a.example/cb#x", "s", good, "redirectURL"},
		{"no client", "https://a.example/cb", "s", entra.Config{TenantID: "organizations"}, "ClientID"},
		{"no tenant", "https://a.example/cb", "s", entra.Config{ClientID: "c"}, "TenantID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := entra.AdminConsentURL(tc.cfg, tc.redirect, tc.state)
			assert.Empty(t, s)
			var ce *provider.ConfigError
			require.True(t, errors.As(err, &ce), "got %v", err)
			assert.Equal(t, tc.field, ce.Field)
		})
	}
}
