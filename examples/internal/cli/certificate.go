package cli

import (
	"bytes"
	"fmt"
	"os"

	"github.com/mailoauth/mailoauth/provider/entra"
)

// EnvCertPassword holds the password of a .pfx or .p12 certificate file.
const EnvCertPassword = "MAILOAUTH_CERT_PASSWORD"

// pemMarker starts every PEM block; a PKCS#12 file is binary DER.
var pemMarker = []byte("-----BEGIN")

// LoadCertificate reads an app registration's certificate credential from
// path: PEM holding the certificate and its private key, or PKCS#12 (.pfx,
// .p12) opened with password. The format is told from the contents, not
// the file's name. No error quotes the password.
func LoadCertificate(path, password string) (*entra.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the certificate: %w", err)
	}
	var cert *entra.Certificate
	if bytes.Contains(data, pemMarker) {
		cert, err = entra.ParseCertificatePEM(data)
	} else {
		cert, err = entra.ParseCertificatePKCS12(data, password)
	}
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", path, err)
	}
	return cert, nil
}
