package entra

import (
	"net/url"
	"strings"

	"github.com/mailoauth/mailoauth/provider"
)

// legacyExchangeResource is the older application ID URI of Office 365
// Exchange Online that Microsoft's page for IMAP/POP app-only access uses
// in its admin-consent URL (https://learn.microsoft.com/en-us/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth). It names the same resource
// as https://outlook.office365.com, so one /.default consents to every
// Exchange permission the app registration lists. Microsoft documents it for
// the global cloud only.
const legacyExchangeResource = "https://ps.outlook.com"

// AdminConsentURL returns the page where an administrator of a customer
// tenant grants a multi-tenant app the Exchange Online permissions listed in
// its registration (IMAP.AccessAsApp, SMTP.SendAsApp, ...):
//
//	{authority}/{tenant}/v2.0/adminconsent?client_id=&redirect_uri=&scope=&state=
//
// cfg.TenantID is the customer's tenant, or "organizations" to let the admin
// pick it. The scope is https://ps.outlook.com/.default when cfg.Protocols
// includes IMAP (as Microsoft documents for IMAP and POP) and the cloud's
// ExchangeResource + "/.default" for SMTP only or in a national cloud.
// Entra redirects to redirectURL with admin_consent=True, tenant and state,
// or with error and error_description; check state before trusting it.
// Mailbox and credential are not needed.
func AdminConsentURL(cfg Config, redirectURL, state string) (string, error) {
	if err := cfg.validateApp(false); err != nil {
		return "", err
	}
	if err := checkRedirectURL(redirectURL); err != nil {
		return "", err
	}
	if strings.TrimSpace(state) == "" {
		return "", &provider.ConfigError{Package: "entra", Field: "state", Reason: "missing: pass a random value and check it on the redirect"}
	}
	cl := cfg.cloud()
	scope := cl.ExchangeResource + "/.default"
	if cfg.Protocols.has(IMAP) && cl.ExchangeResource == Global.ExchangeResource {
		scope = legacyExchangeResource + "/.default"
	}
	q := url.Values{
		"client_id":    {strings.TrimSpace(cfg.ClientID)},
		"redirect_uri": {redirectURL},
		"scope":        {scope},
		"state":        {state},
	}
	return cfg.endpoint("/v2.0/adminconsent") + "?" + q.Encode(), nil
}
