package cli

import (
	"fmt"
	"os"
	"strings"
)

// EnvClientSecret holds the value of an app registration's client secret.
// Secrets are never taken from flags, which other users of the machine can
// read in the process list.
const EnvClientSecret = "MAILOAUTH_CLIENT_SECRET"

// Secret returns the secret held by the environment variable env or, when
// path is not empty, read from the file path (surrounding white space
// trimmed); "" when neither is given. Giving both, or a file with nothing
// in it, is a *UsageError. No error quotes the secret.
func Secret(getenv func(string) string, env, path string) (string, error) {
	v := getenv(env)
	if path == "" {
		return v, nil
	}
	if v != "" {
		return "", Usagef("both $%s and the file %s are given: give the secret once", env, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the secret: %w", err)
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", Usagef("the secret file %s is empty", path)
	}
	return secret, nil
}

// EnvSecret is Secret with the file named by the environment variable
// env+"_FILE" (MAILOAUTH_CLIENT_SECRET_FILE), the convention of container
// secrets. Its errors name that variable.
func EnvSecret(getenv func(string) string, env string) (string, error) {
	secret, err := Secret(getenv, env, getenv(env+"_FILE"))
	if err != nil {
		return "", fmt.Errorf("$%s_FILE: %w", env, err)
	}
	return secret, nil
}
