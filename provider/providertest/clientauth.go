package providertest

import (
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is defined as a SHA-1 thumbprint.
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mailoauth/mailoauth/internal/jwt"
)

// clientAssertionType is the only client_assertion_type (RFC 7523 section 2.2).
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// App authentication methods, as the appidacr claim says them.
const (
	acrPublic      = "0"
	acrSecret      = "1"
	acrCertificate = "2"
)

// clientCred is the client authentication a request carries.
type clientCred struct {
	id            string
	secret        string
	assertion     string
	assertionType string
}

// readClientCred reads client_id and the credential from the form or HTTP Basic authentication.
func readClientCred(r *http.Request) clientCred {
	c := clientCred{
		id:            r.PostForm.Get("client_id"),
		secret:        r.PostForm.Get("client_secret"),
		assertion:     r.PostForm.Get("client_assertion"),
		assertionType: r.PostForm.Get("client_assertion_type"),
	}
	if id, secret, ok := r.BasicAuth(); ok {
		// RFC 6749 section 2.3.1: both parts are form-encoded inside Basic.
		if v, err := url.QueryUnescape(id); err == nil {
			id = v
		}
		if v, err := url.QueryUnescape(secret); err == nil {
			secret = v
		}
		if c.id == "" {
			c.id = id
		}
		if c.secret == "" {
			c.secret = secret
		}
	}
	return c
}

// authenticateEntraLocked applies Entra's client authentication rules to a. endpoints are the URLs
// a certificate assertion's aud may name. An assertion that is an external token is checked against
// the app's federated credentials instead. It returns the appidacr value.
func (s *Server) authenticateEntraLocked(a App, c clientCred, endpoints []string) (string, *tokenError) {
	hasSecret, hasAssertion := c.secret != "", c.assertion != "" || c.assertionType != ""
	if a.Public {
		if hasSecret || hasAssertion {
			return "", errPublicCredential()
		}
		return acrPublic, nil
	}
	if !hasSecret && !hasAssertion {
		return "", errNoCredential()
	}
	if hasAssertion {
		check := s.checkAssertionLocked
		if c.assertionType == clientAssertionType && isFederated(a, c.assertion) {
			check = func(a App, c clientCred, _ []string) *tokenError { return s.checkFederatedLocked(a, c) }
		}
		if err := check(a, c, endpoints); err != nil {
			return "", err
		}
		return acrCertificate, nil
	}
	if a.Secret == "" || subtle.ConstantTimeCompare([]byte(c.secret), []byte(a.Secret)) != 1 {
		return "", errBadSecret(a.ClientID)
	}
	if !a.SecretExpiresAt.IsZero() && s.nowLocked().After(a.SecretExpiresAt) {
		return "", errSecretExpired(a.ClientID)
	}
	return acrSecret, nil
}

// authenticateGoogleLocked applies Google's rules: an app with a Secret must send it.
func authenticateGoogle(a App, c clientCred) *tokenError {
	if a.Secret == "" {
		return nil
	}
	if c.secret == "" {
		return errNoCredential()
	}
	if subtle.ConstantTimeCompare([]byte(c.secret), []byte(a.Secret)) != 1 {
		return &tokenError{err: errInvalidClient, gDesc: "Unauthorized", code: 7000215}
	}
	return nil
}

// assertionClaims are the claims of a client assertion or JWT-bearer grant.
type assertionClaims struct {
	Aud   any     `json:"aud"`
	Iss   string  `json:"iss"`
	Sub   string  `json:"sub"`
	Jti   string  `json:"jti"`
	Exp   float64 `json:"exp"`
	Nbf   float64 `json:"nbf"`
	Iat   float64 `json:"iat"`
	Scope string  `json:"scope"`
}

