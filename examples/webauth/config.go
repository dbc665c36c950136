package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// Environment variables that hold secrets. Each may instead name a file
// holding the value, with the suffix _FILE (MAILOAUTH_CLIENT_SECRET_FILE).
// Secrets are never taken from flags, which other users can see in the
// process list.
const (
	envClientSecret = "MAILOAUTH_CLIENT_SECRET"
	envStoreKey     = "MAILOAUTH_STORE_KEY" // 32 random bytes, base64
)

// storeKeySize is the length of the AES-256 key of an encrypted store.
const storeKeySize = 32

// usageError is a mistake on the command line or in the environment.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// explain prints err, with what provider.Diagnose says about it, and
// returns the exit status: 0 after -h, 2 for a usage error, else 1.
func explain(w io.Writer, name string, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(w, "%s: %v\n", name, err)
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(w, "Run %s -h for the flags.\n", name)
		return 2
	}
	if d := provider.Diagnose(err); d != nil {
		fmt.Fprintf(w, "What went wrong (%s, %s): %s\nHow to fix it: %s\n", d.Kind, d.Code, d.Summary, d.Fix)
	}
	return 1
}

// envFlags is a flag set whose defaults come from environment variables,
// so that every setting can be given either way; a flag wins.
type envFlags struct {
	*flag.FlagSet
	getenv func(string) string
	bad    []string // environment variables that do not parse
}

func newEnvFlags(name string, getenv func(string) string, stderr io.Writer) *envFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return &envFlags{FlagSet: fs, getenv: getenv}
}

func (f *envFlags) str(name, env, def, usage string) *string {
	if v := f.getenv(env); v != "" {
		def = v
	}
	return f.String(name, def, usage+" [$"+env+"]")
}

func (f *envFlags) integer(name, env string, def int, usage string) *int {
	if v := f.getenv(env); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			f.bad = append(f.bad, env)
		}
		def = n
	}
	return f.Int(name, def, usage+" [$"+env+"]")
}

// parse parses args and reports environment variables that did not parse.
func (f *envFlags) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err.Error()}
	}
	if len(f.bad) > 0 {
		return usagef("environment variables that do not parse: %s", strings.Join(f.bad, ", "))
	}
	if f.NArg() > 0 {
		return usagef("unexpected arguments %q", f.Args())
	}
	return nil
}

// secretFromEnv returns the value of the environment variable name, or the
// contents of the file named by name_FILE (surrounding white space
// trimmed); "" when neither is set.
func secretFromEnv(getenv func(string) string, name string) (string, error) {
	if v := getenv(name); v != "" {
		return v, nil
	}
	path := getenv(name + "_FILE")
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("$%s_FILE: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// defaultStoreDir is where the page saves grants unless -store says
// otherwise.
func defaultStoreDir() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "mailoauth", "webauth")
}

// openStore opens the file store in dir, encrypted when a store key is set.
func openStore(dir string, getenv func(string) string) (tokenstore.Store, error) {
	if dir == "" {
		return nil, usagef("-store is required")
	}
	encoded, err := secretFromEnv(getenv, envStoreKey)
	if err != nil {
		return nil, err
	}
	var key []byte
	if encoded != "" {
		key, err = base64.StdEncoding.DecodeString(encoded)
		if err != nil || len(key) != storeKeySize {
			// Never quote the value: it is a secret.
			return nil, usagef("$%s must hold %d random bytes in base64 (openssl rand -base64 %d)", envStoreKey, storeKeySize, storeKeySize)
		}
	}
	fileStore, err := tokenstore.NewFile(dir)
	if err != nil || key == nil {
		return fileStore, err
	}
	return tokenstore.NewEncrypted(fileStore, key)
}

// loadTLSConfig returns a TLS configuration trusting the system roots and
// the certificates in caFile, or nil when caFile is empty.
func loadTLSConfig(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, usagef("-ca-file %s: no PEM certificate in it", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// cloudNamed returns the Microsoft cloud called name.
func cloudNamed(name string) (entra.Cloud, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", "global":
		return entra.Global, nil
	case "usgov", "gcchigh":
		return entra.USGovernment, nil
	case "usgovdod", "dod":
		return entra.USGovernmentDoD, nil
	case "china":
		return entra.China, nil
	}
	return entra.Cloud{}, usagef("-cloud %q: want global, usgov, usgovdod or china", name)
}

// serverOverride replaces the parts of a provider.Server that are set.
type serverOverride struct {
	flag     string // "smtp" or "imap", for messages
	host     string
	port     int
	security string
}

// check validates the override.
func (o serverOverride) check() error {
	if o.port < 0 || o.port > 65535 {
		return usagef("-%s-port %d is not a port number", o.flag, o.port)
	}
	if _, err := o.securityValue(); err != nil {
		return err
	}
	return nil
}

func (o serverOverride) securityValue() (provider.Security, error) {
	switch strings.ToLower(o.security) {
	case "starttls":
		return provider.StartTLS, nil
	case "tls":
		return provider.ImplicitTLS, nil
	case "plaintext":
		return provider.Plaintext, nil
	case "":
		return 0, nil
	}
	return 0, usagef("-%s-security %q: want starttls, tls or plaintext", o.flag, o.security)
}

// apply returns s with the overrides that are set.
func (o serverOverride) apply(s provider.Server) provider.Server {
	if o.host != "" {
		s.Host = o.host
	}
	if o.port != 0 {
		s.Port = o.port
	}
	if o.security != "" {
		s.Security, _ = o.securityValue() // checked by check
	}
	return s
}
