package graphx_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"log/slog"
	mathrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/graphx"
	"github.com/mailoauth/mailoauth/graphx/graphxtest"
	"github.com/mailoauth/mailoauth/internal/secretcheck"
	"github.com/mailoauth/mailoauth/internal/testclock"
	"github.com/mailoauth/mailoauth/retry"
)

// suite is the secret check: every token the tests hand out is
// registered, every log and error text the tests see is recorded, and
// TestMain fails the run if a token appears in one of them.
var suite secretcheck.Suite

// recordErr keeps err's text for the secret check and returns err.
func recordErr(err error) error {
	if err != nil {
		suite.Text(err.Error())
	}
	return err
}

func TestMain(m *testing.M) {
	code := m.Run()
	if leaks := suite.Leaks(); len(leaks) > 0 {
		fmt.Fprintln(os.Stderr, "SECRET CHECK FAILED:", strings.Join(leaks, "; "))
		code = 1
	} else if code == 0 {
		secrets, texts := suite.Counts()
		fmt.Fprintf(os.Stderr, "secret check: %d tokens absent from %d logs and error texts\n", secrets, texts)
	}
	os.Exit(code)
}

// tokens is a TokenSource whose every token the server accepts for its
// mailbox: a new one after each Invalidate of the current one.
type tokens struct {
	srv     *graphxtest.Server
	user    string
	mu      sync.Mutex
	cur     *oauth2.Token
	minted  int
	invalid int
	fail    error // Token fails with it while set
}

func (t *tokens) Token(context.Context) (*oauth2.Token, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fail != nil {
		return nil, t.fail
	}
	if t.cur == nil {
		b := make([]byte, 16)
		rand.Read(b)
		t.cur = &oauth2.Token{AccessToken: "graph-token-" + hex.EncodeToString(b), Expiry: time.Now().Add(time.Hour)}
		suite.Secret(t.cur.AccessToken)
		t.srv.AllowToken(t.user, t.cur.AccessToken)
		t.minted++
	}
	return t.cur, nil
}

func (t *tokens) Invalidate(rejected *oauth2.Token) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.invalid++
	if t.cur == rejected {
		t.cur = nil
	}
}

func (t *tokens) counts() (minted, invalidated int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.minted, t.invalid
}

const mailboxAddr = "app@example.com"

// env is a server, a mailbox on it and the options to reach it.
type env struct {
	srv    *graphxtest.Server
	tokens *tokens
	clock  *testclock.Clock
	logs   *secretcheck.Buffer
	opts   graphx.Options
}

func newEnv(t testing.TB, o *graphxtest.Options) *env {
	t.Helper()
	if o == nil {
		o = &graphxtest.Options{}
	}
	if os.Getenv("GRAPHXTEST_LOG") != "" {
		o.Logger = log.New(os.Stderr, "graphxtest: ", 0)
	}
	srv := graphxtest.New(o)
	t.Cleanup(srv.Close)
	e := &env{srv: srv, tokens: &tokens{srv: srv, user: mailboxAddr}, clock: testclock.New(), logs: suite.Output()}
	e.opts = graphx.Options{
		BaseURL:   srv.URL(),
		TLSConfig: srv.TLSConfig(),
		Clock:     e.clock,
		Backoff:   retry.Backoff{Min: time.Millisecond, Max: 10 * time.Millisecond},
		Logger:    slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	srv.AddMailbox(mailboxAddr)
	return e
}

// client returns a Client for the env's mailbox with opts changed by
// change (nil: as they are).
func (e *env) client(t testing.TB, change func(*graphx.Options)) *graphx.Client {
	t.Helper()
	opts := e.opts
	if change != nil {
		change(&opts)
	}
	c, err := graphx.New(e.srv.Mailbox(mailboxAddr, e.tokens), &opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// message returns a small message with Message-ID <id@test> from the
// mailbox to the recipients.
func message(id string, to ...string) []byte {
	return []byte("From: " + mailboxAddr + "\r\nTo: " + strings.Join(to, ", ") + "\r\nSubject: test " + id +
		"\r\nMessage-ID: <" + id + "@test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello " + id + ".\r\n")
}

// attachment is one part of a multipart/mixed message built by mixed.
type attachment struct {
	name string
	size int
}

// mixedHeader returns the header of a multipart/mixed message.
func mixedHeader(to string) string {
	return "From: " + mailboxAddr + "\r\nTo: " + to + "\r\nSubject: files\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b0undary\"\r\n\r\n"
}

func envelope(to ...string) graphx.Envelope { return graphx.Envelope{To: to} }

// content returns the reader of attachment i's n octets: pseudo-random,
// the same on every call.
func content(i, n int) io.Reader {
	var seed [32]byte
	seed[0] = byte(i)
	return io.LimitReader(mathrand.NewChaCha8(seed), int64(n))
}

// contentSum returns the SHA-256 of content(i, n).
func contentSum(i, n int) [32]byte {
	h := sha256.New()
	io.Copy(h, content(i, n))
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// base64Lines is the base64 of a reader in lines of 76 characters, as a
// MIME part carries it, read as it goes without allocating.
type base64Lines struct {
	r    io.Reader
	raw  [57]byte
	buf  [78]byte
	line []byte
	done bool
}

func (b *base64Lines) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(b.line) == 0 {
			if b.done {
				break
			}
			k, err := io.ReadFull(b.r, b.raw[:])
			if k > 0 {
				m := base64.StdEncoding.EncodedLen(k)
				base64.StdEncoding.Encode(b.buf[:m], b.raw[:k])
				b.buf[m], b.buf[m+1] = '\r', '\n'
				b.line = b.buf[:m+2]
			}
			if err != nil {
				b.done = true
				if k == 0 {
					break
				}
			}
		}
		c := copy(p[n:], b.line)
		b.line = b.line[c:]
		n += c
	}
	if n == 0 && b.done {
		return 0, io.EOF
	}
	return n, nil
}

// mixed returns a multipart/mixed message to "to" with a text part and
// the attachments (base64), generated as it is read: it is never in memory
// whole, and it is no io.ReaderAt, so that Send spools it.
func mixed(to string, atts []attachment) io.Reader {
	rs := []io.Reader{strings.NewReader(mixedHeader(to) +
		"--b0undary\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe files are attached.\r\n")}
	for i, a := range atts {
		rs = append(rs, strings.NewReader("--b0undary\r\nContent-Type: application/octet-stream; name=\""+a.name+
			"\"\r\nContent-Disposition: attachment; filename=\""+a.name+"\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"),
			&base64Lines{r: content(i, a.size)})
	}
	rs = append(rs, strings.NewReader("--b0undary--\r\n"))
	return io.MultiReader(rs...)
}

func insecureConfig() *tls.Config { return &tls.Config{InsecureSkipVerify: true} }

// filepathGlob lists the files in dir.
func filepathGlob(dir string) ([]string, error) { return filepath.Glob(filepath.Join(dir, "*")) }

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
