package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/examples/internal/clitest"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/authorize"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/smtpx/smtpxtest"
	"github.com/mailoauth/mailoauth/tokenstore"
)

const (
	testClient  = "9e7f6a2b-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
	testMailbox = "helpdesk@contoso.test"
)

// world is an Entra-like identity provider with a public app and a signed-in
// user, an Exchange-like SMTP server, and a grant folder.
type world struct {
	idp      *providertest.Server
	smtp     *smtpxtest.Server
	caFile   string
	storeDir string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{idp: clitest.IdentityProvider(t), storeDir: filepath.Join(t.TempDir(), "grants")}
	w.idp.AddApp(providertest.App{ClientID: testClient, Public: true})
	w.idp.SignIn(testMailbox)
	// Device codes announce an interval of 1 s, the shortest the program
	// polls at (whole seconds, on the wall clock); the server calls a poll
	// early below 0.5 s.
	w.idp.SetDeviceInterval(500 * time.Millisecond)
	w.smtp = clitest.SMTPServer(t, w.idp, &smtpxtest.Options{Mechanisms: []auth.Mechanism{auth.XOAUTH2}, NoErrorChallenge: true})
	w.caFile = clitest.CAFile(t, w.idp.CertificatePEM(), clitest.PEM(w.smtp.Certificate()))
	return w
}

func (w *world) args(extra ...string) []string {
	return append([]string{
		"-tenant", providertest.DefaultTenant,
		"-client-id", testClient,
		"-mailbox", testMailbox,
		"-store", w.storeDir,
		"-authority-host", w.idp.URL(),
		"-smtp-host", w.smtp.Host(),
		"-smtp-port", strconv.Itoa(w.smtp.Port()),
		"-ca-file", w.caFile,
	}, extra...)
}

// user plays the person at the verification page: once the program has
// printed the code and polled, it reads the code and approves (or
// declines) it; the program's next poll finds the answer.
type user struct {
	t       *testing.T
	idp     *providertest.Server
	decline bool

	mu     sync.Mutex   // guards prompt
	prompt bytes.Buffer // what the program printed
	once   sync.Once
	stop   chan struct{} // closed when the program has returned
	done   chan struct{} // closed when the user is done (or was never needed)
}

func newUser(t *testing.T, idp *providertest.Server, decline bool) *user {
	return &user{t: t, idp: idp, decline: decline, stop: make(chan struct{}), done: make(chan struct{})}
}

// Write takes the program's output; the prompt sends the user to the page.
func (u *user) Write(p []byte) (int, error) {
	u.mu.Lock()
	u.prompt.Write(p)
	prompted := strings.Contains(u.prompt.String(), "Waiting for the sign-in")
	u.mu.Unlock()
	if prompted {
		u.once.Do(func() { go u.act() })
	}
	return len(p), nil
}

