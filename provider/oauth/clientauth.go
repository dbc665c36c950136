package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/mailoauth/mailoauth/internal/jwt"
	"github.com/mailoauth/mailoauth/retry"
)

// Token endpoint authentication methods, as a server's metadata names them
// in token_endpoint_auth_methods_supported (RFC 8414 section 2; the names
// are registered by RFC 7591 section 2 and OpenID Connect Core section 9).
const (
	AuthNone              = "none"                // a public client: client_id only
	AuthClientSecretBasic = "client_secret_basic" // RFC 6749 section 2.3.1, HTTP Basic
	AuthClientSecretPost  = "client_secret_post"  // RFC 6749 section 2.3.1, in the form
	AuthPrivateKeyJWT     = "private_key_jwt"     // RFC 7523 section 2.2, a signed assertion
)

// ClientAssertionType is the client_assertion_type of a JWT client
// assertion (RFC 7523 section 2.2).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// DefaultAssertionLifetime is how long a client assertion is valid when
// PrivateKeyJWT.Lifetime is zero: long enough for a clock a little off,
// short enough that a copied assertion soon dies (a fresh jti makes each
// one single use anyway).
const DefaultAssertionLifetime = 5 * time.Minute

// ClientAuth authenticates the client in each request to the token
// endpoint and to the device authorization endpoint (RFC 6749 section
// 2.3; RFC 8628 section 3.1 asks a confidential client to authenticate at
// the device authorization endpoint as it does at the token endpoint).
type ClientAuth interface {
	// Apply adds the client's credential to a request about to be sent:
	// to its form (client_secret, client_assertion_type and
	// client_assertion) or to its header (Authorization). form holds the
	// request's client_id; tokenURL is the token endpoint, the audience
	// of an assertion, also on the device authorization endpoint. Apply
	// is called for every request, so an assertion is signed anew each
	// time.
	Apply(ctx context.Context, tokenURL string, form url.Values, header http.Header) error
}

// ClientSecretPost returns a ClientAuth that sends secret as client_secret
// in the form body (client_secret_post). The secret never appears in its
// String or GoString output.
func ClientSecretPost(secret string) ClientAuth {
	return clientSecret{secret: secret}
}

// ClientSecretBasic returns a ClientAuth that sends the client ID and
// secret in an HTTP Basic Authorization header (client_secret_basic, the
// method RFC 6749 section 2.3.1 requires every server to support), each
// form-urlencoded first as that section says, and leaves client_id out of
// the form. The secret never appears in its String or GoString output.
func ClientSecretBasic(secret string) ClientAuth {
	return clientSecret{secret: secret, basic: true}
}

type clientSecret struct {
	secret string
	basic  bool
}

func (c clientSecret) Apply(_ context.Context, _ string, form url.Values, header http.Header) error {
	if c.secret == "" {
		return errors.New("oauth: client secret is empty")
	}
	if !c.basic {
		form.Set("client_secret", c.secret)
		return nil
	}
	id := form.Get("client_id")
	if id == "" {
		return errors.New("oauth: client_secret_basic needs the client ID")
	}
	cred := url.QueryEscape(id) + ":" + url.QueryEscape(c.secret)
	header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cred)))
	form.Del("client_id")
	return nil
}

func (c clientSecret) String() string {
	if c.basic {
		return "ClientSecretBasic(redacted)"
	}
	return "ClientSecretPost(redacted)"
}

func (c clientSecret) GoString() string { return "oauth." + c.String() }

// PrivateKeyJWT is the ClientAuth private_key_jwt (RFC 7523 section 2.2,
// OpenID Connect Core section 9): every request carries a client assertion
// signed anew with Key, whose iss and sub are the client ID, aud the token
// endpoint, jti a random UUID never used before, and iat, nbf and exp its
// time window. The server checks it against the public key registered for
// the client (a JWK set, or a certificate as Entra ID does).
//
// Set the fields before the first request and do not change them after.
// Its String, GoString and LogValue name the algorithm and key ID, never
// the key.
type PrivateKeyJWT struct {
	// Key signs the assertions: an RSA key (RS256, PS256) or an ECDSA key
	// on P-256 (ES256); a crypto.Signer backed by a hardware key works.
	Key crypto.Signer
	// Algorithm is RS256, PS256 or ES256; empty: RS256 for an RSA key and
	// ES256 for an ECDSA key.
	Algorithm string
	// KeyID is the kid header: the key's ID in the JWK set registered for
	// the client; empty: no kid (the server tries each registered key).
	KeyID string
	// Header holds more header members, such as the certificate
	// thumbprint Entra ID names the key by (x5t#S256); alg and kid come
	// from the fields above and typ is JWT unless Header sets it.
	Header map[string]any
	// Lifetime is how long each assertion is valid; zero:
	// DefaultAssertionLifetime.
	Lifetime time.Duration
	// Clock stamps the assertions; nil: retry.System.
	Clock retry.Clock
}

