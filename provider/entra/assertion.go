package entra

import (
	"encoding/base64"
	"fmt"
	"time"

	"github.com/mailoauth/mailoauth/internal/jwt"
	"github.com/mailoauth/mailoauth/provider/oauth"
	"github.com/mailoauth/mailoauth/retry"
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

// assertionLifetime is how long an assertion is valid: Microsoft asks for
// a short window of 5 to 10 minutes.
const assertionLifetime = 10 * time.Minute

// assertion returns the certificate credential as private_key_jwt (RFC
// 7523) with the header Entra ID names the certificate by: a new
// assertion for every token request, so that none is replayed (Entra
// refuses a reused jti). c has passed check.
func (c *Certificate) assertion(alg AssertionAlgorithm, sendChain bool, clock retry.Clock) (*oauth.PrivateKeyJWT, error) {
	leaf := c.Leaf()
	header := map[string]any{}
	var name string
	switch alg {
	case AssertionPS256:
		name = jwt.PS256
		header["x5t#S256"] = jwt.ThumbprintS256(leaf)
	case AssertionRS256:
		name = jwt.RS256
		header["x5t"] = jwt.ThumbprintSHA1(leaf)
	default:
		return nil, fmt.Errorf("unknown %s", alg)
	}
	if sendChain {
		x5c := make([]string, len(c.Chain))
		for i, cert := range c.Chain {
			x5c[i] = base64.StdEncoding.EncodeToString(cert.Raw) // RFC 7515 4.1.6: standard base64
		}
		header["x5c"] = x5c
	}
	return &oauth.PrivateKeyJWT{Key: c.Key, Algorithm: name, Header: header, Lifetime: assertionLifetime, Clock: clock}, nil
}
