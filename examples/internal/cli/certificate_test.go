package cli_test

import (
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/examples/internal/clitest"
	"github.com/mailoauth/mailoauth/provider/entra"
)

// TestLoadCertificateTellsTheFormatByItsContents loads the same
// credential as PEM and as PKCS#12, each also under the other's file
// name.
func TestLoadCertificateTellsTheFormatByItsContents(t *testing.T) {
	key, cert, pemFile := clitest.Certificate(t, "cli test app")
	const password = "pfx-password"
	pfx, err := pkcs12.Modern.Encode(key, cert, nil, password)
	if err != nil {
		t.Fatal(err)
	}
	want, err := entra.ParseCertificatePEM(pemFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{{"app.pem", pemFile}, {"app.pfx", pfx}, {"pem-named.pfx", pemFile}, {"pfx-named.pem", pfx}} {
		got, err := cli.LoadCertificate(clitest.WriteFile(t, tc.name, tc.data), password)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got.Thumbprint() != want.Thumbprint() {
			t.Errorf("%s: thumbprint %s, want %s", tc.name, got.Thumbprint(), want.Thumbprint())
		}
	}

	_, err = cli.LoadCertificate(clitest.WriteFile(t, "app.pfx", pfx), "not it")
	if err == nil || !strings.Contains(err.Error(), "app.pfx") || strings.Contains(err.Error(), "not it") {
		t.Errorf("wrong password: %v; want an error naming the file, not the password", err)
	}
	_, err = cli.LoadCertificate(t.TempDir()+"/none.pem", "")
	if err == nil || !strings.Contains(err.Error(), "none.pem") {
		t.Errorf("missing file: %v", err)
	}
}
