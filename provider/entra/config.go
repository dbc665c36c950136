package entra

import (
	"crypto/rsa"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mailoauth/mailoauth/internal/loopback"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/oauth"
	"github.com/mailoauth/mailoauth/retry"
)

// Config is one app registration and one mailbox. It is plain data: the
// flows read it and never change it.
//
// Exactly one credential or none: ClientSecret, Certificate, or neither (a
// public client, which only delegated flows accept).
type Config struct {
	// TenantID is the directory (tenant) ID or a verified domain. Delegated
	// flows also accept "organizations" and "common"; client credentials need
	// the real tenant.
	TenantID string
	// ClientID is the application (client) ID of the app registration.
	ClientID string
	// ClientSecret is the secret's Value (not its Secret ID).
	ClientSecret string
	// Certificate is a certificate credential instead of a secret: each
	// token request carries a newly signed client assertion.
	Certificate *Certificate
	// SecretExpiresAt is the client secret's expiry date as the portal shows
	// it; optional. When set, warnings are logged 30, 7 and 1 days before it
	// and an expired-secret error names the date. A certificate's expiry is
	// read from the certificate itself.
	SecretExpiresAt time.Time
	// Cloud is the Microsoft cloud; the zero value is Global. Its
	// AuthorityHost can be overridden (tests point it at providertest).
	Cloud Cloud
	// Mailbox is the mailbox address: the SASL user name, and the account a
	// delegated grant is stored for.
	Mailbox string
	// StoreKey is the tokenstore key of the delegated grant; empty: derived
	// from tenant, client and mailbox (see Config.Key).
	StoreKey string
	// HTTPClient carries every request to the identity provider; nil:
	// http.DefaultClient.
	HTTPClient *http.Client
	// Logger receives expiry warnings and flow events, never a secret; nil:
	// discard.
	Logger *slog.Logger

	// Protocols selects the delegated scopes (and the admin-consent scope):
	// the zero value asks for both SMTP and IMAP.
	Protocols Protocols
	// AssertionAlgorithm selects how certificate assertions are signed; the
	// zero value is PS256 with an x5t#S256 header, as Microsoft documents.
	AssertionAlgorithm AssertionAlgorithm
	// SendCertificateChain adds the certificate chain (x5c header) to each
	// assertion, for apps that trust certificates by subject name and
	// issuer instead of by an uploaded certificate.
	SendCertificateChain bool
	// KeepAliveAfter is the idle time after which KeepAlive refreshes a
	// delegated grant; zero: 14 days. Microsoft expires a refresh token
	// unused for 90 days.
	KeepAliveAfter time.Duration
	// Lazy makes ClientCredentials and Delegated return without fetching a
	// first token; by default they fetch one, so a wrong configuration fails
	// at start-up, not at the first message.
	Lazy bool
	// Clock tells the time for token expiry, assertions and expiry
	// warnings; nil: retry.System. Tests give providertest's Server. The
	// device flow's polls are paced on the wall clock (golang.org/x/oauth2
	// does the polling).
	Clock retry.Clock
}

// Protocols is a set of mail protocols a delegated grant is asked for.
type Protocols int

// The protocols. Combine them with |; the zero value means SMTP|IMAP.
const (
	SMTP Protocols = 1 << iota
	IMAP
)

// has reports whether p (zero meaning both) includes q.
func (p Protocols) has(q Protocols) bool {
	if p == 0 {
		return true
	}
	return p&q != 0
}

// tenant aliases that stand for "whichever tenant the user signs in to".
var tenantAliases = map[string]bool{"common": true, "organizations": true, "consumers": true}

// String hides the client secret and the private key, so that printing a
// Config (%v, %+v) never leaks them.
func (c Config) String() string {
	cred := "none (public client)"
	switch {
	case c.ClientSecret != "" && c.Certificate != nil:
		cred = "secret and certificate (invalid)"
	case c.ClientSecret != "":
		cred = "secret (redacted)"
	case c.Certificate != nil:
		cred = "certificate " + c.Certificate.Thumbprint()
	}
	return fmt.Sprintf("entra.Config{Tenant: %q, Client: %q, Credential: %s, Cloud: %s, Mailbox: %q}",
		c.TenantID, c.ClientID, cred, c.cloud().Name, c.Mailbox)
}

// GoString is String, so that %#v hides the secret too.
func (c Config) GoString() string { return c.String() }

// LogValue hides the secret from log/slog.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

func (c Config) cloud() Cloud { return c.Cloud.resolved() }

func (c Config) now() time.Time { return retry.Or(c.Clock).Now() }

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

func (c Config) endpoint(path string) string {
	return c.cloud().AuthorityHost + "/" + url.PathEscape(strings.TrimSpace(c.TenantID)) + path
}

// TokenURL is the v2.0 token endpoint, {authority}/{tenant}/oauth2/v2.0/token.
// It is also the audience of certificate assertions.
func (c Config) TokenURL() string { return c.endpoint("/oauth2/v2.0/token") }

// AuthorizeURL is the v2.0 authorization endpoint.
func (c Config) AuthorizeURL() string { return c.endpoint("/oauth2/v2.0/authorize") }

// DeviceCodeURL is the v2.0 device authorization endpoint.
func (c Config) DeviceCodeURL() string { return c.endpoint("/oauth2/v2.0/devicecode") }

