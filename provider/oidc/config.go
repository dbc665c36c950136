package oidc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/internal/jwt"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/oauth"
	"github.com/mailoauth/mailoauth/retry"
)

// Config is one client of a standards-following authorization server and
// one mailbox on mail servers that accept its tokens. It is plain data: the
// functions read it and never change it; its String never shows a secret.
//
// The server is named by Issuer (its metadata is discovered) or described
// by Metadata. The credential is ClientSecret, PrivateKey, or neither (a
// public client); AuthMethod says how it is sent, and is chosen from the
// server's metadata when empty.
type Config struct {
	// Issuer is the authorization server's issuer URL, as its discovery
	// document names it (Keycloak: https://sso.example.com/realms/mail;
	// Authentik: https://auth.example.com/application/o/mail/). Its
	// metadata is read once per Mailbox or flow (see Discover), unless
	// Metadata is set.
	Issuer string
	// Metadata gives the server's endpoints instead of discovering them:
	// for a server without discovery, or to share one Discover among many
	// mailboxes. Its Issuer, when set, must equal Issuer when both are set.
	Metadata *Metadata
	// ClientID is the client's ID at the server.
	ClientID string
	// ClientSecret is the client's secret (client_secret_basic or
	// client_secret_post).
	ClientSecret string
	// PrivateKey signs a new client assertion for every request
	// (private_key_jwt): an RSA key or an ECDSA P-256 key, whose public
	// half the server knows from the client's JWK set.
	PrivateKey crypto.Signer
	// KeyID is the kid of PrivateKey in the client's JWK set; empty: none.
	KeyID string
	// SigningAlgorithm signs the assertions: RS256, PS256 or ES256; empty:
	// ES256 for an ECDSA key, and for an RSA key RS256, or PS256 when the
	// server lists PS256 and not RS256.
	SigningAlgorithm string
	// AuthMethod is the token endpoint authentication method:
	// client_secret_basic, client_secret_post, private_key_jwt or none.
	// Empty: private_key_jwt with a PrivateKey; with a secret,
	// client_secret_basic unless the server lists only
	// client_secret_post; none without either.
	AuthMethod string
	// Scopes are asked for in every grant that takes a scope (Dovecot
	// checks the scope its oauth2 passdb names). Delegated flows add
	// offline_access when the server lists it, for a refresh token.
	Scopes []string
	// Resources are resource indicators (RFC 8707): the mail servers the
	// tokens are for, sent with every request, the authorization request
	// included. Servers that take one resource per request refuse more.
	Resources []string
	// Params are more parameters for every request to the server (an
	// audience, say); a request's own parameters cannot be given here.
	Params url.Values
	// Mailbox is the mailbox address, the SASL user name: the one the
	// mail server reads from the token (Dovecot: username_attribute).
	Mailbox string
	// SMTP and IMAP are the mail servers; the zero Server of the one a
	// program does not use is fine.
	SMTP, IMAP provider.Server
	// Mechanism is the SASL mechanism; zero: XOAUTH2.
	Mechanism auth.Mechanism
	// Limits are the mail server's sending limits; zero: none.
	Limits provider.Limits
	// StoreKey is the tokenstore key of a delegated grant; empty: Key().
	StoreKey string
	// HTTPClient carries every request to the authorization server; nil:
	// http.DefaultClient.
	HTTPClient *http.Client
	// Logger receives flow events, never a secret; nil: discard.
	Logger *slog.Logger
	// Lazy makes ClientCredentials and Delegated return without reading
	// the metadata or fetching a first token; by default they do both, so
	// that a wrong configuration fails at start-up.
	Lazy bool
	// Clock tells the time for token expiry and client assertions; nil:
	// retry.System. The device flow's polls are paced on the wall clock.
	Clock retry.Clock
}

// String shows the configuration without its secret or key.
func (c Config) String() string {
	cred := "none (public client)"
	switch {
	case c.ClientSecret != "" && c.PrivateKey != nil:
		cred = "secret and private key (invalid)"
	case c.ClientSecret != "":
		cred = "secret (redacted)"
	case c.PrivateKey != nil:
		cred = "private key (redacted)"
	}
	return fmt.Sprintf("oidc.Config{Issuer: %q, Client: %q, Credential: %s, Mailbox: %q}", c.Issuer, c.ClientID, cred, c.Mailbox)
}

// GoString is String, so that %#v hides the secret too.
func (c Config) GoString() string { return c.String() }

