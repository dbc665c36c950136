package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/examples/internal/clitest"
)

// exportLine is one line of the exports: export NAME='value'.
var exportLine = regexp.MustCompile(`^export ([A-Z0-9_]+)=('(?:[^']|'\\'')*')$`)

// shellUnquote undoes shellQuote.
func shellUnquote(s string) string {
	return strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(s, "'"), "'"), `'\''`, "'")
}

func TestShellQuote(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no POSIX shell to read the quotes")
	}
	for _, s := range []string{"", "plain", "it's", "$HOME `x` \"y\" \\"} {
		if got := shellUnquote(shellQuote(s)); got != s {
			t.Errorf("%q quoted and unquoted is %q", s, got)
		}
		cmd := exec.Command(sh, "-c", "printf %s "+shellQuote(s))
		out, err := cmd.Output()
		if err != nil || string(out) != s {
			t.Errorf("sh reads %s as %q (%v), want %q", shellQuote(s), out, err, s)
		}
	}
}

// session is the test servers running as a process, and the environment
// their exports give the examples.
type session struct {
	t    *testing.T
	bins map[string]string
	env  []string // PATH and HOME, then the exports
	vars map[string]string
	dir  string
}

// startServers runs the testservers program as the shell does and reads
// its exports up to the line saying it runs. The test's cleanup stops it
// with Ctrl-C's signal and checks that it exits cleanly.
func startServers(t *testing.T, bins map[string]string) *session {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(bins["testservers"], "-dir", dir)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &clitest.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("testservers after Ctrl-C: %v\n%s", err, stderr)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("testservers did not stop on Ctrl-C")
		}
	})
	s := &session{t: t, bins: bins, vars: map[string]string{}, dir: dir,
		env: []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}}
	lines := bufio.NewScanner(stdout)
	ready := false
	for lines.Scan() {
		line := lines.Text()
		if line == Ready {
			ready = true
			break
		}
		if m := exportLine.FindStringSubmatch(line); m != nil {
			s.vars[m[1]] = shellUnquote(m[2])
			s.env = append(s.env, m[1]+"="+s.vars[m[1]])
		} else if !strings.HasPrefix(line, "#") {
			t.Errorf("neither an export nor a comment: %q", line)
		}
	}
	if !ready {
		t.Fatalf("testservers stopped before it was ready:\n%s", stderr)
	}
	go func() {
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	return s
}

// run runs an example with the exports and extra environment variables
// and returns its stdout; it fails the test when the example fails.
func (s *session) run(name string, extra []string, args ...string) string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bins[name], args...)
	cmd.Env = append(append([]string(nil), s.env...), extra...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("%s %q: %v\nstdout:\n%s\nstderr:\n%s", name, args, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// watch starts mailgate with the exports, printing tickets on stdout, and
// returns the subjects of the first n tickets; then it stops mailgate as
// Ctrl-C would and checks that it stops cleanly.
func (s *session) watch(n int, extra []string, args ...string) []string {
	s.t.Helper()
	cmd := exec.Command(s.bins["mailgate"], append([]string{"-out", "-"}, args...)...)
	cmd.Env = append(append([]string(nil), s.env...), extra...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	stderr := &clitest.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	var subjects []string
	var mu sync.Mutex
	got := make(chan struct{})
	go func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			var ticket struct{ Subject string }
			if json.Unmarshal(lines.Bytes(), &ticket) != nil {
				continue
			}
			mu.Lock()
			subjects = append(subjects, ticket.Subject)
			if len(subjects) == n {
				close(got)
			}
			mu.Unlock()
		}
	}()
	select {
	case <-got:
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		s.t.Fatalf("mailgate made %d of %d tickets in a minute:\n%s", len(subjects), n, stderr)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		s.t.Errorf("mailgate after Ctrl-C: %v\n%s", err, stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	return append([]string(nil), subjects...)
}

// TestExamplesRunAgainstTheTestServers starts the test servers as a user
// would and runs the examples with nothing but their exports: app-only
// sending with the secret and with the certificate, net/smtp, the doctor,
// a device-code authorization approved by the servers, Google's service
// account, and the mailgate reading what was sent, from Exchange and from
// Gmail.
func TestExamplesRunAgainstTheTestServers(t *testing.T) {
	bins := clitest.Build(t, "testservers", "entra-send", "netsmtp", "doctor", "entra-authorize", "google-send", "mailgate")
	s := startServers(t, bins)
	for _, v := range []string{cli.EnvClientSecret, "MAILOAUTH_TENANT", "MAILOAUTH_CLIENT_ID", "MAILOAUTH_MAILBOX", "MAILOAUTH_CA_FILE",
		"MAILOAUTH_AUTHORITY_HOST", "MAILOAUTH_SMTP_HOST", "MAILOAUTH_SMTP_PORT", "MAILOAUTH_IMAP_HOST", "MAILOAUTH_IMAP_PORT",
		"MAILOAUTH_GOOGLE_BASE_URL", "MAILOAUTH_GOOGLE_KEY_FILE", "MAILOAUTH_STORE"} {
		if s.vars[v] == "" {
			t.Errorf("no export of %s", v)
		}
	}
	mailbox := s.vars["MAILOAUTH_MAILBOX"]

	out := s.run("entra-send", nil, "-subject", "sent with the secret")
	if !strings.Contains(out, "client secret") {
		t.Errorf("entra-send: %s", out)
	}
	// The certificate instead of the secret, as the comment in the exports says.
	certFile := s.dir + "/app.pem"
	out = s.run("entra-send", []string{cli.EnvClientSecret + "=", "MAILOAUTH_CERT_FILE=" + certFile}, "-subject", "sent with the certificate")
	if !strings.Contains(out, "certificate ") {
		t.Errorf("entra-send with the certificate: %s", out)
	}
	s.run("netsmtp", nil, "-subject", "sent with net/smtp")
	out = s.run("doctor", nil)
	for _, step := range []string{"credentials", "token", "smtp login", "test send", "imap login"} {
		if !regexp.MustCompile(`(?m)^` + step + ` +OK `).MatchString(out) {
			t.Errorf("doctor: %s is not OK:\n%s", step, out)
		}
	}
	out = s.run("entra-authorize", nil, "-subject", "sent with a delegated grant")
	if !strings.Contains(out, "Authorized "+mailbox) || !strings.Contains(out, "Sent ") {
		t.Errorf("entra-authorize:\n%s", out)
	}
	s.run("google-send", nil, "-subject", "sent by a service account")

	want := []string{"sent with the secret", "sent with the certificate", "sent with net/smtp",
		"mailoauth doctor test message", "sent with a delegated grant", "sent by a service account"}
	got := s.watch(len(want), nil)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("mailgate's tickets: %q, want %q", got, want)
	}

	// Gmail: the service account reads the mailbox too; the messages were
	// moved to Processed, so a new one is needed.
	s.run("google-send", nil, "-subject", "for the Gmail mailgate")
	got = s.watch(1, []string{"MAILOAUTH_PROVIDER=google"})
	if len(got) != 1 || got[0] != "for the Gmail mailgate" {
		t.Errorf("mailgate -provider google: %q", got)
	}
	// And the delegated grant of entra-authorize, read by the mailgate.
	s.run("entra-send", nil, "-subject", "for the delegated mailgate")
	got = s.watch(1, []string{"MAILOAUTH_GRANT=delegated"})
	if len(got) != 1 || got[0] != "for the delegated mailgate" {
		t.Errorf("mailgate -grant delegated: %q", got)
	}
}