// act waits for the program's first poll, then answers on the page.
func (u *user) act() {
	defer close(u.done)
	for u.idp.Requests("device_code") == 0 {
		select {
		case <-u.stop:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	codes := u.idp.DeviceCodes()
	code := codes[len(codes)-1]
	u.mu.Lock()
	prompt := u.prompt.String()
	u.mu.Unlock()
	if !strings.Contains(prompt, "enter the code "+code) || !strings.Contains(prompt, u.idp.URL()+"/devicelogin") {
		u.t.Errorf("the prompt does not show the code %s and the page:\n%s", code, prompt)
	}
	var err error
	if u.decline {
		err = u.idp.DeclineDevice(code)
	} else {
		err = u.idp.ApproveDevice(code)
	}
	if err != nil {
		u.t.Errorf("the user could not answer: %v", err)
	}
}

type result struct {
	clitest.Result
	prompted bool // the program asked the user to sign in
}

func (w *world) run(t *testing.T, args []string, env map[string]string, decline bool) result {
	t.Helper()
	u := newUser(t, w.idp, decline)
	r := clitest.Run("entra-authorize", func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
		return run(ctx, args, getenv, io.MultiWriter(stdout, u), stderr)
	}, args, env)
	close(u.stop)
	u.once.Do(func() { close(u.done) }) // never prompted: nothing to wait for
	<-u.done
	u.mu.Lock()
	prompted := strings.Contains(u.prompt.String(), "Waiting for the sign-in")
	u.mu.Unlock()
	return result{Result: r, prompted: prompted}
}

// grantFile returns the one record file in the store folder, checking its
// permissions.
func (w *world) grantFile(t *testing.T) []byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(w.storeDir, "*.json"))
	if err != nil || len(files) != 1 {
		t.Fatalf("record files %v (%v), want one", files, err)
	}
	fi, err := os.Stat(files[0])
	if err != nil {
		t.Fatal(err)
	}
	// Windows does not report Unix permission bits.
	if perm := fi.Mode().Perm(); perm != 0o600 && runtime.GOOS != "windows" {
		t.Errorf("the grant file has mode %v, want 0600", perm)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// storedGrant loads the grant through a store like the program's.
func (w *world) storedGrant(t *testing.T, key []byte) *tokenstore.Record {
	t.Helper()
	var encoded string
	if key != nil {
		encoded = base64.StdEncoding.EncodeToString(key)
	}
	store, err := cli.OpenStore(w.storeDir, encoded)
	if err != nil {
		t.Fatal(err)
	}
	cfg := entra.Config{TenantID: providertest.DefaultTenant, ClientID: testClient, Mailbox: testMailbox}
	rec, err := store.Load(context.Background(), cfg.Key())
	if err != nil {
		t.Fatalf("load the grant: %v", err)
	}
	if rec.Token == nil || rec.Token.RefreshToken == "" || w.idp.RefreshChain(rec.Token.RefreshToken) == nil {
		t.Fatalf("the stored grant holds no refresh token of the identity provider: %+v", rec.Token != nil)
	}
	return rec
}

func (w *world) checkMessages(t *testing.T, n int) {
	t.Helper()
	m := clitest.Received(t, w.smtp, n, testMailbox, testMailbox)
	if !strings.Contains(string(m.Data), "Subject: mailoauth test message") {
		t.Errorf("message:\n%s", m.Data)
	}
}

func TestAuthorizeSaveAndSend(t *testing.T) {
	w := newWorld(t)
	r := w.run(t, w.args(), nil, false)
	if r.Err != nil {
		t.Fatalf("run: %v\n%s%s", r.Err, r.Explained, r.Stderr)
	}
	for _, want := range []string{
		"To authorize " + testMailbox + ", open " + w.idp.URL() + "/devicelogin",
		"Authorized " + testMailbox + ". The grant is saved in " + w.storeDir + " (not encrypted",
		"Sent \"mailoauth test message\" from " + testMailbox + " to " + testMailbox + " through " + w.smtp.Addr(),
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.Stdout)
		}
	}
	// The user answers after the first poll: that poll or the next one
	// gets the grant.
	if n := w.idp.Requests("device_code"); n < 1 || n > 2 || !r.prompted {
		t.Errorf("%d polls (prompted %v), want 1 or 2", n, r.prompted)
	}
	w.checkMessages(t, 1)
	// Without a key the file holds the refresh token in clear, which is why
	// the program says so and the encrypted test below means something.
	rec := w.storedGrant(t, nil)
	if !bytes.Contains(w.grantFile(t), []byte(rec.Token.RefreshToken)) {
		t.Error("the plain grant file does not hold the refresh token")
	}
	if rec.Account != testMailbox {
		t.Errorf("grant account %q", rec.Account)
	}

	// A second run finds the grant: no new authorization, one more message.
	r = w.run(t, w.args(), nil, false)
	if r.Err != nil {
		t.Fatalf("second run: %v\n%s", r.Err, r.Explained)
	}
	if !strings.Contains(r.Stdout, testMailbox+" is already authorized") || len(w.idp.DeviceCodes()) != 1 || r.prompted {
		t.Errorf("second run authorized again (%d codes):\n%s", len(w.idp.DeviceCodes()), r.Stdout)
	}
	w.checkMessages(t, 2)
}

// TestEncryptedGrantIsRenewed runs with MAILOAUTH_STORE_KEY: the file never
// shows a token; a later run, after the access token expired, refreshes the
// grant and saves the rotated refresh token; a wrong key opens nothing.
func TestEncryptedGrantIsRenewed(t *testing.T) {
	w := newWorld(t)
	key := bytes.Repeat([]byte{0x5a}, cli.StoreKeySize)
	env := map[string]string{cli.EnvStoreKey: base64.StdEncoding.EncodeToString(key)}

	r := w.run(t, w.args(), env, false)
	if r.Err != nil {
		t.Fatalf("run: %v\n%s%s", r.Err, r.Explained, r.Stderr)
	}
	if !strings.Contains(r.Stdout, "(encrypted)") {
		t.Errorf("stdout:\n%s", r.Stdout)
	}
	w.checkMessages(t, 1)
	first := w.storedGrant(t, key)
	raw := w.grantFile(t)
	for _, secret := range []string{first.Token.RefreshToken, first.Token.AccessToken, "refresh_token"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("the encrypted grant file shows %.12q...", secret)
		}
	}

	// Two hours later the stored access token has expired at the server:
	// it is refused, the grant refreshed once, and the new refresh token
	// saved (Entra rotates them) before the message goes out.
	w.idp.Advance(2 * time.Hour)
	r = w.run(t, w.args("-subject", "after a refresh"), env, false)
	if r.Err != nil {
		t.Fatalf("later run: %v\n%s%s", r.Err, r.Explained, r.Stderr)
	}
	if n := len(w.smtp.Messages()); n != 2 {
		t.Fatalf("%d messages", n)
	}
	chain := w.idp.RefreshChain(first.Token.RefreshToken)
	if len(chain) != 2 || w.storedGrant(t, key).Token.RefreshToken != chain[1] {
		t.Errorf("refresh chain of %d; the store must hold its newest token", len(chain))
	}
	if bytes.Contains(w.grantFile(t), []byte(chain[1])) {
		t.Error("the renewed grant is stored in clear")
	}

	// The wrong key opens nothing and changes nothing.
	wrong := map[string]string{cli.EnvStoreKey: base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, cli.StoreKeySize))}
	r = w.run(t, w.args(), wrong, false)
	if r.Err == nil || !errors.Is(r.Err, tokenstore.ErrWrongKey) || r.Code != 1 {
		t.Fatalf("wrong key: err %v, status %d", r.Err, r.Code)
	}
	if len(w.idp.DeviceCodes()) != 1 || len(w.smtp.Messages()) != 2 {
		t.Error("a run with the wrong key authorized or sent")
	}
}

