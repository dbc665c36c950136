package cli_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/examples/internal/clitest"
)

// TestCAFileIsTrustedByTheHTTPClient: a server whose certificate is in
// -ca-file is reached; without the file it is not.
func TestCAFileIsTrustedByTheHTTPClient(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()

	cfg, err := cli.TLSConfig(clitest.CAFile(t, clitest.PEM(srv.Certificate())))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 || cfg.RootCAs == nil {
		t.Errorf("MinVersion %x, roots %v", cfg.MinVersion, cfg.RootCAs)
	}
	resp, err := cli.HTTPClient(cfg).Get(srv.URL)
	if err != nil {
		t.Fatalf("with the CA file: %v", err)
	}
	resp.Body.Close()

	system, err := cli.TLSConfig("")
	if err != nil || system != nil {
		t.Fatalf("no CA file: %v, %v; want nil (the system's authorities)", system, err)
	}
	c := cli.HTTPClient(nil)
	if c.Timeout == 0 || c.Transport.(*http.Transport).TLSClientConfig.MinVersion != tls.VersionTLS12 {
		t.Errorf("timeout %v, TLS %+v", c.Timeout, c.Transport.(*http.Transport).TLSClientConfig)
	}
	if _, err := c.Get(srv.URL); err == nil {
		t.Error("the system's authorities trust a test server")
	}
}

func TestCAFileFlag(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	env := clitest.Env(map[string]string{"MAILOAUTH_CA_FILE": clitest.CAFile(t, clitest.PEM(srv.Certificate()))})
	fs := cli.NewFlags("prog", env, io.Discard)
	ca := fs.CAFile()
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if ca.TLSConfig() == nil {
		t.Fatal("no TLS configuration from $MAILOAUTH_CA_FILE")
	}
	resp, err := ca.HTTPClient().Get(srv.URL)
	if err != nil {
		t.Fatalf("the client does not trust the file's authority: %v", err)
	}
	resp.Body.Close()

	fs = cli.NewFlags("prog", clitest.Env(nil), io.Discard)
	ca = fs.CAFile()
	if err := fs.Parse(nil); err != nil || ca.TLSConfig() != nil {
		t.Errorf("without -ca-file: %v, %v; want the system's authorities (nil)", ca.TLSConfig(), err)
	}
	fs = cli.NewFlags("prog", clitest.Env(nil), io.Discard)
	fs.CAFile()
	if err := fs.Parse([]string{"-ca-file", clitest.WriteFile(t, "ca.pem", []byte("no certificate"))}); !isUsage(err) {
		t.Errorf("a file without certificates: %v, want a usage error", err)
	}
}

func TestCAFileMistakes(t *testing.T) {
	if _, err := cli.TLSConfig(clitest.WriteFile(t, "ca.pem", []byte("not a certificate"))); err == nil || !isUsage(err) {
		t.Errorf("no certificate in the file: %v, want a usage error", err)
	}
	if _, err := cli.TLSConfig(t.TempDir() + "/none.pem"); err == nil || isUsage(err) {
		t.Errorf("no file: %v, want a failure to read it", err)
	}
}
