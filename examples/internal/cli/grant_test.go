package cli_test

import (
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/examples/internal/clitest"
)

func TestGrantFlags(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "grants")

	fs := cli.NewFlags("prog", clitest.Env(nil), io.Discard)
	app := fs.Grant()
	if err := fs.Parse([]string{"-store", dir}); err != nil {
		t.Fatal(err)
	}
	if store, err := app.Store(); app.Delegated() || store != nil || err != nil {
		t.Errorf("the default is app-only access, which opens no store: delegated %v, store %v, %v", app.Delegated(), store, err)
	}

	fs = cli.NewFlags("prog", clitest.Env(map[string]string{"MAILOAUTH_GRANT": "delegated", "MAILOAUTH_STORE": dir}), io.Discard)
	delegated := fs.Grant()
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	store, err := delegated.Store()
	if !delegated.Delegated() || store == nil || err != nil {
		t.Errorf("delegated: %v, store %v, %v", delegated.Delegated(), store, err)
	}
	fs = cli.NewFlags("prog", clitest.Env(map[string]string{"MAILOAUTH_GRANT": "delegated", cli.EnvStoreKey: "short"}), io.Discard)
	badKey := fs.Grant()
	if err := fs.Parse([]string{"-store", dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := badKey.Store(); err == nil || !isUsage(err) {
		t.Errorf("a bad store key: %v, want a usage error", err)
	}

	fs = cli.NewFlags("prog", clitest.Env(nil), io.Discard)
	fs.Grant()
	if err := fs.Parse([]string{"-grant", "password"}); err == nil || !isUsage(err) || !strings.Contains(err.Error(), "want app or delegated") {
		t.Errorf("-grant password: %v", err)
	}
}