func TestAuthorizeOnly(t *testing.T) {
	w := newWorld(t)
	r := w.run(t, w.args("-send=false"), nil, false)
	if r.Err != nil {
		t.Fatalf("run: %v\n%s", r.Err, r.Explained)
	}
	if strings.Contains(r.Stdout, "Sent") || len(w.smtp.Messages()) != 0 || w.smtp.Stats().Connections != 0 {
		t.Errorf("-send=false sent:\n%s", r.Stdout)
	}
	w.storedGrant(t, nil)

	// -force authorizes again and replaces the grant.
	old := w.storedGrant(t, nil).Token.RefreshToken
	r = w.run(t, w.args("-send=false", "-force"), nil, false)
	if r.Err != nil {
		t.Fatalf("run -force: %v\n%s", r.Err, r.Explained)
	}
	if len(w.idp.DeviceCodes()) != 2 || w.storedGrant(t, nil).Token.RefreshToken == old {
		t.Error("-force did not authorize again")
	}
}

func TestDeclinedAuthorizationIsExplained(t *testing.T) {
	w := newWorld(t)
	r := w.run(t, w.args(), nil, true)
	if r.Err == nil || !errors.Is(r.Err, authorize.ErrDeviceDeclined) || r.Code != 1 {
		t.Fatalf("err %v, status %d", r.Err, r.Code)
	}
	if !strings.Contains(r.Explained, "What went wrong (") || !strings.Contains(r.Explained, "How to fix it: ") {
		t.Errorf("no diagnosis:\n%s", r.Explained)
	}
	if files, _ := filepath.Glob(filepath.Join(w.storeDir, "*.json")); len(files) != 0 {
		t.Errorf("a declined authorization left %v", files)
	}
	if len(w.smtp.Messages()) != 0 {
		t.Error("sent without a grant")
	}
}

func TestUsageMistakes(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"key not base64", w.args(), map[string]string{cli.EnvStoreKey: "not-base64!"}, "must be 32 random bytes"},
		{"key too short", w.args(), map[string]string{cli.EnvStoreKey: base64.StdEncoding.EncodeToString([]byte("short"))}, "must be 32 random bytes"},
		{"no client", []string{"-tenant", "t", "-mailbox", "m@x.test", "-store", w.storeDir}, nil, "-client-id (or $MAILOAUTH_CLIENT_ID) is required"},
		{"unknown cloud", w.args("-cloud", "mars"), nil, `-cloud "mars"`},
		{"bad security", w.args("-smtp-security", "maybe"), nil, "want starttls, tls or plaintext"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := w.run(t, tc.args, tc.env, false)
			if r.Err == nil || !strings.Contains(r.Err.Error(), tc.want) || r.Code != 2 {
				t.Fatalf("err %v (status %d), want %q and status 2", r.Err, r.Code, tc.want)
			}
			if v := tc.env[cli.EnvStoreKey]; v != "" && strings.Contains(r.Explained, v) {
				t.Error("the key was printed")
			}
		})
	}
	if w.idp.Requests("") != 0 || w.idp.Hits("devicecode") != 0 {
		t.Error("a usage mistake reached the identity provider")
	}
}

// TestRevokedGrantIsReportedOnce: the stored grant was revoked, so the
// refresh fails. The failure is explained once, as Reauthorize: no log
// line of the token cache or the grant store repeats it before, and the
// explanation promises no next attempt of a program that stops.
func TestRevokedGrantIsReportedOnce(t *testing.T) {
	w := newWorld(t)
	r := w.run(t, w.args("-send=false"), nil, false)
	if r.Err != nil {
		t.Fatalf("authorize: %v\n%s%s", r.Err, r.Explained, r.Stderr)
	}
	w.idp.RevokeUser(testMailbox)
	r = w.run(t, w.args(), nil, false)
	clitest.ReportedOnce(t, r.Result)
	if !strings.Contains(r.Explained, provider.Reauthorize.String()) {
		t.Errorf("not explained as %s:\n%s", provider.Reauthorize, r.Explained)
	}
	if len(w.smtp.Messages()) != 0 {
		t.Error("a message was sent")
	}
}
