package cli

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/mailoauth/mailoauth/provider/oidc"
)

// OIDCFlags are the flags of a standards-following authorization server
// (provider/oidc): -issuer, and how the client authenticates and what it
// asks for: -auth-method, -key-file, -key-id, -scope and -resource.
type OIDCFlags struct {
	issuer, authMethod, keyFile, keyID, scope, resource *string
	key                                                 crypto.Signer // read by Parse from -key-file
}

// OIDC defines the flags of OIDCFlags; scope is -scope's default. Parse
// reads the private key of -key-file.
func (f *Flags) OIDC(scope string) *OIDCFlags {
	o := &OIDCFlags{
		issuer:     f.EnvString("issuer", "", ""),
		authMethod: f.EnvString("auth-method", "", ""),
		keyFile:    f.EnvString("key-file", "", ""),
		keyID:      f.EnvString("key-id", "", ""),
		scope:      f.EnvString("scope", scope, ""),
		resource:   f.EnvString("resource", "", ""),
	}
	f.check(func() (err error) {
		if *o.keyFile != "" {
			o.key, err = LoadPrivateKey(*o.keyFile)
		}
		return err
	})
	return o
}

// Config returns the oidc.Config the flags give, with the client secret
// of cred (-secret-file or $MAILOAUTH_CLIENT_SECRET), for mailbox, its
// requests through hc. A secret and -key-file together are a *UsageError.
// Call it after Flags.Parse.
func (o *OIDCFlags) Config(clientID string, cred Credential, mailbox string, hc *http.Client) (oidc.Config, error) {
	if cred.Secret != "" && o.key != nil {
		return oidc.Config{}, Usagef("both a client secret and -key-file are given: choose one credential")
	}
	return oidc.Config{
		Issuer:       strings.TrimSpace(*o.issuer),
		ClientID:     clientID,
		ClientSecret: cred.Secret,
		PrivateKey:   o.key,
		KeyID:        *o.keyID,
		AuthMethod:   *o.authMethod,
		Scopes:       strings.Fields(strings.ReplaceAll(*o.scope, ",", " ")),
		Resources:    List(*o.resource),
		Mailbox:      mailbox,
		HTTPClient:   hc,
	}, nil
}

// LoadPrivateKey reads a private key for client assertions from a PEM
// file: PKCS#8, or an RSA (PKCS#1) or EC (SEC 1) key. No error quotes it.
func LoadPrivateKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-key-file: read the private key: %w", err)
	}
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return nil, Usagef("-key-file %s: no PEM private key in it", path)
		}
		var key any
		switch b.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, Usagef("-key-file %s: the private key does not parse", path)
		}
		s, ok := key.(crypto.Signer)
		if !ok {
			return nil, Usagef("-key-file %s: not a signing key", path)
		}
		return s, nil
	}
}
