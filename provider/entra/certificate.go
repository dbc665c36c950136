package entra

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // the portal shows certificates by their SHA-1 thumbprint
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// Certificate is a certificate credential: the certificate uploaded to the
// app registration (Chain[0], the leaf) and its private key.
//
// The key must be RSA for client assertions; Parse functions also accept EC
// keys so that a wrong file gets a precise error later instead of a parse
// failure.
type Certificate struct {
	Chain []*x509.Certificate // the leaf first, then its issuers
	Key   crypto.Signer
}

// Leaf returns the certificate whose thumbprint the app registration knows.
func (c *Certificate) Leaf() *x509.Certificate {
	if c == nil || len(c.Chain) == 0 {
		return nil
	}
	return c.Chain[0]
}

// NotAfter returns the leaf's expiry, or the zero time without a leaf.
func (c *Certificate) NotAfter() time.Time {
	if l := c.Leaf(); l != nil {
		return l.NotAfter
	}
	return time.Time{}
}

// Thumbprint returns the leaf's SHA-1 thumbprint in upper-case hex, the
// form the Entra portal lists under "Certificates & secrets".
func (c *Certificate) Thumbprint() string {
	l := c.Leaf()
	if l == nil {
		return "(no certificate)"
	}
	sum := sha1.Sum(l.Raw) //nolint:gosec // display only
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// String names the certificate without showing its key.
func (c *Certificate) String() string {
	l := c.Leaf()
	if l == nil {
		return "entra.Certificate{}"
	}
	return fmt.Sprintf("entra.Certificate{Subject: %q, Thumbprint: %s, NotAfter: %s}",
		l.Subject.String(), c.Thumbprint(), l.NotAfter.UTC().Format(time.DateOnly))
}

// GoString is String, so that %#v never prints the private key.
func (c *Certificate) GoString() string { return c.String() }

// check reports a Certificate that cannot sign: no chain, no key, or a
// leaf whose public key is not the key's.
func (c *Certificate) check() error {
	switch {
	case c == nil || len(c.Chain) == 0 || c.Chain[0] == nil:
		return errors.New("certificate has no leaf certificate")
	case c.Key == nil:
		return errors.New("certificate has no private key")
	case !publicKeysEqual(c.Chain[0].PublicKey, c.Key.Public()):
		return fmt.Errorf("the private key does not belong to the certificate %q (thumbprint %s)",
			c.Chain[0].Subject.String(), c.Thumbprint())
	}
	return nil
}

// ParseCertificatePEM reads a certificate credential from PEM: one or more
// CERTIFICATE blocks and one private key (PKCS#8 "PRIVATE KEY", PKCS#1 "RSA
// PRIVATE KEY" or "EC PRIVATE KEY"), in any order, as in a file written by
// openssl or by cat cert.pem key.pem. The certificate matching the key
// becomes the leaf, whatever its position. Encrypted keys are refused:
// decrypt the key first or use a PKCS#12 file.
func ParseCertificatePEM(data []byte) (*Certificate, error) {
	var (
		certs []*x509.Certificate
		key   crypto.Signer
		n     int
	)
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		n++
		switch block.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("entra: PEM block %d: certificate: %w", n, err)
			}
			certs = append(certs, c)
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			if key != nil {
				return nil, fmt.Errorf("entra: PEM block %d: a second private key; the file must hold exactly one", n)
			}
			if _, encrypted := block.Headers["DEK-Info"]; encrypted {
				return nil, fmt.Errorf("entra: PEM block %d: the private key is encrypted; decrypt it first (openssl pkey) or load a PKCS#12 file", n)
			}
			k, err := parsePrivateKey(block)
			if err != nil {
				return nil, fmt.Errorf("entra: PEM block %d: %w", n, err)
			}
			key = k
		case "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("entra: PEM block %d: the private key is encrypted; decrypt it first (openssl pkey) or load a PKCS#12 file", n)
		default:
			// Parameters (EC PARAMETERS), CSRs and the like are not part of
			// a credential; skip them.
		}
	}
	if n == 0 {
		return nil, errors.New("entra: no PEM data found (a .pfx or .p12 file is PKCS#12: use ParseCertificatePKCS12)")
	}
	if len(certs) == 0 {
		return nil, errors.New("entra: the PEM data holds no CERTIFICATE block")
	}
	if key == nil {
		return nil, errors.New("entra: the PEM data holds no private key")
	}
	return newCertificate(key, certs)
}

// ParseCertificatePKCS12 reads a certificate credential from a PKCS#12 file
// (.pfx or .p12, as Windows exports a certificate with its private key).
// password may be empty for files exported without one.
func ParseCertificatePKCS12(data []byte, password string) (*Certificate, error) {
	if len(data) == 0 {
		return nil, errors.New("entra: PKCS#12 data is empty")
	}
	priv, leaf, cas, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return nil, fmt.Errorf("entra: PKCS#12: wrong password: %w", err)
		}
		return nil, fmt.Errorf("entra: PKCS#12: %w", err)
	}
	key, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("entra: PKCS#12: private key of type %T cannot sign", priv)
	}
	// DecodeChain calls the first certificate the leaf; files exported by
	// some tools list the CA first, so pick the leaf by its key.
	return newCertificate(key, append([]*x509.Certificate{leaf}, cas...))
}

// newCertificate puts the certificate matching key first.
func newCertificate(key crypto.Signer, certs []*x509.Certificate) (*Certificate, error) {
	pub := key.Public()
	for i, c := range certs {
		if !publicKeysEqual(c.PublicKey, pub) {
			continue
		}
		chain := make([]*x509.Certificate, 0, len(certs))
		chain = append(chain, c)
		chain = append(chain, certs[:i]...)
		chain = append(chain, certs[i+1:]...)
		return &Certificate{Chain: chain, Key: key}, nil
	}
	return nil, fmt.Errorf("entra: none of the %d certificates belongs to the %s private key", len(certs), keyKind(pub))
}

func parsePrivateKey(block *pem.Block) (crypto.Signer, error) {
	var (
		k   any
		err error
	)
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", strings.ToLower(block.Type), err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: key of type %T cannot sign", strings.ToLower(block.Type), k)
	}
	return s, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

func keyKind(pub crypto.PublicKey) string {
	switch pub.(type) {
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		return "ECDSA"
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}
