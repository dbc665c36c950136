package entra_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
)

func TestCloudPresets(t *testing.T) {
	cases := []struct {
		name           string
		cloud          entra.Cloud
		login          string
		smtp, imap     string
		appScope       string
		delegatedScope []string
	}{
		{"zero value is global", entra.Cloud{}, "https://login.microsoftonline.com", "smtp.office365.com", "outlook.office365.com",
			"https://outlook.office365.com/.default",
			[]string{"offline_access", "https://outlook.office.com/SMTP.Send", "https://outlook.office.com/IMAP.AccessAsUser.All"}},
		{"global", entra.Global, "https://login.microsoftonline.com", "smtp.office365.com", "outlook.office365.com",
			"https://outlook.office365.com/.default",
			[]string{"offline_access", "https://outlook.office.com/SMTP.Send", "https://outlook.office.com/IMAP.AccessAsUser.All"}},
		{"GCC High", entra.USGovernment, "https://login.microsoftonline.us", "outlook.office365.us", "outlook.office365.us",
			"https://outlook.office365.us/.default",
			[]string{"offline_access", "https://outlook.office365.us/SMTP.Send", "https://outlook.office365.us/IMAP.AccessAsUser.All"}},
		{"DoD", entra.USGovernmentDoD, "https://login.microsoftonline.us", "outlook-dod.office365.us", "outlook-dod.office365.us",
			"https://outlook-dod.office365.us/.default",
			[]string{"offline_access", "https://outlook-dod.office365.us/SMTP.Send", "https://outlook-dod.office365.us/IMAP.AccessAsUser.All"}},
		{"China", entra.China, "https://login.partner.microsoftonline.cn", "partner.outlook.cn", "partner.outlook.cn",
			"https://partner.outlook.cn/.default",
			[]string{"offline_access", "https://partner.outlook.cn/SMTP.Send", "https://partner.outlook.cn/IMAP.AccessAsUser.All"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := entra.Config{TenantID: "tenant-1", Cloud: tc.cloud}
			assert.Equal(t, tc.login+"/tenant-1/oauth2/v2.0/token", cfg.TokenURL())
			assert.Equal(t, tc.login+"/tenant-1/oauth2/v2.0/authorize", cfg.AuthorizeURL())
			assert.Equal(t, tc.login+"/tenant-1/oauth2/v2.0/devicecode", cfg.DeviceCodeURL())
			assert.Equal(t, tc.appScope, tc.cloud.AppOnlyScope())
			assert.Equal(t, tc.delegatedScope, cfg.DelegatedScopes())

			mb := mailboxOf(t, cfg)
			assert.Equal(t, provider.Server{Host: tc.smtp, Port: 587, Security: provider.StartTLS}, mb.SMTP)
			assert.Equal(t, provider.Server{Host: tc.imap, Port: 993, Security: provider.ImplicitTLS}, mb.IMAP)
		})
	}
}

func TestDelegatedScopesFollowProtocols(t *testing.T) {
	cfg := entra.Config{Protocols: entra.SMTP}
	assert.Equal(t, []string{"offline_access", "https://outlook.office.com/SMTP.Send"}, cfg.DelegatedScopes())
	cfg.Protocols = entra.IMAP
	assert.Equal(t, []string{"offline_access", "https://outlook.office.com/IMAP.AccessAsUser.All"}, cfg.DelegatedScopes())
	cfg.Protocols = entra.SMTP | entra.IMAP
	assert.Len(t, cfg.DelegatedScopes(), 3)
}

func TestAuthorityHostOverride(t *testing.T) {
	// A test server: everything else stays global.
	cfg := entra.Config{TenantID: "t", Cloud: entra.Cloud{AuthorityHost: "https://127.0.0.1:8443/"}}
	assert.Equal(t, "https://127.0.0.1:8443/t/oauth2/v2.0/token", cfg.TokenURL(), "trailing slash dropped")
	assert.Equal(t, "https://outlook.office365.com/.default", cfg.Cloud.AppOnlyScope())

	gov := entra.USGovernment.WithAuthorityHost("https://idp.test")
	cfg = entra.Config{TenantID: "t", Cloud: gov}
	assert.Equal(t, "https://idp.test/t/oauth2/v2.0/token", cfg.TokenURL())
	assert.Equal(t, "https://outlook.office365.us/.default", gov.AppOnlyScope(), "the cloud's resource is kept")
	assert.Equal(t, "https://login.microsoftonline.us", entra.USGovernment.AuthorityHost, "the preset is not changed")
}
