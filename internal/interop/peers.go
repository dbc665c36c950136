//go:build interop && linux

package interop

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// peerUser owns the test Maildirs; .ci/install-peers creates it.
const peerUser = "mailoauth-peer"

// interopEnv set to "required" turns a missing server into a failure.
const interopEnv = "MAILOAUTH_INTEROP"

// Peers is one private Dovecot + Postfix pair on loopback.
type Peers struct {
	Dir string

	IMAP, IMAPS             int // Dovecot IMAP: STARTTLS and implicit TLS
	Submission, Submissions int // Dovecot submission: STARTTLS and implicit TLS
	PostfixSubmission       int // Postfix submission, STARTTLS required
	Relay                   int // Postfix without auth, Dovecot submission relays here

	RootCAs *x509.CertPool // trusts the servers' certificate (for 127.0.0.1 and localhost)

	dovecot *exec.Cmd
}

// need skips or fails the test when a server program is missing.
func need(t *testing.T, what string, ok bool) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv(interopEnv) == "required" {
		t.Fatalf("interop: %s is missing (run .ci/install-peers)", what)
	}
	t.Skipf("interop: %s is missing; set %s=required to fail instead", what, interopEnv)
}

func have(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// PeerOptions shape one StartPeersWith: how Dovecot checks tokens, and
// whether Postfix and Dovecot's submission run too.
type PeerOptions struct {
	// OAuth2 is Dovecot's oauth2 passdb file (oauth2.conf.ext): see
	// IntrospectionSettings and LocalValidationSettings.
	OAuth2 string
	// IMAPOnly starts Dovecot for IMAP alone: no submission, no LMTP, no
	// Postfix (Submission, Submissions, PostfixSubmission and Relay stay 0).
	IMAPOnly bool
}

// IntrospectionSettings are Dovecot's oauth2 passdb settings that check
// each token at the RFC 7662 endpoint introspectURL (plain HTTP on
// loopback: Dovecot's client is not given our certificate authority) as
// the client clientID, requiring scope when it is not empty.
func IntrospectionSettings(introspectURL, clientID, clientSecret, scope string) string {
	s := "introspection_url = " + introspectURL + "\nintrospection_mode = post\n" +
		"username_attribute = email\nusername_format = %Lu\nactive_attribute = active\nactive_value = true\n" +
		"client_id = " + clientID + "\nclient_secret = " + clientSecret + "\n" +
		"timeout_msecs = 5000\nmax_idle_time_msecs = 1000\n"
	if scope != "" {
		s += "scope = " + scope + "\n"
	}
	return s
}

// LocalValidationSettings are Dovecot's oauth2 passdb settings that check
// JWT access tokens itself (introspection_mode = local, Dovecot 2.3.16 and
// later) with the public keys in the fs dict keyDir (files
// <azp or "default">/<alg>/<kid or "default">, PEM), from issuer only,
// requiring scope.
func LocalValidationSettings(keyDir, issuer, scope string) string {
	return "introspection_mode = local\nlocal_validation_key_dict = fs:posix:prefix=" + keyDir + "/\n" +
		"username_attribute = email\nusername_format = %Lu\nissuers = " + issuer + "\nscope = " + scope + "\n"
}

// StartPeers starts Dovecot and Postfix with tokens checked by the RFC 7662
// endpoint at introspectURL (plain HTTP on loopback: Dovecot's client is not
// given our certificate authority), and stops them when the test ends.
func StartPeers(t *testing.T, introspectURL string) *Peers {
	t.Helper()
	return StartPeersWith(t, PeerOptions{OAuth2: IntrospectionSettings(introspectURL, "mailoauth-interop", "not-a-secret", "")})
}

// StartPeersWith starts Dovecot (and, unless opts.IMAPOnly, Postfix) with
// opts, and stops them when the test ends.
func StartPeersWith(t *testing.T, opts PeerOptions) *Peers {
	t.Helper()
	need(t, "dovecot", have("/usr/sbin/dovecot"))
	need(t, "postfix", have("/usr/sbin/postfix"))
	u, err := user.Lookup(peerUser)
	need(t, "system user "+peerUser, err == nil)
	need(t, "root (Dovecot and Postfix masters start as root)", os.Geteuid() == 0)

	// A short path: Dovecot's socket paths must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "mo-peer-")
	if err != nil {
		t.Fatal(err)
	}
	p := &Peers{Dir: dir}
	t.Cleanup(func() {
		p.stop(t)
		if !t.Failed() {
			os.RemoveAll(dir)
		} else {
			t.Logf("interop: server files kept in %s", dir)
		}
	})
	for _, d := range []string{"tls", "dovecot", "run", "state", "log", "mail", "postfix/etc", "postfix/spool", "postfix/data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Postfix and Dovecot's unprivileged processes walk these folders.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(filepath.Join(dir, "mail"), uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(dir, "postfix/data"), postfixUID(t), -1); err != nil {
		t.Fatal(err)
	}

	p.RootCAs = writeCertificates(t, filepath.Join(dir, "tls"))
	var ports []int
	if opts.IMAPOnly {
		ports = freePorts(t, 2)
		p.IMAP, p.IMAPS = ports[0], ports[1]
	} else {
		ports = freePorts(t, 6)
		p.IMAP, p.IMAPS, p.Submission, p.Submissions, p.PostfixSubmission, p.Relay = ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]
	}

	vars := map[string]any{
		"Dir": dir, "User": peerUser, "UID": uid,
		"IMAP": p.IMAP, "IMAPS": p.IMAPS, "Submission": p.Submission, "Submissions": p.Submissions,
		"PostfixSubmission": p.PostfixSubmission, "Relay": p.Relay,
		"IMAPOnly":   opts.IMAPOnly,
		"Instance":   filepath.Base(dir),
		"DH":         have("/usr/share/dovecot/dh.pem"),
		"Mechanisms": "xoauth2 oauthbearer",
	}
	if err := os.WriteFile(filepath.Join(dir, "dovecot/oauth2.conf.ext"), []byte(opts.OAuth2), 0o644); err != nil {
		t.Fatal(err)
	}
	writeTemplate(t, filepath.Join(dir, "dovecot/dovecot.conf"), dovecotConf, vars)
	if !opts.IMAPOnly {
		writeTemplate(t, filepath.Join(dir, "postfix/etc/main.cf"), postfixMain, vars)
		writeTemplate(t, filepath.Join(dir, "postfix/etc/master.cf"), postfixMaster, vars)
	}

	start := time.Now()
	p.startDovecot(t)
	if !opts.IMAPOnly {
		p.startPostfix(t)
	}
	for _, port := range ports {
		waitPort(t, port)
	}
	t.Logf("interop: servers up in %v", time.Since(start))
	return p
}

