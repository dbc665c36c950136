package google

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/internal/jwt"
	"github.com/mailoauth/mailoauth/provider"
)

// assertionLifetime is the validity of a service-account assertion; Google
// refuses more than one hour (protocol-facts 5.4).
const assertionLifetime = time.Hour

// ServiceAccountKey is a parsed service-account key file (the JSON a Google
// Cloud console downloads for a key of a service account). Its private key
// never appears in String or GoString output.
type ServiceAccountKey struct {
	ClientEmail  string // the service account; the assertion's iss
	ClientID     string // the number a Workspace admin authorizes for domain-wide delegation
	PrivateKeyID string // the assertion's kid
	TokenURI     string // where assertions go; Google's token endpoint
	Key          crypto.Signer
}

// String names the key without its secret parts.
func (k *ServiceAccountKey) String() string {
	return fmt.Sprintf("google.ServiceAccountKey{ClientEmail: %q, ClientID: %q, PrivateKeyID: %q}", k.ClientEmail, k.ClientID, k.PrivateKeyID)
}

// GoString is String, so %#v does not print the key either.
func (k *ServiceAccountKey) GoString() string { return k.String() }

// serviceAccountJSON is the key file. Only the fields we use are read.
type serviceAccountJSON struct {
	Type         string          `json:"type"`
	ClientEmail  string          `json:"client_email"`
	ClientID     string          `json:"client_id"`
	PrivateKey   string          `json:"private_key"`
	PrivateKeyID string          `json:"private_key_id"`
	TokenURI     string          `json:"token_uri"`
	Installed    json.RawMessage `json:"installed"`
	Web          json.RawMessage `json:"web"`
}

// ParseServiceAccountKey reads a service-account key file. It refuses an
// OAuth client file ("installed" or "web": use Delegated), a key that is not
// RSA, and a token_uri that is not https. Errors never quote the key.
func ParseServiceAccountKey(keyJSON []byte) (*ServiceAccountKey, error) {
	var j serviceAccountJSON
	if err := json.Unmarshal(keyJSON, &j); err != nil {
		return nil, &ConfigError{Field: "keyJSON", Reason: "not a JSON service-account key file"}
	}
	if len(j.Installed) > 0 || len(j.Web) > 0 {
		return nil, &ConfigError{Field: "keyJSON", Reason: "this is an OAuth client file, not a service-account key: use Delegated with Config.ClientJSON, or download a key of the service account (IAM > Service accounts > Keys)"}
	}
	if j.Type != "" && j.Type != "service_account" {
		return nil, &ConfigError{Field: "keyJSON", Reason: fmt.Sprintf("key file type is %q, want \"service_account\"", truncate(j.Type, 40))}
	}
	if j.ClientEmail == "" {
		return nil, &ConfigError{Field: "keyJSON", Reason: "key file has no client_email"}
	}
	if j.PrivateKey == "" {
		return nil, &ConfigError{Field: "keyJSON", Reason: "key file has no private_key"}
	}
	signer, err := parsePrivateKey(j.PrivateKey)
	if err != nil {
		return nil, err
	}
	k := &ServiceAccountKey{
		ClientEmail:  j.ClientEmail,
		ClientID:     j.ClientID,
		PrivateKeyID: j.PrivateKeyID,
		TokenURI:     j.TokenURI,
		Key:          signer,
	}
	if k.TokenURI == "" {
		k.TokenURI = TokenURL
	}
	if u, err := url.Parse(k.TokenURI); err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, &ConfigError{Field: "keyJSON", Reason: fmt.Sprintf("token_uri %q is not an https URL", truncate(k.TokenURI, 120))}
	}
	return k, nil
}

// parsePrivateKey reads the PEM private key: PKCS#8 as Google writes it,
// or PKCS#1.
func parsePrivateKey(p string) (crypto.Signer, error) {
	block, _ := pem.Decode([]byte(p))
	if block == nil {
		return nil, &ConfigError{Field: "keyJSON", Reason: "private_key is not PEM"}
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, &ConfigError{Field: "keyJSON", Reason: fmt.Sprintf("private_key is a PEM %q block, want PRIVATE KEY", truncate(block.Type, 40))}
	}
	if err != nil {
		return nil, &ConfigError{Field: "keyJSON", Reason: "private_key does not parse as PKCS#8 or PKCS#1"}
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, &ConfigError{Field: "keyJSON", Reason: fmt.Sprintf("private_key is %T; Google service-account keys are RSA", key)}
	}
	return rk, nil
}

// Option changes what ServiceAccount does.
type Option func(*saOptions)

type saOptions struct {
	scopes      []string
	baseURL     string
	httpClient  *http.Client
	logger      *slog.Logger
	clock       func() time.Time
	implicitTLS bool
	lazy        bool
}

// WithIMAPAdminScope adds ScopeIMAPAdmin, so that IMAP shows every label
// and message regardless of the user's IMAP settings. The Workspace admin
// must allow this scope for the service account too.
func WithIMAPAdminScope() Option {
	return func(o *saOptions) { o.scopes = append(o.scopes, ScopeIMAPAdmin) }
}

// WithScopes replaces the scopes (default: ScopeMail).
func WithScopes(scopes ...string) Option {
	return func(o *saOptions) { o.scopes = append([]string(nil), scopes...) }
}

// WithBaseURL sends every token request to base + "/token" (Google's path)
// instead of the key file's token_uri: tests point it at providertest.
func WithBaseURL(base string) Option {
	return func(o *saOptions) { o.baseURL = base }
}

