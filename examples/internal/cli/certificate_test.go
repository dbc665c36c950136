package cli_test

import (
	"strings"
	"testing"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/examples/internal/clitest"
)

// TestLoadCertificateTellsTheFormatByItsContents loads the same
// credential as PEM and as PKCS#12, each also under the other's file
// name.
func TestLoadCertificateTellsTheFormatByItsContents(t *testing.T) {
	cred := clitest.Certificate(t, "cli test app")
	for _, tc := range []struct {
		name string
		data []byte
	}{{"app.pem", cred.PEM}, {"app.pfx", cred.PFX}, {"pem-named.pfx", cred.PEM}, {"pfx-named.pem", cred.PFX}} {
		got, err := cli.LoadCertificate(clitest.WriteFile(t, tc.name, tc.data), clitest.PFXPassword)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got.Thumbprint() != cred.Thumbprint {
			t.Errorf("%s: thumbprint %s, want %s", tc.name, got.Thumbprint(), cred.Thumbprint)
		}
	}

	_, err := cli.LoadCertificate(clitest.WriteFile(t, "app.pfx", cred.PFX), "not it")
	if err == nil || !strings.Contains(err.Error(), "app.pfx") || strings.Contains(err.Error(), "not it") {
		t.Errorf("wrong password: %v; want an error naming the file, not the password", err)
	}
	_, err = cli.LoadCertificate(t.TempDir()+"/none.pem", "")
	if err == nil || !strings.Contains(err.Error(), "none.pem") {
		t.Errorf("missing file: %v", err)
	}
}
