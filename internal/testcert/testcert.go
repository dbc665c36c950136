// Package testcert makes the self-signed certificate the local test servers
// (smtpxtest, imapxtest) present: ECDSA P-256, valid for 127.0.0.1, ::1 and
// localhost, its own root.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Validity is how long a certificate is valid, counted from an hour before
// it was made (clock skew between test processes).
const Validity = 7 * 24 * time.Hour

// New returns a new certificate whose subject names org, and a pool that
// trusts it.
func New(org string) (tls.Certificate, *x509.CertPool, error) {
	return NewFor(org, "localhost", "127.0.0.1", "::1")
}

// NewFor is New for a certificate valid for hosts only (host names or IP
// addresses), the first one its common name.
func NewFor(org string, hosts ...string) (tls.Certificate, *x509.CertPool, error) {
	if len(hosts) == 0 {
		return tls.Certificate{}, nil, fmt.Errorf("%s: a certificate for no host", org)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("%s: generating a key: %w", org, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("%s: generating a serial number: %w", org, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{org}, CommonName: hosts[0]},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(Validity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("%s: creating the certificate: %w", org, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("%s: parsing the certificate: %w", org, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}
