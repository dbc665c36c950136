// Package clitest holds what the example programs' tests share: the
// program's environment as a map, files in a test's temporary folder, a CA
// file trusting the local test servers, a certificate credential, a buffer
// safe for concurrent writes, and a run's outcome as the user sees it. Its
// servers.go starts the local servers a program runs against.
//
// Like examples/internal/cli, it is internal to the examples; the test
// servers themselves are providertest, smtpxtest and imapxtest.
package clitest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/provider/entra"
)

// Env returns a getenv function that reads m; a nil map is an empty
// environment.
func Env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// WriteFile writes data to a file called name in a new temporary folder of
// t, readable by its owner only, and returns its path.
func WriteFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// PEM returns cert in PEM.
func PEM(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

// CAFile writes the PEM certificates pems into one file, as -ca-file takes
// it, and returns its path: one file trusting every local test server.
func CAFile(t testing.TB, pems ...[]byte) string {
	t.Helper()
	return WriteFile(t, "ca.pem", bytes.Join(pems, nil))
}

// PFXPassword opens the PKCS#12 form of a Certificate.
const PFXPassword = "pfx-password"

// Credential is an app registration's certificate credential in the forms
// a program is given it.
type Credential struct {
	Cert *x509.Certificate
	// PEM holds the certificate and its private key, PFX the same as
	// PKCS#12 under PFXPassword.
	PEM, PFX []byte
	// Thumbprint is what entra.Certificate.Thumbprint says of it.
	Thumbprint string
}

// Certificate returns a new self-signed RSA certificate credential called
// commonName.
func Certificate(t testing.TB, commonName string) Credential {
	t.Helper()
	cert, key, pemData, err := cli.NewCertificate(commonName)
	if err != nil {
		t.Fatal(err)
	}
	c := Credential{Cert: cert, PEM: pemData}
	if c.PFX, err = pkcs12.Modern.Encode(key, cert, nil, PFXPassword); err != nil {
		t.Fatal(err)
	}
	parsed, err := entra.ParseCertificatePEM(c.PEM)
	if err != nil {
		t.Fatal(err)
	}
	c.Thumbprint = parsed.Thumbprint()
	return c
}

// ServiceAccount returns a new service account key for email, as its JSON
// key file naming tokenURI, and its public key for providertest.App.
func ServiceAccount(t testing.TB, email, tokenURI string) (keyFile []byte, public *rsa.PublicKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyFile, err = cli.GoogleKeyFile(key, email, tokenURI)
	if err != nil {
		t.Fatal(err)
	}
	return keyFile, &key.PublicKey
}

// Buffer is a bytes.Buffer safe for concurrent use: the stderr of a
// program that logs from several goroutines while a test reads it.
type Buffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Result is what the user of a program sees of one run.
type Result struct {
	Err            error
	Stdout, Stderr string
	// Explained is what cli.Explain prints of Err, and Code the exit
	// status; both zero when the run succeeded.
	Explained string
	Code      int
}

// Run runs program, called name, with args and the environment env, and
// returns what it printed, its error, and how cli.Main would explain it.
func Run(name string, program cli.Program, args []string, env map[string]string) Result {
	var stdout, stderr, explained bytes.Buffer
	err := program(context.Background(), args, Env(env), &stdout, &stderr)
	r := Result{Err: err, Stdout: stdout.String(), Stderr: stderr.String()}
	if err != nil {
		r.Code = cli.Explain(&explained, name, err)
		r.Explained = explained.String()
	}
	return r
}

// Build compiles the example programs named (the folders under examples/,
// such as "entra-send") into a temporary folder of t and returns the path
// of each, by name: for tests that run them as the shell does.
func Build(t testing.TB, names ...string) map[string]string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, n := range names {
		args = append(args, "./examples/"+n)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	bins := make(map[string]string, len(names))
	for _, n := range names {
		p := filepath.Join(dir, n)
		if runtime.GOOS == "windows" {
			p += ".exe"
		}
		bins[n] = p
	}
	return bins
}

// Programs returns the names of the example programs: the folders under
// examples/ other than internal.
func Programs(t testing.TB) []string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(root, "examples"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "internal" {
			names = append(names, e.Name())
		}
	}
	return names
}

// moduleRoot finds the folder of go.mod from the working folder up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("clitest: no go.mod above the working folder")
		}
		dir = parent
	}
}

// ReportedOnce checks that a failed run reported its failure once: in the
// explanation, with no warning or error logged before it that repeats it,
// and no promise of a next attempt from a program that stops.
func ReportedOnce(t testing.TB, r Result) {
	t.Helper()
	if r.Err == nil {
		t.Fatal("the run succeeded")
	}
	if strings.Contains(r.Explained, "next attempt") {
		t.Errorf("a program that stops promises another attempt:\n%s", r.Explained)
	}
	if strings.Contains(r.Stderr, "level=WARN") || strings.Contains(r.Stderr, "level=ERROR") {
		t.Errorf("the failure is logged before it is explained:\n%s", r.Stderr)
	}
}