func postfixUID(t *testing.T) int {
	u, err := user.Lookup("postfix")
	if err != nil {
		t.Fatalf("interop: no postfix user: %v", err)
	}
	id, _ := strconv.Atoi(u.Uid)
	return id
}

func (p *Peers) startDovecot(t *testing.T) {
	t.Helper()
	cmd := exec.Command("/usr/sbin/dovecot", "-F", "-c", filepath.Join(p.Dir, "dovecot/dovecot.conf"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("interop: start dovecot: %v", err)
	}
	p.dovecot = cmd
	go func() {
		cmd.Wait()
		if s := strings.TrimSpace(out.String()); s != "" && !strings.Contains(s, "Killed with signal") {
			t.Logf("dovecot: %s", s)
		}
	}()
}

func (p *Peers) startPostfix(t *testing.T) {
	t.Helper()
	out, err := exec.Command("/usr/sbin/postfix", "-c", filepath.Join(p.Dir, "postfix/etc"), "start").CombinedOutput()
	if err != nil {
		t.Fatalf("interop: start postfix: %v\n%s\n%s", err, out, p.Log("postfix"))
	}
}

// stop ends every process it started and waits for them.
func (p *Peers) stop(t *testing.T) {
	var pids []int
	if p.PostfixSubmission != 0 {
		pids = readPIDs(filepath.Join(p.Dir, "postfix/spool/pid/master.pid"))
		exec.Command("/usr/sbin/postfix", "-c", filepath.Join(p.Dir, "postfix/etc"), "stop").Run()
	}
	if p.dovecot != nil && p.dovecot.Process != nil {
		p.dovecot.Process.Signal(syscall.SIGTERM)
		pids = append(pids, p.dovecot.Process.Pid)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for time.Now().Before(deadline) && alive(pid) {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Logf("interop: process %d did not stop in time; killed", pid)
		}
	}
}

func readPIDs(path string) []int {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return nil
	}
	return []int{pid}
}

// alive reports whether pid runs and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state letter follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// Log returns the named server's log ("dovecot" or "postfix").
func (p *Peers) Log(name string) string {
	b, _ := os.ReadFile(filepath.Join(p.Dir, "log", name+".log"))
	return string(b)
}

// TLSConfig returns a client configuration that trusts the servers.
func (p *Peers) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: p.RootCAs, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

// Maildir returns the folder where Dovecot stores user's mail.
func (p *Peers) Maildir(user string) string {
	return filepath.Join(p.Dir, "mail", strings.ToLower(user), "Maildir")
}

func freePorts(t *testing.T, n int) []int {
	var ls []net.Listener
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func waitPort(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("interop: nothing listens on %d: %v", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func writeTemplate(t *testing.T, path, text string, vars map[string]any) {
	t.Helper()
	var b bytes.Buffer
	if err := template.Must(template.New(filepath.Base(path)).Parse(text)).Execute(&b, vars); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeCertificates makes a certificate authority and a server certificate
// for 127.0.0.1 and localhost signed by it.
func writeCertificates(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mailoauth interop CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	// Test-only key: readable by the servers' unprivileged processes.
	if err := os.WriteFile(filepath.Join(dir, "server-chain.crt"), chain, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "server.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool
}

// lockedBuffer is a transcript sink shared by goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