// assertionClaims are the claims of a client assertion (RFC 7523 section 3).
type assertionClaims struct {
	Issuer    string `json:"iss"` // the client ID
	Subject   string `json:"sub"` // the client ID
	Audience  string `json:"aud"` // the token endpoint
	ID        string `json:"jti"` // unique per assertion
	IssuedAt  int64  `json:"iat"`
	NotBefore int64  `json:"nbf"`
	Expiry    int64  `json:"exp"`
}

// Apply adds client_assertion_type and a new client_assertion whose
// audience is tokenURL and whose issuer is the form's client_id.
func (p *PrivateKeyJWT) Apply(_ context.Context, tokenURL string, form url.Values, _ http.Header) error {
	tok, err := p.Sign(form.Get("client_id"), tokenURL)
	if err != nil {
		return err
	}
	form.Set("client_assertion_type", ClientAssertionType)
	form.Set("client_assertion", tok)
	return nil
}

// Sign returns a new client assertion of clientID for audience.
func (p *PrivateKeyJWT) Sign(clientID, audience string) (string, error) {
	if p == nil || p.Key == nil {
		return "", errors.New("oauth: private_key_jwt: no signing key")
	}
	if clientID == "" {
		return "", errors.New("oauth: private_key_jwt: no client ID to issue the assertion for")
	}
	alg, err := p.algorithm()
	if err != nil {
		return "", err
	}
	lifetime := p.Lifetime
	if lifetime <= 0 {
		lifetime = DefaultAssertionLifetime
	}
	now := retry.Or(p.Clock).Now().Truncate(time.Second)
	claims := assertionClaims{
		Issuer:    clientID,
		Subject:   clientID,
		Audience:  audience,
		ID:        newUUID(),
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		Expiry:    now.Add(lifetime).Unix(),
	}
	header := make(map[string]any, len(p.Header)+1)
	for k, v := range p.Header {
		header[k] = v
	}
	if p.KeyID != "" {
		header["kid"] = p.KeyID
	}
	tok, err := jwt.Sign(p.Key, alg, header, claims)
	if err != nil {
		return "", fmt.Errorf("oauth: private_key_jwt: %w", err)
	}
	return tok, nil
}

// algorithm is Algorithm, or the one that fits Key; an error when they do
// not fit each other.
func (p *PrivateKeyJWT) algorithm() (string, error) {
	alg := p.Algorithm
	if alg == "" {
		switch p.Key.Public().(type) {
		case *rsa.PublicKey:
			alg = jwt.RS256
		case *ecdsa.PublicKey:
			alg = jwt.ES256
		}
	}
	if err := jwt.KeyFits(p.Key.Public(), alg); err != nil {
		return "", fmt.Errorf("oauth: private_key_jwt: %w", err)
	}
	return alg, nil
}

// String names the credential without its key.
func (p *PrivateKeyJWT) String() string {
	if p == nil || p.Key == nil {
		return "oauth.PrivateKeyJWT(no key)"
	}
	alg, err := p.algorithm()
	if err != nil {
		alg = "unusable key"
	}
	if p.KeyID != "" {
		return fmt.Sprintf("oauth.PrivateKeyJWT(%s, kid %q)", alg, p.KeyID)
	}
	return "oauth.PrivateKeyJWT(" + alg + ")"
}

// GoString is String, so that %#v never prints the key.
func (p *PrivateKeyJWT) GoString() string { return p.String() }

// LogValue keeps the key out of structured logs.
func (p *PrivateKeyJWT) LogValue() slog.Value { return slog.StringValue(p.String()) }

// newUUID returns a random (version 4) UUID from crypto/rand, the form
// Entra ID asks of a jti. crypto/rand.Read never fails (Go 1.24+).
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// reservedParams are set by the requests themselves; Client.Params cannot
// replace or add them.
var reservedParams = map[string]bool{
	"grant_type": true, "scope": true, "client_id": true, "client_secret": true,
	"client_assertion": true, "client_assertion_type": true, "code": true, "code_verifier": true,
	"redirect_uri": true, "refresh_token": true, "device_code": true, "assertion": true,
	"username": true, "password": true,
}

// CheckParams reports a parameter of params that a token or device
// authorization request sets itself, which Client.Params cannot carry.
func CheckParams(params url.Values) error {
	for k := range params {
		if reservedParams[k] {
			return fmt.Errorf("oauth: the parameter %q is set by each request itself and cannot be added to every request", k)
		}
		if k == "" {
			return errors.New("oauth: a parameter without a name")
		}
	}
	return nil
}
