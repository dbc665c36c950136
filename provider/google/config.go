package google

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/mailoauth/mailoauth/provider"
)

// Config describes a Google OAuth client and the mailbox a user authorizes
// it for (Delegated, NewAuthCodeFlow, AuthorizeLoopback). It is plain data;
// its String never shows the client secret.
type Config struct {
	// ClientJSON is the client file Google Cloud console downloads
	// (APIs & Services > Credentials), with an "installed" (desktop app) or
	// "web" object. It fills ClientID and ClientSecret when those are empty.
	// Its auth_uri and token_uri are not used: see BaseURL.
	ClientJSON   []byte
	ClientID     string
	ClientSecret string // empty: a public client (PKCE only)
	Mailbox      string // the user's address; the SASL user name
	// Scopes asked for; zero: ScopeMail.
	Scopes []string
	// StoreKey is the tokenstore key of the grant; zero: Key() derives one
	// from the client ID and the mailbox.
	StoreKey string
	// BaseURL replaces Google's endpoints by BaseURL + Google's paths
	// (/o/oauth2/v2/auth, /token): tests point it at providertest.
	BaseURL    string
	HTTPClient *http.Client // every token request goes through it; nil: http.DefaultClient
	Logger     *slog.Logger // nil: discard; never sees a token or secret
	// SMTPImplicitTLS makes the Mailbox send through port 465 with implicit
	// TLS instead of 587 with STARTTLS.
	SMTPImplicitTLS bool
	// Lazy makes Delegated return without getting a first access token.
	Lazy bool
	// Clock replaces time.Now (tests); nil: time.Now.
	Clock func() time.Time
}

// ConfigError is a configuration mistake found before any request.
type ConfigError struct {
	Field, Reason string
}

func (e *ConfigError) Error() string {
	return "google: " + e.Field + ": " + e.Reason
}

// String shows the configuration without its secret.
func (c Config) String() string {
	secret := "none"
	if c.ClientSecret != "" {
		secret = "redacted"
	}
	return fmt.Sprintf("google.Config{ClientID: %q, ClientSecret: %s, Mailbox: %q, BaseURL: %q}", c.ClientID, secret, c.Mailbox, c.BaseURL)
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
			return c, &ConfigError{Field: "ClientJSON", Reason: "not a JSON client file"}
		}
		cj := f.Installed
		if cj == nil {
			cj = f.Web
		}
		if cj == nil {
			return c, &ConfigError{Field: "ClientJSON", Reason: `has neither an "installed" nor a "web" object (a service-account key goes to ServiceAccount)`}
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
		return c, &ConfigError{Field: "ClientID", Reason: "empty (set ClientID or ClientJSON)"}
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
		return r, &ConfigError{Field: "Mailbox", Reason: fmt.Sprintf("%q is not a mail address", truncate(r.Mailbox, 120))}
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
func (c Config) tokenEndpoint() *provider.TokenEndpoint {
	_, tokenURL := endpointURLs(c.BaseURL)
	ep := &provider.TokenEndpoint{
		URL:        tokenURL,
		ClientID:   c.ClientID,
		HTTPClient: c.HTTPClient,
		Logger:     c.Logger,
		Now:        c.Clock,
	}
	if c.ClientSecret != "" {
		ep.Credential = provider.ClientSecret(c.ClientSecret)
	}
	return ep
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
