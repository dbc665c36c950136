package authorize

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
)

// PKCE (RFC 7636) and state parameters.
const (
	// pkceVerifierBytes of randomness give a 64-character verifier (RFC 7636
	// allows 43 to 128).
	pkceVerifierBytes = 48
	// stateBytes of randomness: 256 bits, twice the 128 bits RFC 6749
	// section 10.10 asks of a value an attacker must not guess.
	stateBytes = 32
	// PKCEMethod is the only code_challenge_method this package sends.
	PKCEMethod = "S256"
)

// PKCE is one code verifier and the challenge derived from it.
type PKCE struct {
	Verifier  string // secret: sent only with the code exchange
	Challenge string // base64url(SHA-256(Verifier)), sent to the authorize endpoint
}

// NewPKCE returns a fresh verifier from crypto/rand and its S256 challenge.
func NewPKCE() PKCE {
	v := randomString(pkceVerifierBytes)
	return PKCE{Verifier: v, Challenge: pkceChallenge(v)}
}

// AddTo sets code_challenge and code_challenge_method on an authorize query.
func (p PKCE) AddTo(q url.Values) {
	q.Set("code_challenge", p.Challenge)
	q.Set("code_challenge_method", PKCEMethod)
}

func pkceChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// randomString returns n bytes from crypto/rand, base64url without padding.
// crypto/rand.Read never fails (Go 1.24+: it crashes the program instead of
// returning an error), so there is no error to handle.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newState returns a random state value of 256 bits.
func newState() string { return randomString(stateBytes) }
