package entra

import (
	"github.com/mailoauth/mailoauth/provider"
)

// Exchange Online ports (https://learn.microsoft.com/en-us/exchange/clients-and-mobile-in-exchange-online/authenticated-client-smtp-submission): submission on 587 with
// STARTTLS (465 is not supported for SMTP AUTH), IMAP on 993 with TLS.
const (
	smtpSubmissionPort = 587
	imapTLSPort        = 993
)

// Cloud is one Microsoft cloud: where its users sign in, where its Exchange
// Online servers are, and the resource URIs its mail scopes are built on.
//
// A login host and an Exchange host must come from the same cloud: an app
// registered in one national cloud does not exist in another. Empty fields
// take the value of Global, so Cloud{AuthorityHost: testServerURL} is the
// global cloud signing in at a test server.
type Cloud struct {
	// Name is for logs and errors ("global", "usgovernment", ...).
	Name string
	// AuthorityHost is the login host, scheme included and no trailing
	// slash, e.g. "https://login.microsoftonline.com". Tests point it at a
	// local identity provider (providertest).
	AuthorityHost string
	// SMTP and IMAP are the Exchange Online servers of the cloud.
	SMTP, IMAP provider.Server
	// ExchangeResource is the resource URI of app-only (client credentials)
	// tokens: the scope requested is ExchangeResource + "/.default".
	ExchangeResource string
	// DelegatedResource prefixes the delegated scopes:
	// DelegatedResource + "/SMTP.Send" and "/IMAP.AccessAsUser.All".
	DelegatedResource string
}

// The clouds Exchange Online runs in: login hosts from
// https://learn.microsoft.com/en-us/entra/identity-platform/authentication-national-cloud,
// mail hosts from the Microsoft 365 endpoint lists (worldwide, GCC High,
// DoD, 21Vianet) under https://learn.microsoft.com/en-us/microsoft-365/enterprise/.
var (
	// Global is the commercial cloud, including GCC ("moderate"), which uses
	// the worldwide endpoints.
	Global = Cloud{
		Name:              "global",
		AuthorityHost:     "https://login.microsoftonline.com",
		SMTP:              provider.Server{Host: "smtp.office365.com", Port: smtpSubmissionPort, Security: provider.StartTLS},
		IMAP:              provider.Server{Host: "outlook.office365.com", Port: imapTLSPort, Security: provider.ImplicitTLS},
		ExchangeResource:  "https://outlook.office365.com",
		DelegatedResource: "https://outlook.office.com",
	}

	// USGovernment is GCC High. Microsoft publishes outlook.office365.us as
	// the SMTP host; smtp.office365.us is also widely used.
	USGovernment = Cloud{
		Name:              "usgovernment",
		AuthorityHost:     "https://login.microsoftonline.us",
		SMTP:              provider.Server{Host: "outlook.office365.us", Port: smtpSubmissionPort, Security: provider.StartTLS},
		IMAP:              provider.Server{Host: "outlook.office365.us", Port: imapTLSPort, Security: provider.ImplicitTLS},
		ExchangeResource:  "https://outlook.office365.us",
		DelegatedResource: "https://outlook.office365.us",
	}

	// USGovernmentDoD is the US Department of Defense cloud. Its hosts are
	// Microsoft's published endpoints; its scope resource is not: Microsoft
	// style admin scripts use https://outlook-dod.office365.us while some
	// products use https://outlook.office365.us for delegated DoD scopes.
	// This preset uses outlook-dod for both; if a tenant refuses the scopes
	// (AADSTS500011 or AADSTS70011), copy the preset and set
	// DelegatedResource and ExchangeResource to https://outlook.office365.us.
	USGovernmentDoD = Cloud{
		Name:              "usgovernmentdod",
		AuthorityHost:     "https://login.microsoftonline.us",
		SMTP:              provider.Server{Host: "outlook-dod.office365.us", Port: smtpSubmissionPort, Security: provider.StartTLS},
		IMAP:              provider.Server{Host: "outlook-dod.office365.us", Port: imapTLSPort, Security: provider.ImplicitTLS},
		ExchangeResource:  "https://outlook-dod.office365.us",
		DelegatedResource: "https://outlook-dod.office365.us",
	}

	// China is the cloud operated by 21Vianet.
	China = Cloud{
		Name:              "china",
		AuthorityHost:     "https://login.partner.microsoftonline.cn",
		SMTP:              provider.Server{Host: "partner.outlook.cn", Port: smtpSubmissionPort, Security: provider.StartTLS},
		IMAP:              provider.Server{Host: "partner.outlook.cn", Port: imapTLSPort, Security: provider.ImplicitTLS},
		ExchangeResource:  "https://partner.outlook.cn",
		DelegatedResource: "https://partner.outlook.cn",
	}
)

// WithAuthorityHost returns a copy of c that signs in at host (for example
// a providertest server's URL).
func (c Cloud) WithAuthorityHost(host string) Cloud {
	c.AuthorityHost = host
	return c
}

// resolved returns c with its empty fields filled from Global.
func (c Cloud) resolved() Cloud {
	g := Global
	if c.Name == "" {
		c.Name = g.Name
	}
	if c.AuthorityHost == "" {
		c.AuthorityHost = g.AuthorityHost
	}
	if c.SMTP.Host == "" {
		c.SMTP = g.SMTP
	}
	if c.IMAP.Host == "" {
		c.IMAP = g.IMAP
	}
	if c.ExchangeResource == "" {
		c.ExchangeResource = g.ExchangeResource
	}
	if c.DelegatedResource == "" {
		c.DelegatedResource = g.DelegatedResource
	}
	for len(c.AuthorityHost) > 0 && c.AuthorityHost[len(c.AuthorityHost)-1] == '/' {
		c.AuthorityHost = c.AuthorityHost[:len(c.AuthorityHost)-1]
	}
	return c
}

// AppOnlyScope returns the client-credentials scope of the cloud,
// ExchangeResource + "/.default" (any other scope fails with AADSTS1002012).
func (c Cloud) AppOnlyScope() string {
	return c.resolved().ExchangeResource + "/.default"
}
