package cli_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/examples/internal/clitest"
	"github.com/mailoauth/mailoauth/provider/entra"
)

const secretValue = "s3cr3t~value"

func TestSecret(t *testing.T) {
	file := clitest.WriteFile(t, "secret", []byte("\n "+secretValue+"\n"))
	empty := clitest.WriteFile(t, "empty", []byte(" \n"))
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		name      string
		env       map[string]string
		path      string
		want      string
		wantErr   string
		wantUsage bool
	}{
		{"neither", nil, "", "", "", false},
		{"environment", map[string]string{"X_SECRET": secretValue}, "", secretValue, "", false},
		{"file, trimmed", nil, file, secretValue, "", false},
		{"both", map[string]string{"X_SECRET": secretValue}, file, "", "give the secret once", true},
		{"empty file", nil, empty, "", "is empty", true},
		{"missing file", nil, missing, "", "read the secret: ", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cli.ReadSecret(clitest.Env(tc.env), "X_SECRET", "secret-file", tc.path)
			if tc.wantErr == "" {
				if err != nil || got != tc.want {
					t.Fatalf("got %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || isUsage(err) != tc.wantUsage {
				t.Fatalf("err %v (usage %v), want %q (usage %v)", err, isUsage(err), tc.wantErr, tc.wantUsage)
			}
			if strings.Contains(err.Error(), secretValue) {
				t.Error("the error quotes the secret")
			}
		})
	}
}

// TestCredentialFlags reads each credential the flags give, and refuses
// what cannot be meant.
func TestCredentialFlags(t *testing.T) {
	file := clitest.WriteFile(t, "secret", []byte(secretValue+"\n"))
	cert := clitest.Certificate(t, "app")
	pemFile := clitest.WriteFile(t, "app.pem", cert.PEM)
	parse := func(env map[string]string, args ...string) (cli.Credential, error) {
		fs := cli.NewFlags("prog", clitest.Env(env), io.Discard)
		c := fs.Credential(true)
		err := fs.Parse(args)
		return c.Credential(), err
	}

	c, err := parse(map[string]string{"MAILOAUTH_SECRET_FILE": file, "MAILOAUTH_SECRET_EXPIRES": "2027-03-01"})
	if err != nil || c.Secret != secretValue || !c.Expires.Equal(time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)) || c.Name() != "client secret" {
		t.Errorf("secret file and expiry: %+v, %v", c, err)
	}
	var cfg entra.Config
	c.Entra(&cfg)
	if cfg.ClientSecret != secretValue || !cfg.SecretExpiresAt.Equal(c.Expires) || cfg.Certificate != nil {
		t.Errorf("Entra: secret and expiry not set")
	}
	if c, err = parse(map[string]string{cli.EnvClientSecret: "direct"}); err != nil || c.Secret != "direct" {
		t.Errorf("secret in the environment: %+v, %v", c, err)
	}
	if c, err = parse(nil, "-cert-file", pemFile); err != nil || c.Certificate == nil || c.Name() != "certificate "+cert.Thumbprint {
		t.Errorf("certificate: %v, %v", c.Name(), err)
	}
	if c, err = parse(nil); err != nil || !c.None() {
		t.Errorf("none: %+v, %v", c, err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"both secrets", map[string]string{cli.EnvClientSecret: secretValue}, []string{"-secret-file", file}, "give the secret once"},
		{"secret and certificate", map[string]string{cli.EnvClientSecret: secretValue}, []string{"-cert-file", pemFile}, "choose one credential"},
		{"not a date", nil, []string{"-secret-expires", "next year"}, "is not a date"},
	} {
		if _, err := parse(tc.env, tc.args...); err == nil || !isUsage(err) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), secretValue) {
			t.Errorf("%s: %v, want a usage error with %q", tc.name, err, tc.want)
		}
	}
}

// TestWarnExpiry logs a secret's coming expiry once it is within 30 days.
func TestWarnExpiry(t *testing.T) {
	now := time.Date(2027, 2, 20, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		expires string
		want    string
	}{
		{"2027-06-01", ""},
		{"2027-03-01", "level=WARN msg=\"the client secret expires in 9 days, on 2027-03-01"},
		{"2027-02-01", "level=ERROR msg=\"the client secret expired on 2027-02-01"},
	} {
		var buf bytes.Buffer
		exp, _ := time.Parse(time.DateOnly, tc.expires)
		cli.Credential{Secret: secretValue, Expires: exp}.WarnExpiry(context.Background(), slog.New(slog.NewTextHandler(&buf, nil)), now)
		if tc.want == "" && buf.Len() > 0 || !strings.Contains(buf.String(), tc.want) || strings.Contains(buf.String(), secretValue) {
			t.Errorf("expiring %s: logged %q, want %q", tc.expires, buf.String(), tc.want)
		}
	}
}
