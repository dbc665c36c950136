package cli

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"
)

// requestTimeout bounds each request to an identity provider.
const requestTimeout = 30 * time.Second

// TLSConfig returns a TLS configuration that trusts the system's
// certificate authorities and those in the PEM file caFile (-ca-file), or
// nil, meaning the system's alone, when caFile is empty. A file without a
// certificate is a *UsageError.
func TLSConfig(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read the CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, Usagef("-ca-file %s: no PEM certificate in it", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// HTTPClient returns the client for an identity provider: TLS 1.2 or
// later, trusting what tlsConfig trusts (nil: the system's authorities),
// proxies from the environment as http.DefaultTransport has them, and 30
// seconds at most per request.
func HTTPClient(tlsConfig *tls.Config) *http.Client {
	if tlsConfig == nil {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment}
	if def, ok := http.DefaultTransport.(*http.Transport); ok {
		tr = def.Clone() // its timeouts and HTTP/2 too
	}
	tr.TLSClientConfig = tlsConfig.Clone()
	return &http.Client{Transport: tr, Timeout: requestTimeout}
}

// CAFlag is -ca-file: a PEM file of certificate
// authorities to trust besides the system's, for servers with a private CA
// such as the local test servers.
type CAFlag struct {
	path *string
	tls  *tls.Config // set by Parse
}

// CAFile defines -ca-file. Parse loads the file as TLSConfig does: a file
// that cannot be read fails the parse, and one without a certificate is a
// *UsageError.
func (f *Flags) CAFile() *CAFlag {
	c := &CAFlag{path: f.EnvString("ca-file", "", "")}
	f.check(func() (err error) {
		c.tls, err = TLSConfig(*c.path)
		return err
	})
	return c
}

// TLSConfig returns the TLS configuration trusting the file's authorities
// and the system's, or nil (the system's alone) without -ca-file. Call it
// after Flags.Parse.
func (c *CAFlag) TLSConfig() *tls.Config { return c.tls }

// HTTPClient returns the client for an identity provider that trusts what
// TLSConfig trusts (see HTTPClient). Call it after Flags.Parse.
func (c *CAFlag) HTTPClient() *http.Client { return HTTPClient(c.tls) }
