package cli_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/examples/internal/clitest"
	"github.com/mailoauth/mailoauth/provider"
)

var exchangeSMTP = provider.Server{Host: "smtp.office365.com", Port: 587, Security: provider.StartTLS}

func TestServerFlagsReplaceWhatIsSet(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want provider.Server
	}{
		{"nothing", nil, nil, exchangeSMTP},
		{"host only", nil, []string{"-smtp-host", "127.0.0.1"}, provider.Server{Host: "127.0.0.1", Port: 587, Security: provider.StartTLS}},
		{"port from the environment", map[string]string{"MAILOAUTH_SMTP_PORT": "2525"}, nil, provider.Server{Host: "smtp.office365.com", Port: 2525, Security: provider.StartTLS}},
		{"everything", map[string]string{"MAILOAUTH_SMTP_SECURITY": "starttls"}, []string{"-smtp-host", "::1", "-smtp-port", "465", "-smtp-security", "TLS"},
			provider.Server{Host: "::1", Port: 465, Security: provider.ImplicitTLS}},
		{"plaintext", nil, []string{"-smtp-security", "plaintext"}, provider.Server{Host: "smtp.office365.com", Port: 587, Security: provider.Plaintext}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := cli.NewFlags("prog", clitest.Env(tc.env), &bytes.Buffer{})
			smtp := fs.Server("smtp", "the provider's")
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if got := smtp.Apply(exchangeSMTP); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestServerFlagMistakes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-imap-port", "99999"}, "-imap-port 99999 is not a port number"},
		{[]string{"-imap-port", "-1"}, "-imap-port -1 is not a port number"},
		{[]string{"-imap-security", "ssl"}, `-imap-security "ssl": want starttls, tls or plaintext`},
	} {
		fs := cli.NewFlags("prog", clitest.Env(nil), &bytes.Buffer{})
		fs.Server("imap", "")
		err := fs.Parse(tc.args)
		if err == nil || !isUsage(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want a usage error %q", tc.args, err, tc.want)
		}
	}
}
