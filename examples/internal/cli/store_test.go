package cli_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/examples/internal/clitest"
	"github.com/mailoauth/mailoauth/tokenstore"
)

const refreshToken = "0.AAAA-refresh-token-value"

// saveAndRead saves a grant through the store and returns the folder's
// one file.
func saveAndRead(t *testing.T, store tokenstore.Store, dir string) []byte {
	t.Helper()
	ctx := context.Background()
	if err := store.Save(ctx, "k", &tokenstore.Record{Token: &oauth2.Token{RefreshToken: refreshToken}}); err != nil {
		t.Fatal(err)
	}
	rec, err := store.Load(ctx, "k")
	if err != nil || rec.Token.RefreshToken != refreshToken {
		t.Fatalf("load: %v", err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) != 1 {
		t.Fatalf("files %v (%v)", files, err)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenStoreEncryptsWithTheKey(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, cli.StoreKeySize))

	plainDir := filepath.Join(t.TempDir(), "plain")
	plain, err := cli.OpenStore(plainDir, "")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(saveAndRead(t, plain, plainDir), []byte(refreshToken)) {
		t.Error("without a key the file holds the token in clear (else the next check proves nothing)")
	}

	dir := filepath.Join(t.TempDir(), "sealed")
	sealed, err := cli.OpenStore(dir, key+"\n")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(saveAndRead(t, sealed, dir), []byte(refreshToken)) {
		t.Error("the encrypted file shows the token")
	}
}

func TestOpenStoreMistakes(t *testing.T) {
	short := base64.StdEncoding.EncodeToString([]byte("short"))
	for name, key := range map[string]string{"not base64": "not base64!", "too short": short} {
		dir := filepath.Join(t.TempDir(), "grants")
		_, err := cli.OpenStore(dir, key)
		if err == nil || !isUsage(err) || !strings.Contains(err.Error(), cli.EnvStoreKey) || strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v; want a usage error naming the variable, not its value", name, err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s: the folder was made before the key was checked", name)
		}
	}
	if _, err := cli.OpenStore("", ""); err == nil || !isUsage(err) || err.Error() != "-store (or $MAILOAUTH_STORE) is required" {
		t.Errorf("no folder: %v", err)
	}
}

// TestStoreFlagsReadTheKeyFile opens a folder with the key of
// -store-key-file, and again with the same key in the variable.
func TestStoreFlagsReadTheKeyFile(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{6}, cli.StoreKeySize))
	dir := filepath.Join(t.TempDir(), "sealed")
	keyFile := clitest.WriteFile(t, "key", []byte(key+"\n"))
	open := func(env map[string]string, args ...string) (*cli.StoreFlags, tokenstore.Store, error) {
		fs := cli.NewFlags("prog", clitest.Env(env), io.Discard)
		sf := fs.Store("prog", "")
		if err := fs.Parse(args); err != nil {
			return nil, nil, err
		}
		store, err := sf.Open()
		return sf, store, err
	}
	sf, sealed, err := open(map[string]string{"MAILOAUTH_STORE_KEY_FILE": keyFile}, "-store", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !sf.Encrypted() || sf.Dir() != dir {
		t.Errorf("encrypted %v, dir %q", sf.Encrypted(), sf.Dir())
	}
	if bytes.Contains(saveAndRead(t, sealed, dir), []byte(refreshToken)) {
		t.Error("the encrypted file shows the token")
	}
	_, again, err := open(map[string]string{cli.EnvStoreKey: key, "MAILOAUTH_STORE": dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.Load(context.Background(), "k"); err != nil {
		t.Errorf("the key from the variable does not open what the key file sealed: %v", err)
	}
	if _, _, err := open(map[string]string{cli.EnvStoreKey: key}, "-store", dir, "-store-key-file", keyFile); !isUsage(err) || strings.Contains(err.Error(), key) {
		t.Errorf("the key given twice: %v, want a usage error", err)
	}
}

func TestDefaultStoreDir(t *testing.T) {
	dir := cli.DefaultStoreDir("entra-authorize")
	if base, err := os.UserConfigDir(); err == nil && dir != filepath.Join(base, "mailoauth", "entra-authorize") {
		t.Errorf("DefaultStoreDir = %q", dir)
	}
}