func (c *assertionClaims) audiences() []string {
	switch v := c.Aud.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// checkAssertionLocked verifies an Entra certificate credential: thumbprint, signature, iss = sub =
// client ID, aud = the token endpoint, time window (5 minutes of skew on nbf) and a jti never seen.
func (s *Server) checkAssertionLocked(a App, c clientCred, endpoints []string) *tokenError {
	if c.assertionType == "" {
		return errMissingParam("client_assertion_type")
	}
	if c.assertionType != clientAssertionType {
		return errAssertionMalformed("client_assertion_type must be " + clientAssertionType + ".")
	}
	if c.assertion == "" {
		return errMissingParam("client_assertion")
	}
	hdr := map[string]any{}
	if err := jwt.Decode(c.assertion, &hdr, nil); err != nil {
		return errAssertionMalformed("The client assertion could not be decoded.")
	}
	s256, _ := hdr["x5t#S256"].(string)
	s1, _ := hdr["x5t"].(string)
	used := s256
	if used == "" {
		used = s1
	}
	if a.Certificate == nil {
		return errAssertionKeyUnknown(used)
	}
	sum256 := sha256.Sum256(a.Certificate.Raw)
	sum1 := sha1.Sum(a.Certificate.Raw) //nolint:gosec // x5t is SHA-1 by definition.
	if !(s256 != "" && thumbprintMatches(s256, sum256[:])) && !(s1 != "" && thumbprintMatches(s1, sum1[:])) {
		return errAssertionKeyUnknown(used)
	}
	pub, ok := a.Certificate.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errAssertionSignature()
	}
	var cl assertionClaims
	if _, err := jwt.Verify(c.assertion, pub, &cl); err != nil {
		if errors.Is(err, jwt.ErrSignature) || errors.Is(err, jwt.ErrAlgorithm) {
			return errAssertionSignature()
		}
		return errAssertionMalformed("The client assertion could not be decoded.")
	}
	if cl.Iss != a.ClientID || cl.Sub != a.ClientID {
		return errAssertionIssuer()
	}
	auds := cl.audiences()
	if !slices.ContainsFunc(auds, func(x string) bool { return slices.Contains(endpoints, x) }) {
		return errAssertionAudience(strings.Join(auds, " "), endpoints[0])
	}
	now := s.nowLocked()
	if cl.Exp == 0 {
		return errAssertionMalformed("The client assertion has no 'exp' claim.")
	}
	exp := time.Unix(int64(cl.Exp), 0)
	nbf := exp.Add(-10 * time.Minute)
	if cl.Nbf != 0 {
		nbf = time.Unix(int64(cl.Nbf), 0)
	} else if cl.Iat != 0 {
		nbf = time.Unix(int64(cl.Iat), 0)
	}
	if !now.Before(exp) || now.Add(assertionSkew).Before(nbf) {
		return errAssertionTime(now, nbf, exp)
	}
	if cl.Jti == "" {
		return errAssertionMalformed("The client assertion has no 'jti' claim.")
	}
	key := a.ClientID + "|" + cl.Jti
	if _, seen := s.assertions[key]; seen {
		return errAssertionReplayed()
	}
	for k, e := range s.assertions {
		if now.After(e) {
			delete(s.assertions, k) // expired assertions can no longer be replayed anyway
		}
	}
	s.assertions[key] = exp
	return nil
}

// thumbprintMatches compares a thumbprint header with a digest, accepting base64url (as RFC 7515
// says) and standard base64 (as MSAL sends x5t#S256), with or without padding.
func thumbprintMatches(header string, sum []byte) bool {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		if b, err := enc.DecodeString(header); err == nil && subtle.ConstantTimeCompare(b, sum) == 1 {
			return true
		}
	}
	return false
}

// tokenEndpoints are the URLs an assertion posted to r may name as aud.
func (s *Server) tokenEndpoints(r *http.Request) []string {
	eps := []string{s.URL() + r.URL.Path}
	if r.TLS == nil && r.Host != "" {
		eps = append(eps, "http://"+r.Host+r.URL.Path)
	}
	return eps
}
