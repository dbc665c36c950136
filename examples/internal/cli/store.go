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
		return nil, Usagef("-store (or $%s) is required", EnvName("store"))
	}
	var secret []byte
	if key != "" {
		var err error
		secret, err = base64.StdEncoding.DecodeString(strings.TrimSpace(key))
		if err != nil || len(secret) != StoreKeySize {
			return nil, Usagef("the key of the grant folder ($%s or -store-key-file) must be %d random bytes in base64 (openssl rand -base64 %d)", EnvStoreKey, StoreKeySize, StoreKeySize)
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

// StoreFlags are -store and -store-key-file: the folder grants are saved
// in, and the file holding its key when it is encrypted (else the key is
// in EnvStoreKey, or there is none).
type StoreFlags struct {
	getenv       func(string) string
	dir, keyFile *string
}

// Store defines -store, defaulting to the grant folder of the program
// called owner (see DefaultStoreDir), and -store-key-file; detail adds to
// -store's usage.
func (f *Flags) Store(owner, detail string) *StoreFlags {
	s := &StoreFlags{
		getenv:  f.getenv,
		dir:     f.EnvString("store", DefaultStoreDir(owner), detail),
		keyFile: f.EnvString("store-key-file", "", ""),
	}
	f.secret(EnvStoreKey, "the key of the grant folder: 32 random bytes in base64 (or -store-key-file)")
	return s
}

// Dir returns the folder. Call it after Flags.Parse.
func (s *StoreFlags) Dir() string { return *s.dir }

// Encrypted reports whether a key is given. Call it after Flags.Parse.
func (s *StoreFlags) Encrypted() bool { return *s.keyFile != "" || s.getenv(EnvStoreKey) != "" }

// Open opens the folder as OpenStore does, with the key of -store-key-file
// or EnvStoreKey. Call it after Flags.Parse.
func (s *StoreFlags) Open() (tokenstore.Store, error) {
	key, err := ReadSecret(s.getenv, EnvStoreKey, "store-key-file", *s.keyFile)
	if err != nil {
		return nil, err
	}
	return OpenStore(*s.dir, key)
}
