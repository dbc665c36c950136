package cli_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/examples/internal/clitest"
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
			got, err := cli.Secret(clitest.Env(tc.env), "X_SECRET", tc.path)
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

func TestEnvSecretReadsTheFileVariable(t *testing.T) {
	file := clitest.WriteFile(t, "secret", []byte(secretValue+"\n"))
	got, err := cli.EnvSecret(clitest.Env(map[string]string{"X_SECRET_FILE": file}), "X_SECRET")
	if err != nil || got != secretValue {
		t.Fatalf("got %q, %v", got, err)
	}
	got, err = cli.EnvSecret(clitest.Env(map[string]string{"X_SECRET": "direct"}), "X_SECRET")
	if err != nil || got != "direct" {
		t.Fatalf("got %q, %v", got, err)
	}
	_, err = cli.EnvSecret(clitest.Env(map[string]string{"X_SECRET_FILE": filepath.Join(t.TempDir(), "none")}), "X_SECRET")
	if err == nil || !strings.HasPrefix(err.Error(), "$X_SECRET_FILE: ") {
		t.Fatalf("a missing file: %v, want an error naming $X_SECRET_FILE", err)
	}
	_, err = cli.EnvSecret(clitest.Env(map[string]string{"X_SECRET": secretValue, "X_SECRET_FILE": file}), "X_SECRET")
	if !isUsage(err) {
		t.Fatalf("both: %v, want a usage error", err)
	}
}
