package imapx_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/imapx/imapxtest"
	"github.com/mailoauth/mailoauth/internal/testrun"
	"github.com/mailoauth/mailoauth/provider"
)

const user = "helpdesk@example.com"

// recordingTokens wraps a token source and remembers every token handed
// out, every Token call time and every Invalidate.
type recordingTokens struct {
	inner auth.TokenSource

	mu          sync.Mutex
	tokens      []string
	calls       []time.Time
	invalidated int
}

func newRecordingTokens(inner auth.TokenSource) *recordingTokens {
	return &recordingTokens{inner: inner}
}

func (r *recordingTokens) Token(ctx context.Context) (*oauth2.Token, error) {
	tok, err := r.inner.Token(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, time.Now())
	if err == nil {
		seen := false
		for _, t := range r.tokens {
			seen = seen || t == tok.AccessToken
		}
		if !seen {
			r.tokens = append(r.tokens, tok.AccessToken)
		}
	}
	return tok, err
}

func (r *recordingTokens) Invalidate(tok *oauth2.Token) {
	r.mu.Lock()
	r.invalidated++
	r.mu.Unlock()
	r.inner.Invalidate(tok)
}

func (r *recordingTokens) invalidations() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.invalidated
}

func (r *recordingTokens) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.tokens...)
}

func (r *recordingTokens) callTimes() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.calls...)
}

// logBuffer is a slog JSON log in memory.
type logBuffer = testrun.Log

// newServer starts an imapxtest server closed with the test: TLS from the
// first byte, as Exchange Online's port 993, unless opts (nil: none) says
// otherwise.
func newServer(t testing.TB, opts *imapxtest.Options) *imapxtest.Server {
	t.Helper()
	o := imapxtest.Options{Security: provider.ImplicitTLS}
	if opts != nil {
		o = *opts
	}
	srv := imapxtest.New(&o)
	t.Cleanup(srv.Close)
	return srv
}

// message returns a small RFC 5322 message with a Message-ID made of id.
func message(id string, body string) []byte {
	return []byte(fmt.Sprintf("From: customer@example.org\r\nTo: %s\r\nSubject: ticket %s\r\nMessage-ID: <%s@example.org>\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\n\r\n%s\r\n", user, id, id, body))
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	testrun.Eventually(t, within, what, cond)
}

// deliverWhileRunning delivers messages 0 to n-1 to INBOX from another
// goroutine, pausing after each group of every messages, as mail arrives
// while a mailgate runs. The test waits for it at cleanup.
func deliverWhileRunning(t testing.TB, srv *imapxtest.Server, n, every int, pause time.Duration) {
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			if _, err := srv.Deliver(user, "INBOX", message(fmt.Sprint(i), strings.Repeat("line of text\r\n", i%40))); err != nil {
				t.Error(err)
				return
			}
			if i%every == every-1 {
				time.Sleep(pause)
			}
		}
	}()
}

// inboxSettled reports whether every message left in INBOX is flagged
// \Deleted (a server without UIDPLUS keeps moved messages so).
func inboxSettled(t testing.TB, srv *imapxtest.Server) func() bool {
	return func() bool {
		for _, m := range mustMessages(t, srv, "INBOX") {
			if !m.HasFlag(imap.FlagDeleted) {
				return false
			}
		}
		return true
	}
}
