// Package jwt is the project's one codec for compact JSON Web Tokens (RFC 7519) signed with RSA:
// entra's client assertions, google's service-account assertions, providertest's access tokens and
// entra.Inspect all use it.
//
// Only RS256 (RSASSA-PKCS1-v1_5 with SHA-256) and PS256 (RSASSA-PSS with SHA-256, salt length equal to
// the hash length, RFC 7518 section 3.5) are supported; "none" and every other algorithm are refused.
// Verify checks the signature only: expiry, audience and issuer are the caller's business.
//
//	tok, err := jwt.Sign(key, jwt.PS256, map[string]any{"x5t#S256": jwt.ThumbprintS256(cert)}, claims)
//	...
//	var c MyClaims
//	hdr, err := jwt.Verify(tok, &key.PublicKey, &c)
package jwt

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t (RFC 7515 section 4.1.7) is defined as a SHA-1 thumbprint.
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Algorithm names as they appear in the "alg" header (RFC 7518 section 3.1).
const (
	RS256 = "RS256"
	PS256 = "PS256"
)

// MaxTokenSize is the longest token Decode and Verify accept, in bytes. Real access tokens are a few
// kilobytes; the bound keeps a hostile peer from making us decode megabytes of JSON.
const MaxTokenSize = 64 << 10

// Errors returned (wrapped) by this package; branch with errors.Is.
var (
	// ErrMalformed: the token is not three base64url parts holding JSON objects.
	ErrMalformed = errors.New("jwt: malformed token")
	// ErrAlgorithm: the "alg" is not RS256 or PS256, or does not fit the key.
	ErrAlgorithm = errors.New("jwt: unsupported algorithm")
	// ErrSignature: the signature does not verify with the given key.
	ErrSignature = errors.New("jwt: signature verification failed")
)

var b64 = base64.RawURLEncoding

// Sign returns the compact serialisation header.claims.signature. alg is RS256 or PS256 and key must
// hold an RSA key (an *rsa.PrivateKey, or a crypto.Signer backed by a hardware key). header may be nil;
// "alg" is always set to alg and "typ" to "JWT" unless header names another typ. The caller's header
// map is not modified. claims is encoded with encoding/json.
func Sign(key crypto.Signer, alg string, header map[string]any, claims any) (string, error) {
	if key == nil {
		return "", errors.New("jwt: nil signing key")
	}
	if _, ok := key.Public().(*rsa.PublicKey); !ok {
		return "", fmt.Errorf("%w: %s needs an RSA key, got %T", ErrAlgorithm, alg, key.Public())
	}
	opts, err := signerOpts(alg)
	if err != nil {
		return "", err
	}
	h := make(map[string]any, len(header)+2)
	for k, v := range header {
		h[k] = v
	}
	h["alg"] = alg
	if _, set := h["typ"]; !set {
		h["typ"] = "JWT"
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("jwt: encode header: %w", err)
	}
	cj, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("jwt: encode claims: %w", err)
	}
	if len(bytes.TrimSpace(cj)) == 0 || bytes.TrimSpace(cj)[0] != '{' {
		return "", errors.New("jwt: claims must encode to a JSON object")
	}
	signing := b64.EncodeToString(hj) + "." + b64.EncodeToString(cj)
	digest := sha256.Sum256([]byte(signing))
	sig, err := key.Sign(rand.Reader, digest[:], opts)
	if err != nil {
		return "", fmt.Errorf("jwt: sign: %w", err)
	}
	return signing + "." + b64.EncodeToString(sig), nil
}

// Decode splits token and base64url-decodes its header and claims into header and claims (either may be
// nil to skip it) WITHOUT verifying the signature: use it only to read a token you do not have to trust
// (diagnostics, or to pick the key before Verify). Malformed input gives an error wrapping ErrMalformed.
func Decode(token string, header, claims any) error {
	_, _, err := decode(token, header, claims)
	return err
}

// Verify checks token's RS256 or PS256 signature with pub and then decodes its claims into claims (nil
// to skip). It returns the decoded header. It does not look at exp, nbf, aud or iss.
func Verify(token string, pub *rsa.PublicKey, claims any) (header map[string]any, err error) {
	if pub == nil {
		return nil, errors.New("jwt: nil verification key")
	}
	header = map[string]any{}
	parts, sig, err := decode(token, &header, nil)
	if err != nil {
		return nil, err
	}
	alg, _ := header["alg"].(string)
	digest := sha256.Sum256([]byte(parts))
	switch alg {
	case RS256:
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
	case PS256:
		err = rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	default:
		return nil, fmt.Errorf("%w: %q", ErrAlgorithm, alg)
	}
	if err != nil {
		return nil, ErrSignature
	}
	if claims != nil {
		if err := Decode(token, nil, claims); err != nil {
			return nil, err
		}
	}
	return header, nil
}

// ThumbprintS256 is the "x5t#S256" header value of cert: the base64url SHA-256 of its DER bytes
// (RFC 7515 section 4.1.8).
func ThumbprintS256(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return b64.EncodeToString(sum[:])
}

// ThumbprintSHA1 is the "x5t" header value of cert: the base64url SHA-1 of its DER bytes
// (RFC 7515 section 4.1.7), used by the older RS256 form of Entra client assertions.
func ThumbprintSHA1(cert *x509.Certificate) string {
	sum := sha1.Sum(cert.Raw) //nolint:gosec // defined by RFC 7515 as SHA-1.
	return b64.EncodeToString(sum[:])
}

func signerOpts(alg string) (crypto.SignerOpts, error) {
	switch alg {
	case RS256:
		return crypto.SHA256, nil
	case PS256:
		return &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}, nil
	default:
		return nil, fmt.Errorf("%w: %q", ErrAlgorithm, alg)
	}
}

// decode returns the signing input (header.claims), the raw signature, and fills header and claims.
func decode(token string, header, claims any) (signing string, sig []byte, err error) {
	if len(token) > MaxTokenSize {
		return "", nil, fmt.Errorf("%w: %d bytes is longer than %d", ErrMalformed, len(token), MaxTokenSize)
	}
	h, rest, ok := strings.Cut(token, ".")
	if !ok {
		return "", nil, fmt.Errorf("%w: no '.' separators", ErrMalformed)
	}
	c, s, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(s, ".") {
		return "", nil, fmt.Errorf("%w: want 3 parts separated by '.'", ErrMalformed)
	}
	if err := decodePart("header", h, header); err != nil {
		return "", nil, err
	}
	if err := decodePart("claims", c, claims); err != nil {
		return "", nil, err
	}
	sig, err = b64.DecodeString(s)
	if err != nil {
		return "", nil, fmt.Errorf("%w: signature is not base64url", ErrMalformed)
	}
	return token[:len(h)+1+len(c)], sig, nil
}

func decodePart(name, part string, into any) error {
	raw, err := b64.DecodeString(part)
	if err != nil {
		return fmt.Errorf("%w: %s is not base64url", ErrMalformed, name)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' || !json.Valid(raw) {
		return fmt.Errorf("%w: %s is not a JSON object", ErrMalformed, name)
	}
	if into == nil {
		return nil
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMalformed, name, err)
	}
	return nil
}
