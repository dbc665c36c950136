// Package jwt is the project's one codec for compact JSON Web Tokens (RFC 7519): provider/oauth's
// client assertions (private_key_jwt, Entra's certificate credential among them), providertest's
// access tokens and entra.Inspect all use it.
//
// Only RS256 (RSASSA-PKCS1-v1_5 with SHA-256), PS256 (RSASSA-PSS with SHA-256, salt length equal to
// the hash length, RFC 7518 section 3.5) and ES256 (ECDSA on P-256 with SHA-256, the signature as
// R and S of 32 bytes each, RFC 7518 section 3.4) are supported; "none" and every other algorithm
// are refused. Verify checks the signature only: expiry, audience and issuer are the caller's
// business.
//
//	tok, err := jwt.Sign(key, jwt.PS256, map[string]any{"x5t#S256": jwt.ThumbprintS256(cert)}, claims)
//	...
//	var c MyClaims
//	hdr, err := jwt.Verify(tok, &key.PublicKey, &c)
package jwt

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t (RFC 7515 section 4.1.7) is defined as a SHA-1 thumbprint.
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Algorithm names as they appear in the "alg" header (RFC 7518 section 3.1).
const (
	RS256 = "RS256"
	PS256 = "PS256"
	ES256 = "ES256"
)

// es256Size is the length of each of R and S in an ES256 signature (RFC 7518 section 3.4).
const es256Size = 32

// MaxTokenSize is the longest token Decode and Verify accept, in bytes. Real access tokens are a few
// kilobytes; the bound keeps a hostile peer from making us decode megabytes of JSON.
const MaxTokenSize = 64 << 10

// Errors returned (wrapped) by this package; branch with errors.Is.
var (
	// ErrMalformed: the token is not three base64url parts holding JSON objects.
	ErrMalformed = errors.New("jwt: malformed token")
	// ErrAlgorithm: the "alg" is not RS256, PS256 or ES256, or does not fit the key.
	ErrAlgorithm = errors.New("jwt: unsupported algorithm")
	// ErrSignature: the signature does not verify with the given key.
	ErrSignature = errors.New("jwt: signature verification failed")
)

var b64 = base64.RawURLEncoding

// Sign returns the compact serialisation header.claims.signature. alg is RS256 or PS256 with an RSA
// key, or ES256 with an ECDSA P-256 key (an *rsa.PrivateKey or *ecdsa.PrivateKey, or a crypto.Signer
// backed by a hardware key). header may be nil; "alg" is always set to alg and "typ" to "JWT" unless
// header names another typ. The caller's header map is not modified. claims is encoded with
// encoding/json.
func Sign(key crypto.Signer, alg string, header map[string]any, claims any) (string, error) {
	if key == nil {
		return "", errors.New("jwt: nil signing key")
	}
	if err := KeyFits(key.Public(), alg); err != nil {
		return "", err
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
	if alg == ES256 {
		// crypto.Signer gives ASN.1 DER; JWS wants R and S side by side.
		if sig, err = rawECDSA(sig); err != nil {
			return "", err
		}
	}
	return signing + "." + b64.EncodeToString(sig), nil
}

// KeyFits reports, as an error wrapping ErrAlgorithm, a public key that cannot make or check
// signatures of alg: RS256 and PS256 need RSA, ES256 an ECDSA key on P-256.
func KeyFits(pub crypto.PublicKey, alg string) error {
	switch alg {
	case RS256, PS256:
		if _, ok := pub.(*rsa.PublicKey); ok {
			return nil
		}
		return fmt.Errorf("%w: %s needs an RSA key, got %s", ErrAlgorithm, alg, keyName(pub))
	case ES256:
		if k, ok := pub.(*ecdsa.PublicKey); ok && k.Curve == elliptic.P256() {
			return nil
		}
		return fmt.Errorf("%w: %s needs an ECDSA key on the P-256 curve, got %s", ErrAlgorithm, alg, keyName(pub))
	}
	return fmt.Errorf("%w: %q", ErrAlgorithm, alg)
}

// keyName names a public key's type for an error, without its value.
func keyName(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return "an RSA key"
	case *ecdsa.PublicKey:
		return "an ECDSA key on " + k.Curve.Params().Name
	case nil:
		return "no key"
	}
	return fmt.Sprintf("a %T", pub)
}

// rawECDSA turns an ASN.1 DER ECDSA signature into R and S of es256Size bytes each.
func rawECDSA(der []byte) ([]byte, error) {
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &rs)
	if err != nil || len(rest) > 0 || rs.R == nil || rs.S == nil ||
		rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.R.BitLen() > 8*es256Size || rs.S.BitLen() > 8*es256Size {
		return nil, errors.New("jwt: sign: the key returned a malformed ECDSA signature")
	}
	out := make([]byte, 2*es256Size)
	rs.R.FillBytes(out[:es256Size])
	rs.S.FillBytes(out[es256Size:])
	return out, nil
}

// Decode splits token and base64url-decodes its header and claims into header and claims (either may be
// nil to skip it) WITHOUT verifying the signature: use it only to read a token you do not have to trust
// (diagnostics, or to pick the key before Verify). Malformed input gives an error wrapping ErrMalformed.
func Decode(token string, header, claims any) error {
	_, _, err := decode(token, header, claims)
	return err
}

// Verify checks token's RS256, PS256 (pub an *rsa.PublicKey) or ES256 (pub an *ecdsa.PublicKey on
// P-256) signature and then decodes its claims into claims (nil to skip). It returns the decoded
// header. An "alg" that does not fit pub is refused with ErrAlgorithm. It does not look at exp, nbf,
// aud or iss.
func Verify(token string, pub crypto.PublicKey, claims any) (header map[string]any, err error) {
	if pub == nil || pub == (*rsa.PublicKey)(nil) || pub == (*ecdsa.PublicKey)(nil) {
		return nil, errors.New("jwt: nil verification key")
	}
	header = map[string]any{}
	parts, sig, err := decode(token, &header, nil)
	if err != nil {
		return nil, err
	}
	alg, _ := header["alg"].(string)
	if err := KeyFits(pub, alg); err != nil {
		return nil, err
	}
	digest := sha256.Sum256([]byte(parts))
	ok := false
	switch alg {
	case RS256:
		ok = rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, digest[:], sig) == nil
	case PS256:
		ok = rsa.VerifyPSS(pub.(*rsa.PublicKey), crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}) == nil
	case ES256:
		ok = len(sig) == 2*es256Size && ecdsa.Verify(pub.(*ecdsa.PublicKey), digest[:],
			new(big.Int).SetBytes(sig[:es256Size]), new(big.Int).SetBytes(sig[es256Size:]))
	}
	if !ok {
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
	case ES256:
		return crypto.SHA256, nil
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
