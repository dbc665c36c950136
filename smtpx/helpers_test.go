package smtpx_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/smtpx"
	"github.com/mailoauth/mailoauth/smtpx/smtpxtest"
)

// The suite's secret check: every token, refresh token and secret the
// tests hand out is registered here, every transcript, log and error text
// the tests see is recorded here, and TestMain fails the run if one of the
// former appears in the latter, raw or in base64.
var suite struct {
	mu      sync.Mutex
	secrets []string
	outputs []*syncBuffer
	texts   []string
}

func registerSecret(s string) {
	suite.mu.Lock()
	defer suite.mu.Unlock()
	suite.secrets = append(suite.secrets, s)
}

func recordText(s string) {
	suite.mu.Lock()
	defer suite.mu.Unlock()
	suite.texts = append(suite.texts, s)
}

// recordErr keeps err's text for the secret check and returns err.
func recordErr(err error) error {
	if err != nil {
		recordText(err.Error())
	}
	return err
}

func newOutput() *syncBuffer {
	b := &syncBuffer{}
	suite.mu.Lock()
	defer suite.mu.Unlock()
	suite.outputs = append(suite.outputs, b)
	return b
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if leaks := findSecrets(); len(leaks) > 0 {
		fmt.Fprintln(os.Stderr, "SECRET CHECK FAILED:")
		for _, l := range leaks {
			fmt.Fprintln(os.Stderr, "  ", l)
		}
		code = 1
	} else if code == 0 {
		suite.mu.Lock()
		fmt.Fprintf(os.Stderr, "secret check: %d secrets absent from %d transcripts/logs and %d error texts\n",
			len(suite.secrets), len(suite.outputs), len(suite.texts))
		suite.mu.Unlock()
	}
	os.Exit(code)
}

// findSecrets searches every recorded output for every registered secret.
func findSecrets() []string {
	suite.mu.Lock()
	defer suite.mu.Unlock()
	var haystacks []string
	for _, o := range suite.outputs {
		haystacks = append(haystacks, o.String())
	}
	haystacks = append(haystacks, suite.texts...)
	var leaks []string
	for _, s := range suite.secrets {
		for _, form := range encodedForms(s) {
			for i, h := range haystacks {
				if strings.Contains(h, form) {
					leaks = append(leaks, fmt.Sprintf("output %d contains a form of a secret (%d chars)", i, len(s)))
				}
			}
		}
	}
	return leaks
}

// encodedForms returns s and the base64 text s yields at each alignment,
// in both alphabets, without the characters that depend on neighbours.
func encodedForms(s string) []string {
	forms := []string{s}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding} {
		for shift := 0; shift < 3; shift++ {
			b64 := enc.EncodeToString(append(make([]byte, shift), s...))
			lead := (shift*8 + 5) / 6
			if len(b64)-4 > lead+8 {
				forms = append(forms, b64[lead:len(b64)-4])
			}
		}
	}
	return forms
}

// fakeTokens is a token source and the matching verifier: it issues
// random tokens, counts requests, and accepts only tokens it issued that
// were not invalidated away or expired.
type fakeTokens struct {
	mu       sync.Mutex
	cur      *oauth2.Token
	valid    map[string]bool
	issued   []string
	requests int
	lifetime time.Duration
	size     int // random bytes per token
	address  string
}

func newFakeTokens(address string) *fakeTokens {
	return &fakeTokens{valid: make(map[string]bool), size: 48, address: address}
}

func (f *fakeTokens) Token(ctx context.Context) (*oauth2.Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur != nil && (f.cur.Expiry.IsZero() || time.Now().Before(f.cur.Expiry)) {
		return f.cur, nil
	}
	raw := make([]byte, f.size)
	rand.Read(raw)
	tok := &oauth2.Token{AccessToken: "eyJ0." + base64.RawURLEncoding.EncodeToString(raw), TokenType: "Bearer"}
	if f.lifetime > 0 {
		tok.Expiry = time.Now().Add(f.lifetime)
	}
	registerSecret(tok.AccessToken)
	f.valid[tok.AccessToken] = true
	f.issued = append(f.issued, tok.AccessToken)
	f.requests++
	f.cur = tok
	return tok, nil
}

func (f *fakeTokens) Invalidate(t *oauth2.Token) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t != nil && f.cur != nil && t.AccessToken == f.cur.AccessToken {
		f.cur = nil
	}
}

// Verify is the server side: a token this source issued, for its mailbox.
func (f *fakeTokens) Verify(username, token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.valid[token] {
		return errors.New("unknown or expired token")
	}
	if !strings.EqualFold(username, f.address) {
		return fmt.Errorf("token not valid for %q", username)
	}
	return nil
}

// expireCurrent makes the current token expired for both sides.
func (f *fakeTokens) expireCurrent() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur != nil {
		delete(f.valid, f.cur.AccessToken)
		f.cur.Expiry = time.Now().Add(-time.Second)
	}
}

func (f *fakeTokens) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

func (f *fakeTokens) Issued() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.issued...)
}

const testAddress = "notify@example.com"

// env is a server, a token source and a mailbox wired together, with the
// transcript and log recorded for the secret check.
type env struct {
	srv    *smtpxtest.Server
	tokens *fakeTokens
	mb     *provider.Mailbox
	opts   smtpx.Options
	debug  *syncBuffer
	logs   *syncBuffer
}

func newEnv(t testing.TB, opts ...*smtpxtest.Options) *env {
	t.Helper()
	tokens := newFakeTokens(testAddress)
	srv := smtpxtest.New(withVerify(tokens.Verify, opts))
	t.Cleanup(srv.Close)
	e := &env{srv: srv, tokens: tokens, mb: srv.Mailbox(testAddress, tokens), debug: newOutput(), logs: newOutput()}
	e.opts = smtpx.Options{
		TLSConfig: srv.TLSConfig(),
		Logger:    slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Debug:     e.debug,
	}
	t.Cleanup(func() {
		for _, c := range srv.Commands() {
			recordText(c.Line)
		}
	})
	return e
}

func (e *env) dial(t testing.TB) *smtpx.Client {
	t.Helper()
	c, err := smtpx.Dial(context.Background(), e.mb, &e.opts)
	if err != nil {
		t.Fatalf("Dial: %v", recordErr(err))
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (e *env) sender(t testing.TB, so smtpx.SenderOptions) *smtpx.Sender {
	t.Helper()
	so.Options = e.opts
	s := smtpx.NewSender(e.mb, &so)
	t.Cleanup(func() { s.Close() })
	return s
}

// message returns a small message with a unique Message-ID.
func message(id string) []byte {
	return []byte("From: notify@example.com\r\nTo: someone@example.net\r\nSubject: test " + id +
		"\r\nMessage-ID: <" + id + "@example.com>\r\n\r\nHello " + id + ".\r\n")
}

// fakeClock is a Clock whose Sleep advances time at once.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
		c.slept += d
	}
	return nil
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Slept() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.slept
}

// commands returns the server's command lines.
func commands(srv *smtpxtest.Server) []string {
	var out []string
	for _, c := range srv.Commands() {
		out = append(out, c.Line)
	}
	return out
}

// withVerify returns the first of opts (none: the defaults) with verify.
func withVerify(verify func(username, token string) error, opts []*smtpxtest.Options) *smtpxtest.Options {
	o := smtpxtest.Options{}
	if len(opts) > 0 && opts[0] != nil {
		o = *opts[0]
	}
	o.Verify = verify
	return &o
}
