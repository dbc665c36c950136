package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/imapx"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/google"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/smtpx"
)

// goNames returns patterns that find a Go name of the library's
// configuration in a text: every field of entra.Config, google.Config and
// provider.Server written as a Go name (two capitals or more, such as
// TenantID, anywhere; a field that is also a word, such as Cloud, after
// "set" or "into" or as Config.Cloud), and TLSConfig.
func goNames(t *testing.T) []*regexp.Regexp {
	t.Helper()
	var res []*regexp.Regexp
	for _, v := range []any{entra.Config{}, google.Config{}, provider.Server{}} {
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			name := typ.Field(i).Name
			capitals := 0
			for _, r := range name {
				if r >= 'A' && r <= 'Z' {
					capitals++
				}
			}
			if capitals >= 2 {
				res = append(res, regexp.MustCompile(`\b`+name+`\b`))
			} else {
				res = append(res, regexp.MustCompile(`(?:\b[Ss]et |\binto |\bConfig\.|\bServer\.)`+name+`\b`))
			}
		}
	}
	return append(res, regexp.MustCompile(`\bTLSConfig\b`))
}

// TestExplainNamesTheProgramsSettings explains real configuration errors
// and diagnoses of the library: each names the program's flag and
// variable for the setting, and no Go field name.
func TestExplainNamesTheProgramsSettings(t *testing.T) {
	ctx := context.Background()
	idp := providertest.New()
	defer idp.Close()
	idp.AddApp(providertest.App{ClientID: "app", Secret: "right", Roles: []string{"SMTP.SendAsApp"}})
	cfg := func(edit func(*entra.Config)) entra.Config {
		c := entra.Config{TenantID: providertest.DefaultTenant, ClientID: "app", ClientSecret: "right", Mailbox: "m@contoso.test",
			Cloud: entra.Global.WithAuthorityHost(idp.URL()), HTTPClient: idp.Client()}
		edit(&c)
		return c
	}
	appOnly := func(c entra.Config) error {
		_, err := entra.ClientCredentials(ctx, c)
		return err
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	tokens := auth.NewSource(auth.FromTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "token"})), nil)
	dialSMTP := func() error {
		mb := &provider.Mailbox{Address: "m@contoso.test", SMTP: provider.Server{Host: "127.0.0.1", Port: closedPort, Security: provider.StartTLS}, Tokens: tokens}
		_, err := smtpx.Dial(ctx, mb, nil)
		return err
	}
	dialIMAP := func() error {
		mb := &provider.Mailbox{Address: "m@contoso.test", IMAP: provider.Server{Host: "127.0.0.1", Port: closedPort, Security: provider.ImplicitTLS}, Tokens: tokens}
		_, err := imapx.Dial(ctx, mb, nil)
		return err
	}
	probe := func(c entra.Config) error { return cli.CheckCredentials(ctx, c) }

	for _, tc := range []struct {
		name string
		err  error
		want []string
	}{
		{"tenant", appOnly(cfg(func(c *entra.Config) { c.TenantID = "not a tenant!" })), []string{"-tenant (or $MAILOAUTH_TENANT): "}},
		{"client", appOnly(cfg(func(c *entra.Config) { c.ClientID = "" })), []string{"-client-id (or $MAILOAUTH_CLIENT_ID): "}},
		{"no credential", appOnly(cfg(func(c *entra.Config) { c.ClientSecret = "" })), []string{"$MAILOAUTH_CLIENT_SECRET (or -secret-file): "}},
		{"authority host", appOnly(cfg(func(c *entra.Config) { c.Cloud = entra.Global.WithAuthorityHost("http://login.example.com") })),
			[]string{"-authority-host (or $MAILOAUTH_AUTHORITY_HOST): "}},
		{"wrong secret", probe(cfg(func(c *entra.Config) { c.ClientSecret = "wrong" })), []string{"AADSTS7000215", "$MAILOAUTH_CLIENT_SECRET (or -secret-file)"}},
		{"unknown app", probe(cfg(func(c *entra.Config) { c.ClientID = "00000000-0000-0000-0000-000000000001" })),
			[]string{"AADSTS700016", "-client-id (or $MAILOAUTH_CLIENT_ID)", "-tenant (or $MAILOAUTH_TENANT)"}},
		{"unknown tenant", probe(cfg(func(c *entra.Config) { c.TenantID = "11111111-2222-3333-4444-555555555555" })),
			[]string{"AADSTS90002", "-tenant (or $MAILOAUTH_TENANT)", "-cloud (or $MAILOAUTH_CLOUD)"}},
		{"expired secret", func() error {
			idp.FailNext(1, providertest.AADSTS(7000222, "invalid_client", "AADSTS7000222: The provided client secret keys are expired."))
			return appOnly(cfg(func(c *entra.Config) {}))
		}(), []string{"AADSTS7000222", "-secret-expires (or $MAILOAUTH_SECRET_EXPIRES)"}},
		{"google key", func() error {
			_, err := google.ServiceAccount(ctx, google.Config{ServiceAccountKey: []byte("{}"), Mailbox: "m@example.com"})
			return err
		}(), []string{"-google-key-file (or $MAILOAUTH_GOOGLE_KEY_FILE): "}},
		{"google client", func() error {
			_, err := google.NewAuthCodeFlow(google.Config{Mailbox: "m@example.com"}, nil, "http://127.0.0.1/cb")
			return err
		}(), nil},
		{"smtp refused", dialSMTP(), []string{"-smtp-host (or $MAILOAUTH_SMTP_HOST)", "-smtp-port (or $MAILOAUTH_SMTP_PORT)"}},
		{"imap refused", dialIMAP(), []string{"-imap-host (or $MAILOAUTH_IMAP_HOST)", "-imap-port (or $MAILOAUTH_IMAP_PORT)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("no error to explain")
			}
			var buf bytes.Buffer
			cli.Explain(&buf, "prog", fmt.Errorf("prog step: %w", tc.err))
			out := buf.String()
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("the explanation lacks %q:\n%s", w, out)
				}
			}
			for _, re := range goNames(t) {
				if m := re.FindString(out); m != "" {
					t.Errorf("the explanation names the Go field %q:\n%s", m, out)
				}
			}
			if strings.Contains(out, "right") {
				t.Error("the secret was printed")
			}
		})
	}
}

// TestWordsLeavesServerTextAlone: a server's words that happen to be a
// field's name stay as the server wrote them.
func TestWordsLeavesServerTextAlone(t *testing.T) {
	const text = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox"
	if got := cli.Words(text, nil); got != text {
		t.Errorf("Words changed the server's text to %q", got)
	}
}
