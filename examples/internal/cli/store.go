package cli

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mailoauth/mailoauth/tokenstore"
)

// EnvStoreKey holds the key of an encrypted grant folder: StoreKeySize
// random bytes in base64 (openssl rand -base64 32). Whoever has it and the
// folder has the mailbox.
const EnvStoreKey = "MAILOAUTH_STORE_KEY"

// StoreKeySize is the length of the AES-256 key of an encrypted store.
const StoreKeySize = 32

// DefaultStoreDir is the grant folder of the program name in the user's
// configuration folder (…/mailoauth/name), or "" when the system has no
// such folder.
func DefaultStoreDir(name string) string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "mailoauth", name)
}

// OpenStore opens the grant folder dir (-store) as a tokenstore.File,
// creating it 0700 when missing, encrypted with AES-256-GCM under key, the
// base64 value of EnvStoreKey, unless key is empty. An empty dir or a key
// that is not StoreKeySize bytes in base64 is a *UsageError, checked
// before the folder is touched; no error quotes the key.
func OpenStore(dir, key string) (tokenstore.Store, error) {
	if dir == "" {
		return nil, Usagef("-store is required")
	}
	var secret []byte
	if key != "" {
		var err error
		secret, err = base64.StdEncoding.DecodeString(strings.TrimSpace(key))
		if err != nil || len(secret) != StoreKeySize {
			return nil, Usagef("$%s must hold %d random bytes in base64 (openssl rand -base64 %d)", EnvStoreKey, StoreKeySize, StoreKeySize)
		}
	}
	file, err := tokenstore.NewFile(dir)
	if err != nil {
		return nil, fmt.Errorf("open the grant folder: %w", err)
	}
	if secret == nil {
		return file, nil
	}
	store, err := tokenstore.NewEncrypted(file, secret)
	if err != nil {
		return nil, fmt.Errorf("open the grant folder: %w", err)
	}
	return store, nil
}

// OpenEnvStore is OpenStore with the key in EnvStoreKey, or in the file
// named by EnvStoreKey_FILE (see EnvSecret).
func OpenEnvStore(getenv func(string) string, dir string) (tokenstore.Store, error) {
	key, err := EnvSecret(getenv, EnvStoreKey)
	if err != nil {
		return nil, err
	}
	return OpenStore(dir, key)
}