// WithHTTPClient sets the client of every token request (default
// http.DefaultClient).
func WithHTTPClient(c *http.Client) Option {
	return func(o *saOptions) { o.httpClient = c }
}

// WithLogger sets the logger; nil discards. Tokens and keys are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(o *saOptions) { o.logger = l }
}

// WithClock replaces time.Now for assertions and expiry (tests).
func WithClock(now func() time.Time) Option {
	return func(o *saOptions) { o.clock = now }
}

// WithSMTPImplicitTLS makes the Mailbox send through smtp.gmail.com:465
// with implicit TLS instead of 587 with STARTTLS.
func WithSMTPImplicitTLS() Option {
	return func(o *saOptions) { o.implicitTLS = true }
}

// WithLazy makes ServiceAccount return without fetching a first token.
func WithLazy() Option {
	return func(o *saOptions) { o.lazy = true }
}

// ServiceAccount returns the Mailbox of a Workspace user that a service
// account impersonates through domain-wide delegation: every token comes
// from a JWT-bearer grant whose assertion (RS256, signed with the key file's
// private key) names mailbox as sub.
//
// A Workspace admin must have authorized the service account's client ID
// for the scopes (Admin console > Security > API controls > Domain-wide
// delegation), else Google answers unauthorized_client; provider.Diagnose
// explains that error. Unless WithLazy is given, ServiceAccount fetches one
// token before returning, so such a mistake fails here.
func ServiceAccount(ctx context.Context, keyJSON []byte, mailbox string, opts ...Option) (*provider.Mailbox, error) {
	key, err := ParseServiceAccountKey(keyJSON)
	if err != nil {
		return nil, err
	}
	mailbox = strings.TrimSpace(mailbox)
	if !strings.Contains(mailbox, "@") {
		return nil, &ConfigError{Field: "mailbox", Reason: fmt.Sprintf("%q is not a mail address; domain-wide delegation impersonates one user", truncate(mailbox, 120))}
	}
	o := saOptions{scopes: []string{ScopeMail}}
	for _, opt := range opts {
		opt(&o)
	}
	if len(o.scopes) == 0 {
		return nil, &ConfigError{Field: "scopes", Reason: "no scope asked for"}
	}
	tokenURL := key.TokenURI
	if o.baseURL != "" {
		_, tokenURL = endpointURLs(o.baseURL)
	}
	src := &serviceAccountSource{
		key:     key,
		mailbox: mailbox,
		scope:   strings.Join(o.scopes, " "),
		now:     o.clock,
		endpoint: &provider.TokenEndpoint{
			URL:        tokenURL,
			HTTPClient: o.httpClient,
			Logger:     o.logger,
			Now:        o.clock,
		},
	}
	if src.now == nil {
		src.now = time.Now
	}
	smtp, imap := servers(o.implicitTLS)
	mb := &provider.Mailbox{
		Address:   mailbox,
		SMTP:      smtp,
		IMAP:      imap,
		Mechanism: auth.XOAUTH2,
		Tokens:    auth.NewSource(src, sourceOptions(o.logger, o.clock)...),
		Limits:    limits(),
	}
	if !o.lazy {
		if _, err := mb.Tokens.Token(ctx); err != nil {
			return nil, provider.Annotate(err)
		}
	}
	return mb, nil
}

// serviceAccountSource gets a token per call with a fresh assertion;
// auth.Source caches the tokens. It holds no mutable state.
type serviceAccountSource struct {
	key      *ServiceAccountKey
	mailbox  string
	scope    string
	now      func() time.Time
	endpoint *provider.TokenEndpoint
}

// assertionClaims are the claims Google requires (protocol-facts 5.4).
type assertionClaims struct {
	Iss   string `json:"iss"`
	Scope string `json:"scope"`
	Aud   string `json:"aud"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
	Sub   string `json:"sub"`
}

// Token implements oauth2.TokenSource.
func (s *serviceAccountSource) Token() (*oauth2.Token, error) {
	return s.TokenContext(context.Background())
}

// TokenContext implements auth.ContextTokenSource.
func (s *serviceAccountSource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	assertion, err := s.assertion()
	if err != nil {
		return nil, err
	}
	tok, err := s.endpoint.Do(ctx, url.Values{
		"grant_type": {provider.GrantJWTBearer},
		"assertion":  {assertion},
	})
	if err != nil {
		return nil, fmt.Errorf("google: service account %s acting as %s: %w", s.key.ClientEmail, s.mailbox, err)
	}
	return tok, nil
}

// assertion signs a new assertion valid from now for assertionLifetime.
func (s *serviceAccountSource) assertion() (string, error) {
	now := s.now()
	header := map[string]any{}
	if s.key.PrivateKeyID != "" {
		header["kid"] = s.key.PrivateKeyID
	}
	a, err := jwt.Sign(s.key.Key, jwt.RS256, header, assertionClaims{
		Iss:   s.key.ClientEmail,
		Scope: s.scope,
		Aud:   s.endpoint.URL,
		Iat:   now.Unix(),
		Exp:   now.Add(assertionLifetime).Unix(),
		Sub:   s.mailbox,
	})
	if err != nil {
		return "", fmt.Errorf("google: sign service-account assertion for %s: %w", s.key.ClientEmail, err)
	}
	return a, nil
}

// sourceOptions are the auth.Source options of a Gmail mailbox.
func sourceOptions(l *slog.Logger, clock func() time.Time) []auth.SourceOption {
	var opts []auth.SourceOption
	if l != nil {
		opts = append(opts, auth.WithLogger(l))
	}
	if clock != nil {
		opts = append(opts, auth.WithClock(clock))
	}
	return opts
}
