package google

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/internal/firsttoken"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/oauth"
)

// ServiceAccountKey is a parsed service-account key file (the JSON a Google
// Cloud console downloads for a key of a service account). Its private key
// never appears in String or GoString output.
type ServiceAccountKey struct {
	ClientEmail  string // the service account; the assertion's iss
	ClientID     string // the number a Workspace admin authorizes for domain-wide delegation
	PrivateKeyID string // the assertion's kid
	TokenURI     string // where assertions go; Google's token endpoint
	Key          crypto.Signer

	pem []byte // the private key as the file holds it, for x/oauth2/jwt
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
		return nil, &provider.ConfigError{Package: "google", Field: "ServiceAccountKey", Reason: "the service account's key file is not JSON"}
	}
	if len(j.Installed) > 0 || len(j.Web) > 0 {
		return nil, &provider.ConfigError{Package: "google", Field: "ServiceAccountKey", Reason: "this is an OAuth client file, not a service account's key file: give it to the program as the OAuth client file (a user then authorizes the mailbox), or download a key of the service account (IAM & Admin > Service accounts > Keys)"}
	}
	if j.Type != "" && j.Type != "service_account" {
		return nil, &provider.ConfigError{Package: "google", Field: "ServiceAccountKey", Reason: fmt.Sprintf("key file type is %q, want \"service_account\"", truncate(j.Type, 40))}
	}
	if j.ClientEmail == "" {
		return nil, &provider.ConfigError{Package: "google", Field: "ServiceAccountKey", Reason: "key file has no client_email"}
	}
	if j.PrivateKey == "" {
		return nil, &provider.ConfigError{Package: "google", Field: "ServiceAccountKey", Reason: "key file has no private_key"}
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
		pem:          []byte(j.PrivateKey),
	}
	if k.TokenURI == "" {
		k.TokenURI = TokenURL
	}
	if u, err := url.Parse(k.TokenURI); err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, &provider.ConfigError{Package: "google", Field: "ServiceAccountKey", Reason: fmt.Sprintf("token_uri %q is not an https URL", truncate(k.TokenURI, 120))}
	}
	return k, nil
}

// parsePrivateKey reads the PEM private key: PKCS#8 as Google writes it,
// or PKCS#1.
func parsePrivateKey(p string) (crypto.Signer, error) {
	block, _ := pem.Decode([]byte(p))
	if block == nil {
		return nil, &provider.ConfigError{Package: "google", Field: "ServiceAccountKey", Reason: "private_key is not PEM"}
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, &provider.ConfigError{Package: "google", Field: "ServiceAccountKey", Reason: fmt.Sprintf("private_key is a PEM %q block, want PRIVATE KEY", truncate(block.Type, 40))}
	}
	if err != nil {
		return nil, &provider.ConfigError{Package: "google", Field: "ServiceAccountKey", Reason: "private_key does not parse as PKCS#8 or PKCS#1"}
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, &provider.ConfigError{Package: "google", Field: "ServiceAccountKey", Reason: fmt.Sprintf("private_key is %T; Google service-account keys are RSA", key)}
	}
	return rk, nil
}

// ServiceAccount returns the Mailbox of a Workspace user that a service
// account impersonates through domain-wide delegation: every token comes
// from a JWT-bearer grant whose assertion (RS256, signed with the private
// key of cfg.ServiceAccountKey) names cfg.Mailbox as sub. cfg's OAuth
// client fields are not used.
//
// A Workspace admin must have authorized the service account's client ID
// for the scopes (Admin console > Security > API controls > Domain-wide
// delegation), else Google answers unauthorized_client; provider.Diagnose
// explains that error. Unless cfg.Lazy is set, ServiceAccount fetches one
// token before returning, so such a mistake fails here.
func ServiceAccount(ctx context.Context, cfg Config) (*provider.Mailbox, error) {
	key, err := ParseServiceAccountKey(cfg.ServiceAccountKey)
	if err != nil {
		return nil, err
	}
	mailbox := strings.TrimSpace(cfg.Mailbox)
	if !strings.Contains(mailbox, "@") {
		return nil, &provider.ConfigError{Package: "google", Field: "Mailbox", Reason: fmt.Sprintf("%q is not a mail address; domain-wide delegation impersonates one user", truncate(mailbox, 120))}
	}
	tokenURL := key.TokenURI
	if cfg.BaseURL != "" {
		_, tokenURL = endpointURLs(cfg.BaseURL)
	}
	src := &serviceAccount{
		key:     key,
		mailbox: mailbox,
		assertion: &jwt.Config{
			Email:        key.ClientEmail,
			PrivateKey:   key.pem,
			PrivateKeyID: key.PrivateKeyID,
			Subject:      mailbox,
			Scopes:       cfg.scopes(),
			TokenURL:     tokenURL,
		},
		endpoint: &oauth.Client{
			TokenURL:   tokenURL,
			HTTPClient: cfg.HTTPClient,
			Logger:     cfg.Logger,
			Clock:      cfg.Clock,
		},
	}
	var first *oauth2.Token
	if !cfg.Lazy {
		// Fetched here, not through the Source: a failure is this call's
		// one report, with no retry promised, and the token is not fetched
		// twice.
		if first, err = src.Refresh(ctx, nil); err != nil {
			return nil, provider.Annotate(err)
		}
	}
	smtp, imap := servers(cfg.SMTPImplicitTLS)
	mb := &provider.Mailbox{
		Address:   mailbox,
		SMTP:      smtp,
		IMAP:      imap,
		Mechanism: auth.XOAUTH2,
		Tokens:    auth.NewSource(firsttoken.New(src, first, cfg.Clock), cfg.sourceOptions()),
		Limits:    limits(),
	}
	return mb, nil
}

// serviceAccount gets a token per call, with an assertion x/oauth2/jwt
// signs anew each time; auth.Source caches the tokens. It holds no mutable
// state.
type serviceAccount struct {
	key       *ServiceAccountKey
	mailbox   string
	assertion *jwt.Config // the JWT-bearer grant (RFC 7523) with sub = mailbox
	endpoint  *oauth.Client
}

// Refresh implements auth.Refresher: a new token each call.
func (s *serviceAccount) Refresh(ctx context.Context, _ *oauth2.Token) (*oauth2.Token, error) {
	tok, err := s.endpoint.JWTBearer(ctx, s.assertion)
	if err != nil {
		return nil, fmt.Errorf("google: service account %s acting as %s: %w", s.key.ClientEmail, s.mailbox, err)
	}
	return tok, nil
}

// sourceOptions are the auth.Source options of a Gmail mailbox.
func (c Config) sourceOptions() *auth.SourceOptions {
	return &auth.SourceOptions{Logger: c.Logger, Clock: c.Clock}
}