// LogValue keeps the secret out of structured logs.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Key returns the tokenstore key of the delegated grant: StoreKey, or
// "oidc:{issuer or token URL}:{client}:{mailbox}" with the mailbox in
// lower case.
func (c Config) Key() string {
	if c.StoreKey != "" {
		return c.StoreKey
	}
	server := c.Issuer
	if server == "" && c.Metadata != nil {
		server = c.Metadata.TokenEndpoint
	}
	return "oidc:" + server + ":" + strings.TrimSpace(c.ClientID) + ":" + strings.ToLower(strings.TrimSpace(c.Mailbox))
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// validate checks what needs no server: the client, the credential, the
// mailbox, the parameters.
func (c Config) validate() error {
	switch {
	case c.Issuer == "" && c.Metadata == nil:
		return &provider.ConfigError{Package: "oidc", Field: "Issuer", Reason: "missing: give the identity provider's issuer URL (or its token URL and other endpoints)"}
	case c.Metadata != nil && c.Issuer != "" && c.Metadata.Issuer != "" && c.Metadata.Issuer != c.Issuer:
		return &provider.ConfigError{Package: "oidc", Field: "Issuer", Reason: fmt.Sprintf("the issuer URL %q is not the issuer of the endpoints given (%q)", truncate(c.Issuer, 120), truncate(c.Metadata.Issuer, 120))}
	case strings.TrimSpace(c.ClientID) == "":
		return &provider.ConfigError{Package: "oidc", Field: "ClientID", Reason: "missing: give the client ID the identity provider shows for the client"}
	case c.ClientSecret != "" && c.PrivateKey != nil:
		return &provider.ConfigError{Package: "oidc", Field: "ClientSecret", Reason: "both a client secret and a private key are given; give one"}
	case strings.TrimSpace(c.Mailbox) == "":
		return &provider.ConfigError{Package: "oidc", Field: "Mailbox", Reason: "missing: give the address of the mailbox to open"}
	case strings.ContainsAny(c.Mailbox, "\x00\x01\r\n"):
		return &provider.ConfigError{Package: "oidc", Field: "Mailbox", Reason: "the mailbox address contains control characters"}
	}
	if c.Issuer != "" {
		if err := checkServerURL("Issuer", "issuer URL", c.Issuer); err != nil {
			return err
		}
	}
	if c.Metadata != nil {
		if err := c.Metadata.checkEndpoints(); err != nil {
			return err
		}
	}
	if err := oauth.CheckParams(c.params()); err != nil {
		return &provider.ConfigError{Package: "oidc", Field: "Params", Reason: strings.TrimPrefix(err.Error(), "oauth: ")}
	}
	for _, r := range c.Resources {
		if u, err := url.Parse(r); err != nil || u.Scheme == "" || u.Fragment != "" {
			return &provider.ConfigError{Package: "oidc", Field: "Resources", Reason: fmt.Sprintf("the resource indicator %q is not an absolute URI without fragment (RFC 8707 section 2)", truncate(r, 120))}
		}
	}
	return nil
}

// params are the parameters of every request: Params and the resource
// indicators.
func (c Config) params() url.Values {
	p := url.Values{}
	for k, vs := range c.Params {
		p[k] = append([]string(nil), vs...)
	}
	for _, r := range c.Resources {
		p.Add("resource", r)
	}
	if len(p) == 0 {
		return nil
	}
	return p
}

// delegatedScopes are Scopes with offline_access added when the server
// lists it (OpenID Connect Core section 11): without it an OpenID
// provider gives no refresh token.
func (c Config) delegatedScopes(md *Metadata) []string {
	s := append([]string(nil), c.Scopes...)
	if slices.Contains(md.ScopesSupported, scopeOfflineAccess) && !slices.Contains(s, scopeOfflineAccess) {
		s = append(s, scopeOfflineAccess)
	}
	return s
}

// scopeOfflineAccess asks an OpenID provider for a refresh token.
const scopeOfflineAccess = "offline_access"

// metadata returns Metadata, or discovers it from Issuer.
func (c Config) metadata(ctx context.Context) (*Metadata, error) {
	if c.Metadata != nil {
		md := *c.Metadata
		if md.Issuer == "" {
			md.Issuer = c.Issuer
		}
		return &md, nil
	}
	return Discover(ctx, c.Issuer, c.HTTPClient)
}

// clientAuth is the credential of c as md's server takes it.
func (c Config) clientAuth(md *Metadata) (oauth.ClientAuth, error) {
	method := c.AuthMethod
	listed := md.TokenEndpointAuthMethods
	accepts := func(m string) bool {
		return len(listed) == 0 && m == oauth.AuthClientSecretBasic || slices.Contains(listed, m)
	}
	if method == "" {
		switch {
		case c.PrivateKey != nil:
			method = oauth.AuthPrivateKeyJWT
		case c.ClientSecret != "" && !accepts(oauth.AuthClientSecretBasic) && accepts(oauth.AuthClientSecretPost):
			method = oauth.AuthClientSecretPost
		case c.ClientSecret != "":
			method = oauth.AuthClientSecretBasic
		default:
			method = oauth.AuthNone
		}
		// Servers that take public clients seldom list none (Keycloak and
		// Entra ID do not), so a client without credential is not refused.
		if len(listed) > 0 && !accepts(method) && method != oauth.AuthNone {
			return nil, &provider.ConfigError{Package: "oidc", Field: "AuthMethod", Reason: fmt.Sprintf(
				"the identity provider accepts the client authentication methods %s, and none fits the credential given (%s)", strings.Join(listed, ", "), method)}
		}
	}
	// need checks that the credential given is the one method needs.
	need := func(secret, key bool, what string) error {
		if (c.ClientSecret != "") != secret || (c.PrivateKey != nil) != key {
			return &provider.ConfigError{Package: "oidc", Field: "AuthMethod", Reason: fmt.Sprintf("the client authentication method %s needs %s", method, what)}
		}
		return nil
	}
	switch method {
	case oauth.AuthNone:
		return nil, need(false, false, "neither a client secret nor a private key (a public client)")
	case oauth.AuthClientSecretBasic:
		return oauth.ClientSecretBasic(c.ClientSecret), need(true, false, "a client secret and no private key")
	case oauth.AuthClientSecretPost:
		return oauth.ClientSecretPost(c.ClientSecret), need(true, false, "a client secret and no private key")
	case oauth.AuthPrivateKeyJWT:
		if err := need(false, true, "a private key and no client secret"); err != nil {
			return nil, err
		}
		alg, err := c.signingAlgorithm(md)
		if err != nil {
			return nil, err
		}
		return &oauth.PrivateKeyJWT{Key: c.PrivateKey, Algorithm: alg, KeyID: c.KeyID, Clock: c.Clock}, nil
	}
	return nil, &provider.ConfigError{Package: "oidc", Field: "AuthMethod", Reason: fmt.Sprintf(
		"the client authentication method %q is not one of client_secret_basic, client_secret_post, private_key_jwt and none", truncate(method, 40))}
}

// signingAlgorithm is the algorithm of the client assertions.
func (c Config) signingAlgorithm(md *Metadata) (string, error) {
	alg := c.SigningAlgorithm
	if alg == "" {
		switch c.PrivateKey.Public().(type) {
		case *ecdsa.PublicKey:
			alg = jwt.ES256
		case *rsa.PublicKey:
			alg = jwt.RS256
			if listed := md.TokenEndpointAuthSigningAlgs; !slices.Contains(listed, jwt.RS256) && slices.Contains(listed, jwt.PS256) {
				alg = jwt.PS256
			}
		}
	}
	if err := jwt.KeyFits(c.PrivateKey.Public(), alg); err != nil {
		return "", &provider.ConfigError{Package: "oidc", Field: "SigningAlgorithm", Reason: "the private key cannot sign client assertions: " + strings.TrimPrefix(err.Error(), "jwt: ")}
	}
	return alg, nil
}

// server is c's authorization server for one Mailbox: the metadata, read
// once, and the token client made from it.
type server struct {
	cfg Config

	mu     sync.Mutex // guards md and client; held while discovering, so one discovery runs at a time
	md     *Metadata
	client *oauth.Client
}

// resolve returns the metadata and the token client, discovering the
// metadata on the first call that succeeds.
func (s *server) resolve(ctx context.Context) (*Metadata, *oauth.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		return s.md, s.client, nil
	}
	md, err := s.cfg.metadata(ctx)
	if err != nil {
		return nil, nil, err
	}
	ca, err := s.cfg.clientAuth(md)
	if err != nil {
		return nil, nil, err
	}
	s.md = md
	s.client = &oauth.Client{
		ID:         strings.TrimSpace(s.cfg.ClientID),
		TokenURL:   md.TokenEndpoint,
		Auth:       ca,
		Params:     s.cfg.params(),
		HTTPClient: s.cfg.HTTPClient,
		Logger:     s.cfg.Logger,
		Clock:      s.cfg.Clock,
	}
	s.cfg.logger().Debug("oidc: authorization server", "issuer", md.Issuer, "token_endpoint", md.TokenEndpoint,
		"client_auth", authName(ca))
	return s.md, s.client, nil
}

// authName names a credential's method for a log line.
func authName(ca oauth.ClientAuth) string {
	if ca == nil {
		return oauth.AuthNone
	}
	return fmt.Sprint(ca)
}

// mailbox returns the Mailbox of c with tokens.
func (c Config) mailbox(tokens auth.TokenSource) *provider.Mailbox {
	return &provider.Mailbox{
		Address:   strings.TrimSpace(c.Mailbox),
		SMTP:      c.SMTP,
		IMAP:      c.IMAP,
		Mechanism: c.Mechanism,
		Tokens:    tokens,
		Limits:    c.Limits,
	}
}

// sourceOptions are the auth.Source options of every mailbox.
func (c Config) sourceOptions() *auth.SourceOptions {
	return &auth.SourceOptions{Logger: c.Logger, Clock: c.Clock}
}