// Key returns the tokenstore key of the delegated grant: StoreKey, or
// "entra:{tenant}:{client}:{mailbox}" with the mailbox in lower case.
func (c Config) Key() string {
	if c.StoreKey != "" {
		return c.StoreKey
	}
	return "entra:" + strings.ToLower(strings.TrimSpace(c.TenantID)) + ":" +
		strings.ToLower(strings.TrimSpace(c.ClientID)) + ":" +
		strings.ToLower(strings.TrimSpace(c.Mailbox))
}

// DelegatedScopes returns the scopes a delegated grant asks for:
// offline_access (for a refresh token) and SMTP.Send and/or
// IMAP.AccessAsUser.All on the cloud's delegated resource. The full resource
// URI matters: a bare "SMTP.Send" is a Microsoft Graph scope that Exchange
// refuses.
func (c Config) DelegatedScopes() []string {
	res := c.cloud().DelegatedResource
	scopes := []string{"offline_access"}
	if c.Protocols.has(SMTP) {
		scopes = append(scopes, res+"/SMTP.Send")
	}
	if c.Protocols.has(IMAP) {
		scopes = append(scopes, res+"/IMAP.AccessAsUser.All")
	}
	return scopes
}

// Credential returns the client credential a token request carries: a
// client secret, a certificate assertion, or nil for a public client.
func (c Config) Credential() (oauth.ClientAuth, error) {
	switch {
	case c.ClientSecret != "" && c.Certificate != nil:
		return nil, &provider.ConfigError{Package: "entra", Field: "ClientSecret", Reason: "both a client secret and a certificate are given; give one"}
	case c.ClientSecret != "":
		return oauth.ClientSecretPost(c.ClientSecret), nil
	case c.Certificate != nil:
		if err := c.Certificate.check(); err != nil {
			return nil, &provider.ConfigError{Package: "entra", Field: "Certificate", Reason: err.Error()}
		}
		if _, ok := c.Certificate.Key.Public().(*rsa.PublicKey); !ok {
			return nil, &provider.ConfigError{Package: "entra", Field: "Certificate", Reason: fmt.Sprintf(
				"Entra client assertions are signed with RSA (PS256 or RS256); this certificate has a %s key", keyKind(c.Certificate.Key.Public()))}
		}
		a, err := c.Certificate.assertion(c.AssertionAlgorithm, c.SendCertificateChain, c.Clock)
		if err != nil {
			return nil, &provider.ConfigError{Package: "entra", Field: "AssertionAlgorithm", Reason: err.Error()}
		}
		return a, nil
	}
	return nil, nil
}

// validate checks what every flow needs, the mailbox included. appOnly adds
// the rules of client credentials: a specific tenant and a credential.
func (c Config) validate(appOnly bool) error {
	if err := c.validateApp(appOnly); err != nil {
		return err
	}
	if strings.TrimSpace(c.Mailbox) == "" {
		return &provider.ConfigError{Package: "entra", Field: "Mailbox", Reason: "missing: give the address of the mailbox to open"}
	}
	if strings.ContainsAny(c.Mailbox, "\x00\x01\r\n") {
		return &provider.ConfigError{Package: "entra", Field: "Mailbox", Reason: "the mailbox address contains control characters"}
	}
	return nil
}

// validateApp checks the app registration part of c: tenant, client,
// credential and cloud.
func (c Config) validateApp(appOnly bool) error {
	tenant := strings.TrimSpace(c.TenantID)
	switch {
	case tenant == "":
		return &provider.ConfigError{Package: "entra", Field: "TenantID", Reason: "missing: set the directory (tenant) ID from the app registration's Overview page"}
	case !validTenant(tenant):
		return &provider.ConfigError{Package: "entra", Field: "TenantID", Reason: fmt.Sprintf("%q is not a tenant ID or domain", truncate(tenant, 64))}
	case appOnly && tenantAliases[strings.ToLower(tenant)]:
		return &provider.ConfigError{Package: "entra", Field: "TenantID", Reason: fmt.Sprintf("client credentials need the real tenant ID or domain, not %q", tenant)}
	}
	if strings.TrimSpace(c.ClientID) == "" {
		return &provider.ConfigError{Package: "entra", Field: "ClientID", Reason: "missing: set the application (client) ID from the app registration's Overview page"}
	}
	if c.ClientSecret != "" && c.Certificate != nil {
		return &provider.ConfigError{Package: "entra", Field: "ClientSecret", Reason: "both a client secret and a certificate are given; give one"}
	}
	if appOnly && c.ClientSecret == "" && c.Certificate == nil {
		return &provider.ConfigError{Package: "entra", Field: "ClientSecret", Reason: "client credentials need a client secret or a certificate"}
	}
	cl := c.cloud()
	u, err := url.Parse(cl.AuthorityHost)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return &provider.ConfigError{Package: "entra", Field: "Cloud.AuthorityHost", Reason: fmt.Sprintf("the login host %q is not a URL like https://login.microsoftonline.com", truncate(cl.AuthorityHost, 80))}
	}
	if u.Scheme == "http" && !loopback.Host(u.Hostname()) {
		return &provider.ConfigError{Package: "entra", Field: "Cloud.AuthorityHost", Reason: "the login host uses plain http, which is allowed only to a loopback address: credentials and tokens would travel in clear"}
	}
	if _, err := c.Credential(); err != nil {
		return err
	}
	return nil
}

// validTenant accepts a GUID, a domain or an alias: letters, digits, dots,
// hyphens and underscores.
func validTenant(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, r := range s {
		ok := r == '.' || r == '-' || r == '_' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
