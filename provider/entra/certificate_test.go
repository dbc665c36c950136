package entra_test

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/mailoauth/mailoauth/provider/entra"
)

func TestParseCertificatePEMKeyFormats(t *testing.T) {
	p := getPKI(t)
	cases := []struct {
		name string
		data []byte
		leaf string
	}{
		{"PKCS#8 RSA, cert first", concat(pemCert(p.leaf), pemPKCS8(t, p.leafKey)), "mailoauth app"},
		{"PKCS#1 RSA, key first", concat(pemPKCS1(p.leafKey), pemCert(p.leaf)), "mailoauth app"},
		{"EC SEC1", concat(pemCert(p.ecLeaf), pemEC(t, p.ecKey)), "mailoauth ec app"},
		{"EC PKCS#8", concat(pemCert(p.ecLeaf), pemPKCS8(t, p.ecKey)), "mailoauth ec app"},
		{"CA listed before leaf", concat(pemCert(p.ca), pemCert(p.leaf), pemPKCS8(t, p.leafKey)), "mailoauth app"},
		{"text around blocks", concat([]byte("Bag Attributes\n  friendlyName: app\n"), pemCert(p.leaf), []byte("junk\n"), pemPKCS1(p.leafKey)), "mailoauth app"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := entra.ParseCertificatePEM(tc.data)
			require.NoError(t, err)
			require.NotEmpty(t, c.Chain)
			assert.Equal(t, tc.leaf, c.Leaf().Subject.CommonName, "the certificate matching the key is the leaf")
			assert.True(t, c.Leaf().PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(c.Key.Public()))
			assert.Equal(t, c.Leaf().NotAfter, c.NotAfter())
		})
	}

	c, err := entra.ParseCertificatePEM(concat(pemCert(p.ca), pemCert(p.leaf), pemPKCS8(t, p.leafKey)))
	require.NoError(t, err)
	require.Len(t, c.Chain, 2, "the CA stays in the chain, after the leaf")
	assert.Equal(t, "mailoauth test CA", c.Chain[1].Subject.CommonName)
}

func TestParseCertificatePEMRefusesBadInput(t *testing.T) {
	p := getPKI(t)
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{
		"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00112233445566778899AABBCCDDEEFF"}, Bytes: []byte("xx")})
	cases := []struct {
		name, data, want string
	}{
		{"empty", "", "no PEM data"},
		{"DER, not PEM", "\x30\x82\x01\x00garbage", "ParseCertificatePKCS12"},
		{"certificate only", string(pemCert(p.leaf)), "no private key"},
		{"key only", string(pemPKCS8(t, p.leafKey)), "no CERTIFICATE"},
		{"key of another certificate", string(concat(pemCert(p.ca), pemPKCS8(t, p.leafKey))), "none of the 1 certificates belongs to the RSA private key"},
		{"two keys", string(concat(pemCert(p.leaf), pemPKCS8(t, p.leafKey), pemPKCS1(p.leafKey))), "second private key"},
		{"PKCS#8 encrypted", string(concat(pemCert(p.leaf), pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}))), "encrypted"},
		{"legacy encrypted PEM", string(concat(pemCert(p.leaf), encrypted)), "encrypted"},
		{"corrupt certificate", string(concat(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("nope")}), pemPKCS8(t, p.leafKey))), "PEM block 1: certificate"},
		{"corrupt key", string(concat(pemCert(p.leaf), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("nope")}))), "PEM block 2: private key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := entra.ParseCertificatePEM([]byte(tc.data))
			require.Error(t, err)
			assert.Nil(t, c)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestParseCertificatePKCS12(t *testing.T) {
	p := getPKI(t)
	//lint:ignore SA1019 Encode (legacy RC2) is what older Windows exports look like; the brief asks for it.
	legacy, err := pkcs12.Encode(rand.Reader, p.leafKey, p.leaf, nil, "s3cret") //nolint:staticcheck
	require.NoError(t, err)
	modernWithCA, err := pkcs12.Modern.Encode(p.leafKey, p.leaf, []*x509.Certificate{p.ca}, "pfx-pass")
	require.NoError(t, err)
	noPassword, err := pkcs12.Modern.Encode(p.leafKey, p.leaf, nil, "")
	require.NoError(t, err)

	t.Run("legacy RC2 with password", func(t *testing.T) {
		c, err := entra.ParseCertificatePKCS12(legacy, "s3cret")
		require.NoError(t, err)
		assert.Equal(t, p.leaf.Raw, c.Leaf().Raw)
		assert.Len(t, c.Chain, 1)
		assert.True(t, p.leafKey.PublicKey.Equal(c.Key.Public()))
	})
	t.Run("modern with CA", func(t *testing.T) {
		c, err := entra.ParseCertificatePKCS12(modernWithCA, "pfx-pass")
		require.NoError(t, err)
		require.Len(t, c.Chain, 2)
		assert.Equal(t, p.leaf.Raw, c.Chain[0].Raw)
		assert.Equal(t, p.ca.Raw, c.Chain[1].Raw)
	})
	t.Run("no password", func(t *testing.T) {
		c, err := entra.ParseCertificatePKCS12(noPassword, "")
		require.NoError(t, err)
		assert.Equal(t, p.leaf.Raw, c.Leaf().Raw)
	})
	t.Run("wrong password", func(t *testing.T) {
		_, err := entra.ParseCertificatePKCS12(legacy, "wrong")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "wrong password")
		assert.NotContains(t, err.Error(), "s3cret")
	})
	t.Run("not PKCS#12", func(t *testing.T) {
		_, err := entra.ParseCertificatePKCS12(pemCert(p.leaf), "")
		require.Error(t, err)
		_, err = entra.ParseCertificatePKCS12(nil, "")
		require.ErrorContains(t, err, "empty")
	})
	t.Run("truncated", func(t *testing.T) {
		for _, n := range []int{1, 10, len(legacy) / 2, len(legacy) - 1} {
			_, err := entra.ParseCertificatePKCS12(legacy[:n], "s3cret")
			require.Error(t, err, "truncated to %d bytes", n)
		}
	})
}

func TestCertificateNeverPrintsItsKey(t *testing.T) {
	p := getPKI(t)
	c, err := entra.ParseCertificatePEM(concat(pemCert(p.leaf), pemPKCS8(t, p.leafKey)))
	require.NoError(t, err)
	d := p.leafKey.D.String()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, c)
		assert.NotContains(t, out, d[:20], verb)
		assert.Contains(t, out, c.Thumbprint(), verb)
	}
	assert.Len(t, c.Thumbprint(), 40)
	assert.Equal(t, strings.ToUpper(c.Thumbprint()), c.Thumbprint())
}
