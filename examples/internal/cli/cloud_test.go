package cli_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/examples/internal/clitest"
	"github.com/mailoauth/mailoauth/provider/entra"
)

// TestCloudNamesPickLoginAndExchangeTogether: the login host and the
// Exchange servers come from the same national cloud, and an authority
// host replaces the login host only.
func TestCloudNamesPickLoginAndExchangeTogether(t *testing.T) {
	for name, want := range map[string]entra.Cloud{
		"": entra.Global, "global": entra.Global, "usgov": entra.USGovernment, "GCCHigh": entra.USGovernment,
		"usgovdod": entra.USGovernmentDoD, "dod": entra.USGovernmentDoD, " china ": entra.China,
	} {
		got, err := cli.CloudNamed(name, "")
		if err != nil || got.AuthorityHost != want.AuthorityHost || got.SMTP != want.SMTP || got.IMAP != want.IMAP {
			t.Errorf("%q: %+v, %v; want %+v", name, got, err, want)
		}
	}
	got, err := cli.CloudNamed("china", "https://127.0.0.1:8443/")
	if err != nil || got.AuthorityHost != "https://127.0.0.1:8443" || got.SMTP != entra.China.SMTP {
		t.Errorf("with an authority host: %+v, %v", got, err)
	}
	if _, err := cli.CloudNamed("mars", ""); err == nil || !isUsage(err) || !strings.Contains(err.Error(), `-cloud "mars"`) {
		t.Errorf("unknown cloud: %v", err)
	}
}

func TestCloudFlags(t *testing.T) {
	var help bytes.Buffer
	env := clitest.Env(map[string]string{"MAILOAUTH_CLOUD": "usgov", "MAILOAUTH_AUTHORITY_HOST": "https://127.0.0.1:1/"})
	fs := cli.NewFlags("prog", env, &help)
	cl := fs.Cloud()
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if got := cl.Cloud(); got.AuthorityHost != "https://127.0.0.1:1" || got.SMTP != entra.USGovernment.SMTP {
		t.Errorf("from the environment: %+v", got)
	}

	fs = cli.NewFlags("prog", clitest.Env(nil), &help)
	fs.Cloud()
	if err := fs.Parse([]string{"-cloud", "mars"}); err == nil || !isUsage(err) {
		t.Errorf("unknown cloud: %v", err)
	}
	fs.Usage()
	if !strings.Contains(help.String(), "Entra: the Microsoft cloud: global, usgov, usgovdod or china [$MAILOAUTH_CLOUD]") {
		t.Errorf("-h:\n%s", help.String())
	}
}
