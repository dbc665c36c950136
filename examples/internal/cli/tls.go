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
