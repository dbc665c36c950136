package google

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/oauth"
	"github.com/mailoauth/mailoauth/retry"
)

// Config is one Gmail or Workspace mailbox and the credential that reaches
// it: an OAuth client a user authorized (Delegated, NewAuthCodeFlow,
// AuthorizeLoopback) or a service account with domain-wide delegation
// (ServiceAccount). It is plain data; its String never shows a secret.
type Config struct {
	// ClientJSON is the client file Google Cloud console downloads
	// (APIs & Services > Credentials), with an "installed" (desktop app) or
	// "web" object. It fills ClientID and ClientSecret when those are empty.
	// Its auth_uri and token_uri are not used: see BaseURL.
	ClientJSON   []byte
	ClientID     string
	ClientSecret string // empty: a public client (PKCE only)
	// ServiceAccountKey is the JSON key file of a service account
	// (IAM & Admin > Service accounts > Keys), for ServiceAccount.
	ServiceAccountKey []byte
	Mailbox           string // the user's address; the SASL user name
	// Scopes asked for; zero: ScopeMail. A service account may add
	// ScopeIMAPAdmin.
	Scopes []string
	// StoreKey is the tokenstore key of the grant; zero: Key() derives one
	// from the client ID and the mailbox.
	StoreKey string
	// BaseURL replaces Google's endpoints (and a service-account key's
	// token_uri) by BaseURL + Google's paths (/o/oauth2/v2/auth, /token):
	// tests point it at providertest.
	BaseURL    string
	HTTPClient *http.Client // every token request goes through it; nil: http.DefaultClient
	Logger     *slog.Logger // nil: discard; never sees a token or secret
	// SMTPImplicitTLS makes the Mailbox send through port 465 with implicit
	// TLS instead of 587 with STARTTLS.
	SMTPImplicitTLS bool
	// Lazy makes Delegated and ServiceAccount return without getting a
	// first access token.
	Lazy bool
	// Clock tells the time for token expiry; nil: retry.System. Tests give
	// providertest's Server. Service-account assertions are stamped with
	// the wall clock by golang.org/x/oauth2/jwt.
	Clock retry.Clock
}

// String shows the configuration without its secret.
func (c Config) String() string {
	secret := "none"
	if c.ClientSecret != "" {
		secret = "redacted"
	}
	key := "none"
	if len(c.ServiceAccountKey) > 0 {
		key = "redacted"
	}
	return fmt.Sprintf("google.Config{ClientID: %q, ClientSecret: %s, ServiceAccountKey: %s, Mailbox: %q, BaseURL: %q}", c.ClientID, secret, key, c.Mailbox, c.BaseURL)
}

// GoString is String, so %#v does not print the secret either.
func (c Config) GoString() string { return c.String() }

// LogValue keeps the secret out of structured logs.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Key returns the tokenstore key of the grant: StoreKey, or
// "google:" + client ID + ":" + mailbox.
func (c Config) Key() string {
	if c.StoreKey != "" {
		return c.StoreKey
	}
	r, err := c.resolve()
	if err != nil {
		return ""
	}
	return "google:" + r.ClientID + ":" + strings.ToLower(strings.TrimSpace(c.Mailbox))
}

// clientFileJSON is Google's downloaded client file.
type clientFileJSON struct {
	Installed *clientJSON `json:"installed"`
	Web       *clientJSON `json:"web"`
}

type clientJSON struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// resolve fills ClientID and ClientSecret from ClientJSON and trims them.
func (c Config) resolve() (Config, error) {
	if len(c.ClientJSON) > 0 {
		var f clientFileJSON
		if err := json.Unmarshal(c.ClientJSON, &f); err != nil {
			return c, &provider.ConfigError{Package: "google", Field: "ClientJSON", Reason: "the OAuth client file is not JSON"}
		}
		cj := f.Installed
		if cj == nil {
			cj = f.Web
		}
		if cj == nil {
			return c, &provider.ConfigError{Package: "google", Field: "ClientJSON", Reason: `the OAuth client file has neither an "installed" nor a "web" object (a service account's key file is no OAuth client file)`}
		}
		if c.ClientID == "" {
			c.ClientID = cj.ClientID
		}
		if c.ClientSecret == "" {
			c.ClientSecret = cj.ClientSecret
		}
	}
	c.ClientID = strings.TrimSpace(c.ClientID)
	c.ClientSecret = strings.TrimSpace(c.ClientSecret)
	if c.ClientID == "" {
		return c, &provider.ConfigError{Package: "google", Field: "ClientID", Reason: "missing: give the program the OAuth client's ID, or the client file Google Cloud console downloads (APIs & Services > Credentials)"}
	}
	return c, nil
}

// validate resolves c and checks the fields every delegated use needs.
func (c Config) validate() (Config, error) {
	r, err := c.resolve()
	if err != nil {
		return r, err
	}
	r.Mailbox = strings.TrimSpace(r.Mailbox)
	if !strings.Contains(r.Mailbox, "@") {
		return r, &provider.ConfigError{Package: "google", Field: "Mailbox", Reason: fmt.Sprintf("%q is not a mail address", truncate(r.Mailbox, 120))}
	}
	return r, nil
}

func (c Config) scopes() []string {
	if len(c.Scopes) == 0 {
		return []string{ScopeMail}
	}
	return append([]string(nil), c.Scopes...)
}

// tokenEndpoint returns the token endpoint of a resolved c.
func (c Config) tokenEndpoint() *oauth.Client {
	_, tokenURL := endpointURLs(c.BaseURL)
	ep := &oauth.Client{
		ID:         c.ClientID,
		TokenURL:   tokenURL,
		HTTPClient: c.HTTPClient,
		Logger:     c.Logger,
		Clock:      c.Clock,
	}
	if c.ClientSecret != "" {
		ep.Auth = oauth.ClientSecretPost(c.ClientSecret)
	}
	return ep
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
