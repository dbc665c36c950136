package entra

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/url"
	"time"

	"github.com/mailoauth/mailoauth/internal/jwt"
)

// AssertionAlgorithm selects how a certificate's client assertions are
// signed.
type AssertionAlgorithm int

const (
	// AssertionPS256 signs with RSASSA-PSS and names the certificate by its
	// SHA-256 thumbprint (x5t#S256, base64url), as Microsoft's
	// certificate-credentials page documents today. MSAL Go encodes the
	// same thumbprint with standard base64; we follow the documentation.
	AssertionPS256 AssertionAlgorithm = iota
	// AssertionRS256 signs with RSASSA-PKCS1-v1_5 and names the certificate
	// by its SHA-1 thumbprint (x5t): the older form, for setups (ADFS,
	// older proxies) that need it.
	AssertionRS256
)

// String returns the JOSE algorithm name.
func (a AssertionAlgorithm) String() string {
	switch a {
	case AssertionPS256:
		return jwt.PS256
	case AssertionRS256:
		return jwt.RS256
	}
	return fmt.Sprintf("AssertionAlgorithm(%d)", int(a))
}

// Client assertion parameters (RFC 7523; Microsoft's certificate
// credentials page).
const (
	clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// assertionLifetime is how long an assertion is valid: Microsoft asks
	// for a short window of 5 to 10 minutes.
	assertionLifetime = 10 * time.Minute
)

// assertionClaims are the claims Entra requires of a client assertion.
type assertionClaims struct {
	Audience  string `json:"aud"` // the token endpoint
	Issuer    string `json:"iss"` // the client ID
	Subject   string `json:"sub"` // the client ID
	ID        string `json:"jti"` // unique per assertion
	NotBefore int64  `json:"nbf"`
	IssuedAt  int64  `json:"iat"`
	Expiry    int64  `json:"exp"`
}

// assertionCredential is a oauth.ClientAuth that signs a new client
// assertion for every token request, so an assertion is never replayed
// (Entra refuses a reused jti).
type assertionCredential struct {
	cert      *Certificate
	clientID  string
	alg       AssertionAlgorithm
	sendChain bool
	now       func() time.Time
}

// Apply adds client_assertion_type and a fresh client_assertion whose
// audience is tokenURL.
func (a *assertionCredential) Apply(_ context.Context, tokenURL string, form url.Values) error {
	tok, err := a.sign(tokenURL)
	if err != nil {
		return err
	}
	form.Set("client_assertion_type", clientAssertionType)
	form.Set("client_assertion", tok)
	return nil
}

// String names the credential without its key.
func (a *assertionCredential) String() string {
	return "entra certificate assertion " + a.alg.String() + " " + a.cert.Thumbprint()
}

func (a *assertionCredential) sign(audience string) (string, error) {
	leaf := a.cert.Leaf()
	if leaf == nil {
		return "", fmt.Errorf("entra: client assertion: certificate has no leaf")
	}
	jti, err := newUUID()
	if err != nil {
		return "", fmt.Errorf("entra: client assertion: %w", err)
	}
	now := a.now().Truncate(time.Second)
	claims := assertionClaims{
		Audience:  audience,
		Issuer:    a.clientID,
		Subject:   a.clientID,
		ID:        jti,
		NotBefore: now.Unix(),
		IssuedAt:  now.Unix(),
		Expiry:    now.Add(assertionLifetime).Unix(),
	}
	header := map[string]any{}
	var alg string
	switch a.alg {
	case AssertionPS256:
		alg = jwt.PS256
		header["x5t#S256"] = jwt.ThumbprintS256(leaf)
	case AssertionRS256:
		alg = jwt.RS256
		header["x5t"] = jwt.ThumbprintSHA1(leaf)
	default:
		return "", fmt.Errorf("entra: client assertion: unknown %s", a.alg)
	}
	if a.sendChain {
		x5c := make([]string, len(a.cert.Chain))
		for i, c := range a.cert.Chain {
			x5c[i] = base64.StdEncoding.EncodeToString(c.Raw) // RFC 7515 4.1.6: standard base64
		}
		header["x5c"] = x5c
	}
	tok, err := jwt.Sign(a.cert.Key, alg, header, claims)
	if err != nil {
		return "", fmt.Errorf("entra: client assertion: %w", err)
	}
	return tok, nil
}

// newUUID returns a random (version 4) UUID from crypto/rand.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
