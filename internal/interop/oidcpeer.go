//go:build interop && linux

package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// OIDCPeer is internal/interop/oidcpeer, the certified OpenID provider
// (node oidc-provider 9.13.3) on a free loopback port, with the
// configuration the test gives it. .ci/install-peers installs it.
type OIDCPeer struct {
	Issuer string
	Dir    string

	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{}
}

// peerDir is where the peer's code is: this file's folder + oidcpeer.
func peerDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "oidcpeer")
}

// StartOIDCPeer writes config (the JSON of oidcpeer/README.md, without
// issuer or port: any free port is taken) and starts the peer; it stops it
// when the test ends.
func StartOIDCPeer(t *testing.T, config map[string]any) *OIDCPeer {
	t.Helper()
	node, err := exec.LookPath("node")
	need(t, "node", err == nil)
	need(t, "the OpenID peer's packages (npm ci in internal/interop/oidcpeer)", have(filepath.Join(peerDir(), "node_modules/oidc-provider")))
	dir := t.TempDir()
	b, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &OIDCPeer{Dir: dir, stderr: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(node, filepath.Join(peerDir(), "server.mjs"), cfgPath, "0")
	p.cmd.Stderr = p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("interop: start the OpenID peer: %v", err)
	}
	ready := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var line struct {
				Ready  bool   `json:"ready"`
				Issuer string `json:"issuer"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Ready {
				ready <- line.Issuer
			}
		}
		p.cmd.Wait()
	}()
	t.Cleanup(func() { p.stop(t) })
	select {
	case p.Issuer = <-ready:
	case <-p.done:
		t.Fatalf("interop: the OpenID peer exited before it was ready:\n%s", p.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("interop: the OpenID peer was not ready in 30 s:\n%s", p.stderr.String())
	}
	t.Logf("interop: OpenID peer %s up in %v", p.Issuer, time.Since(start))
	return p
}

// stop ends the peer (SIGTERM, then SIGKILL) and waits for it.
func (p *OIDCPeer) stop(t *testing.T) {
	if p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Logf("interop: the OpenID peer did not stop in time; killed")
	}
	if t.Failed() {
		t.Logf("interop: the OpenID peer's log:\n%s", p.Log())
	}
}

// Log returns the peer's stderr: a line per OAuth error, with the reason
// oidc-provider keeps from its answers.
func (p *OIDCPeer) Log() string { return p.stderr.String() }

// post sends a JSON body to one of the peer's test endpoints and decodes
// the answer.
func (p *OIDCPeer) post(t *testing.T, path string, body map[string]any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.Issuer+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("interop: %s: %v", path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("interop: %s %v: HTTP %d %v", path, body, resp.StatusCode, out)
	}
	return out
}

// ApproveDevice approves the device authorization of userCode as user.
func (p *OIDCPeer) ApproveDevice(t *testing.T, userCode, user string) {
	t.Helper()
	p.post(t, "/test/approve-device", map[string]any{"user_code": userCode, "user": user})
}

// RevokeGrants revokes every grant of user, with every token of them.
func (p *OIDCPeer) RevokeGrants(t *testing.T, user string) {
	t.Helper()
	if got := p.post(t, "/test/revoke-grants", map[string]any{"user": user}); got["grants"] == float64(0) {
		t.Fatalf("interop: %s had no grant to revoke", user)
	}
}

// WriteValidationKeys writes the peer's signing keys as Dovecot's local
// validation reads them (an fs dict of PEM public keys, one file per
// <azp or "default">/<alg>/<kid>; oidc-provider's tokens carry no azp),
// for every algorithm each key signs, and returns the folder.
func (p *OIDCPeer) WriteValidationKeys(t *testing.T, dir string) string {
	t.Helper()
	resp, err := http.Get(p.Issuer + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct{ Keys []map[string]string }
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		pub, algs := publicJWK(t, k)
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		for _, alg := range algs {
			f := filepath.Join(dir, "default", alg, k["kid"])
			if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
				t.Fatal(err)
			}
			// Read by Dovecot's unprivileged auth processes.
			if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && info.IsDir() {
			err = os.Chmod(path, 0o755)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// publicJWK reads an RSA or P-256 public JWK (RFC 7518 section 6) and the
// algorithms it signs with.
func publicJWK(t *testing.T, k map[string]string) (crypto.PublicKey, []string) {
	t.Helper()
	num := func(name string) *big.Int {
		b, err := base64.RawURLEncoding.DecodeString(k[name])
		if err != nil {
			t.Fatalf("interop: JWK %s: %v", name, err)
		}
		return new(big.Int).SetBytes(b)
	}
	switch k["kty"] {
	case "RSA":
		return &rsa.PublicKey{N: num("n"), E: int(num("e").Int64())}, []string{"RS256", "PS256"}
	case "EC":
		if k["crv"] == "P-256" {
			point := append([]byte{4}, append(num("x").FillBytes(make([]byte, 32)), num("y").FillBytes(make([]byte, 32))...)...)
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
			if err != nil {
				t.Fatalf("interop: JWK: %v", err)
			}
			return pub, []string{"ES256"}
		}
	}
	t.Fatalf("interop: a JWK of type %s %s", k["kty"], k["crv"])
	return nil, nil
}

// JWK is the public JWK of key (RSA or P-256) named kid, for a client's
// jwks in the peer's configuration.
func JWK(key crypto.PublicKey, kid string) map[string]string {
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	switch k := key.(type) {
	case *rsa.PublicKey:
		return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PublicKey:
		point, err := k.Bytes() // 4, then X and Y of 32 bytes each
		if err != nil || len(point) != 65 {
			panic(fmt.Sprintf("interop: JWK of a P-256 key: %v", err))
		}
		return map[string]string{"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "x": b64(point[1:33]), "y": b64(point[33:])}
	}
	panic(fmt.Sprintf("interop: JWK of a %T", key))
}

// Browser follows the authorization code flow's redirects as a browser
// would, with a cookie jar of its own, and returns the last answer. The
// peer signs the login_hint user in and consents headlessly.
func Browser(t *testing.T, start string) (int, string) {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := c.Get(start)
	if err != nil {
		t.Fatalf("interop: browser: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
