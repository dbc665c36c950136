package imapx_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/imapx"
	"github.com/mailoauth/mailoauth/imapx/imapxtest"
	"github.com/mailoauth/mailoauth/internal/testrun"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/retry"
)

// fast are mailgate options for tests: short backoffs.
func fast(srv *imapxtest.Server, logs *logBuffer) *imapx.MailgateOptions {
	o := &imapx.MailgateOptions{
		RetryBackoff:     retry.Backoff{Min: 20 * time.Millisecond, Max: 100 * time.Millisecond},
		ReconnectBackoff: retry.Backoff{Min: 5 * time.Millisecond, Max: 50 * time.Millisecond},
	}
	o.TLSConfig = srv.TLSConfig()
	if logs != nil {
		o.Logger = logs.Logger()
	}
	return o
}

// recorder is a handler that records what it saw.
type recorder struct {
	mu       sync.Mutex
	calls    map[string]int // Message-ID -> handler calls
	ok       map[string]int // Message-ID -> successful calls
	bodies   map[string][]byte
	messages []*imapx.Message
	cutOff   int                                // bodies that could not be read to the end
	fail     func(id string, attempt int) error // nil: always succeed
}

func newRecorder() *recorder {
	return &recorder{calls: map[string]int{}, ok: map[string]int{}, bodies: map[string][]byte{}}
}

func (r *recorder) handle(ctx context.Context, m *imapx.Message) error {
	body, err := io.ReadAll(m.Body)
	if err != nil {
		r.mu.Lock()
		r.cutOff++
		r.mu.Unlock()
		return err
	}
	id := messageID(body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[id]++
	if r.fail != nil {
		if err := r.fail(id, r.calls[id]); err != nil {
			return err
		}
	}
	r.ok[id]++
	r.bodies[id] = body
	cp := *m
	cp.Body = nil
	r.messages = append(r.messages, &cp)
	return nil
}

func (r *recorder) succeeded() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ok)
}

func (r *recorder) callsOf(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[id]
}

// messageID returns the local part of a raw message's Message-ID.
func messageID(raw []byte) string {
	h, err := textproto.NewReader(bufio.NewReader(strings.NewReader(string(raw)))).ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return ""
	}
	id, _, _ := strings.Cut(strings.Trim(h.Get("Message-Id"), "<>"), "@")
	return id
}

// run starts g and returns a stop function that cancels it and returns
// Run's error.
func run(t testing.TB, g *imapx.Mailgate) (stop func() error) {
	t.Helper()
	return testrun.Start(t, g.Run)
}

// ids returns the Message-IDs of msgs.
func ids(msgs []imapxtest.Message) map[string]int {
	out := map[string]int{}
	for _, m := range msgs {
		out[messageID(m.Body)]++
	}
	return out
}

func mustMessages(t testing.TB, srv *imapxtest.Server, folder string) []imapxtest.Message {
	t.Helper()
	msgs, err := srv.Messages(user, folder)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func TestMailgateMarksHandledMessagesSeen(t *testing.T) {
	srv := newServer(t, nil)
	for i := 1; i <= 5; i++ {
		if _, err := srv.Deliver(user, "INBOX", message(fmt.Sprint(i), strings.Repeat("x", i*100))); err != nil {
			t.Fatal(err)
		}
	}
	rec := newRecorder()
	stop := run(t, imapx.NewMailgate(srv.Mailbox(user, nil), fast(srv, nil), rec.handle))
	eventually(t, 10*time.Second, "5 messages handled", func() bool { return rec.succeeded() == 5 })
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v, want context.Canceled", err)
	}
	msgs := mustMessages(t, srv, "INBOX")
	for _, m := range msgs {
		if !m.HasFlag(imap.FlagSeen) {
			t.Errorf("UID %d is not \\Seen after its handler succeeded", m.UID)
		}
		id := messageID(m.Body)
		if string(rec.bodies[id]) != string(m.Body) {
			t.Errorf("handler got a different body for %s", id)
		}
	}
	for _, m := range rec.messages {
		if m.Envelope == nil || !strings.HasPrefix(m.Envelope.Subject, "ticket ") {
			t.Errorf("UID %d: envelope %+v lacks the subject", m.UID, m.Envelope)
		}
		if m.Size <= 0 || m.InternalDate.IsZero() || m.UIDValidity == 0 {
			t.Errorf("UID %d: size %d, date %v, uidvalidity %d", m.UID, m.Size, m.InternalDate, m.UIDValidity)
		}
		for _, f := range m.Flags {
			if f == imap.FlagSeen {
				t.Errorf("UID %d: the handler saw \\Seen: fetching the body must not set it", m.UID)
			}
		}
	}
	for id, n := range rec.calls {
		if n != 1 {
			t.Errorf("%s was handled %d times", id, n)
		}
	}
}

func TestMailgateMovesAndDeletes(t *testing.T) {
	cases := []struct {
		name          string
		opts          *imapxtest.Options
		after         imapx.Action
		wantArchive   bool // handled messages end up in Archive
		wantLeftFlags bool // handled messages stay in INBOX, flagged \Deleted (no UIDPLUS)
	}{
		{"MOVE", nil, imapx.Move, true, false},
		{"COPY + UID EXPUNGE without MOVE", &imapxtest.Options{Security: provider.ImplicitTLS, NoMove: true}, imapx.Move, true, false},
		{"COPY without MOVE and UIDPLUS", &imapxtest.Options{Security: provider.ImplicitTLS, NoMove: true, NoUIDPlus: true}, imapx.Move, true, true},
		{"delete", nil, imapx.Delete, false, false},
		{"delete without UIDPLUS", &imapxtest.Options{Security: provider.ImplicitTLS, NoUIDPlus: true}, imapx.Delete, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.opts)
			if err := srv.CreateFolder(user, "Archive"); err != nil {
				t.Fatal(err)
			}
			// Someone else's message flagged \Deleted, not expunged: the
			// mailgate must neither handle nor expunge it.
			foreign, _ := srv.Deliver(user, "INBOX", message("foreign", "deleted by a person"))
			if err := srv.SetFlags(user, "INBOX", foreign, imap.FlagDeleted); err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 4; i++ {
				srv.Deliver(user, "INBOX", message(fmt.Sprint(i), "body"))
			}
			rec := newRecorder()
			opts := fast(srv, nil)
			opts.After, opts.MoveTo = tc.after, "Archive"
			stop := run(t, imapx.NewMailgate(srv.Mailbox(user, nil), opts, rec.handle))
			eventually(t, 10*time.Second, "4 messages handled", func() bool { return rec.succeeded() == 4 })
			// Let the mailgate check the folder again: nothing may be handled twice.
			srv.Deliver(user, "INBOX", message("5", "body"))
			eventually(t, 10*time.Second, "5th message handled", func() bool { return rec.succeeded() == 5 })
			if err := stop(); !errors.Is(err, context.Canceled) {
				t.Fatalf("Run: %v", err)
			}
			if rec.callsOf("foreign") != 0 {
				t.Error("the handler got a message flagged \\Deleted")
			}
			for id, n := range rec.calls {
				if n != 1 {
					t.Errorf("%s handled %d times", id, n)
				}
			}
			inbox := mustMessages(t, srv, "INBOX")
			if ids(inbox)["foreign"] != 1 {
				t.Error("someone else's \\Deleted message was expunged")
			}
			wantInbox := 1
			if tc.wantLeftFlags {
				wantInbox = 6
				for _, m := range inbox {
					if !m.HasFlag(imap.FlagDeleted) {
						t.Errorf("UID %d in INBOX is not flagged \\Deleted", m.UID)
					}
				}
			}
			if len(inbox) != wantInbox {
				t.Errorf("INBOX holds %d messages, want %d", len(inbox), wantInbox)
			}
			archive := ids(mustMessages(t, srv, "Archive"))
			for i := 1; i <= 5; i++ {
				want := 0
				if tc.wantArchive {
					want = 1
				}
				if got := archive[fmt.Sprint(i)]; got != want {
					t.Errorf("Archive holds message %d %d times, want %d", i, got, want)
				}
			}
		})
	}
}

func TestMailgateRetriesFailedMessagesAndMovesTheOthers(t *testing.T) {
	srv := newServer(t, nil)
	srv.CreateFolder(user, "Archive")
	for i := 1; i <= 6; i++ {
		srv.Deliver(user, "INBOX", message(fmt.Sprint(i), "body"))
	}
	var (
		mu       sync.Mutex
		healed   bool
		attempts = map[string][]time.Time{}
	)
	rec := newRecorder()
	rec.fail = func(id string, n int) error {
		mu.Lock()
		defer mu.Unlock()
		attempts[id] = append(attempts[id], time.Now())
		if (id == "2" || id == "5") && !healed {
			return errors.New("ticket system unavailable")
		}
		return nil
	}
	var logs logBuffer
	opts := fast(srv, &logs)
	opts.After, opts.MoveTo = imapx.Move, "Archive"
	opts.RetryBackoff = retry.Backoff{Min: 50 * time.Millisecond, Max: 100 * time.Millisecond}
	run(t, imapx.NewMailgate(srv.Mailbox(user, nil), opts, rec.handle))

	eventually(t, 10*time.Second, "the 4 others handled and the failing ones tried twice", func() bool {
		return rec.succeeded() == 4 && rec.callsOf("2") >= 2 && rec.callsOf("5") >= 2
	})
	inbox := mustMessages(t, srv, "INBOX")
	if got := ids(inbox); len(inbox) != 2 || got["2"] != 1 || got["5"] != 1 {
		t.Fatalf("INBOX holds %v, want exactly the failing messages 2 and 5", got)
	}
	for _, m := range inbox {
		if m.HasFlag(imap.FlagSeen) || m.HasFlag(imap.FlagDeleted) {
			t.Errorf("failing message UID %d was touched: flags %v", m.UID, m.Flags)
		}
	}
	if got := len(mustMessages(t, srv, "Archive")); got != 4 {
		t.Errorf("Archive holds %d messages, want 4", got)
	}
	mu.Lock()
	for _, id := range []string{"2", "5"} {
		a := attempts[id]
		// The first wait is jittered within [Min/2, Min] (retry.Backoff).
		if gap := a[1].Sub(a[0]); gap < opts.RetryBackoff.Min/2 {
			t.Errorf("message %s retried after %v, before the backoff of at least %v", id, gap, opts.RetryBackoff.Min/2)
		}
	}
	healed = true
	mu.Unlock()
	if !strings.Contains(logs.String(), "ticket system unavailable") {
		t.Error("the handler failure was not logged")
	}
	eventually(t, 10*time.Second, "the healed messages handled", func() bool { return rec.succeeded() == 6 })
	eventually(t, 10*time.Second, "INBOX empty", func() bool { return len(mustMessages(t, srv, "INBOX")) == 0 })
	if got := ids(mustMessages(t, srv, "Archive")); len(got) != 6 {
		t.Errorf("Archive holds %v, want all 6", got)
	}
}

func TestMailgateIdleDeliversWithoutWaitingForThePollInterval(t *testing.T) {
	srv := newServer(t, nil)
	rec := newRecorder()
	opts := fast(srv, nil)
	opts.PollInterval = time.Hour
	run(t, imapx.NewMailgate(srv.Mailbox(user, nil), opts, rec.handle))
	eventually(t, 10*time.Second, "the mailgate idling", func() bool { return srv.Idles() >= 1 })
	srv.Deliver(user, "INBOX", message("1", "new mail"))
	eventually(t, 10*time.Second, "the message handled", func() bool { return rec.succeeded() == 1 })
	if srv.Connections() != 1 {
		t.Errorf("%d connections, want 1", srv.Connections())
	}
}

func TestMailgatePollsWithoutIdle(t *testing.T) {
	srv := newServer(t, &imapxtest.Options{Security: provider.ImplicitTLS, NoIdle: true})
	rec := newRecorder()
	opts := fast(srv, nil)
	opts.PollInterval = 30 * time.Millisecond
	run(t, imapx.NewMailgate(srv.Mailbox(user, nil), opts, rec.handle))
	eventually(t, 10*time.Second, "the first check", func() bool { return srv.Commands() >= 4 })
	srv.Deliver(user, "INBOX", message("1", "new mail"))
	eventually(t, 10*time.Second, "the message handled", func() bool { return rec.succeeded() == 1 })
	if srv.Idles() != 0 {
		t.Errorf("the mailgate sent IDLE %d times to a server without IDLE", srv.Idles())
	}
}

func TestMailgateReconnectsAtOnceAfterAccessTokenExpiredBye(t *testing.T) {
	srv := newServer(t, nil)
	tokens := newRecordingTokens(srv.TokenSource(user))
	srv.ByeDuringIdle(imapxtest.ByeTokenExpired)
	rec := newRecorder()
	var logs logBuffer
	opts := fast(srv, &logs)
	// A backoff that would stall the test: the BYE is an ordinary
	// reconnection and must not wait.
	opts.ReconnectBackoff = retry.Backoff{Min: time.Hour, Max: time.Hour}
	run(t, imapx.NewMailgate(srv.Mailbox(user, tokens), opts, rec.handle))
	eventually(t, 10*time.Second, "a second session idling", func() bool { return srv.Idles() >= 2 })
	srv.Deliver(user, "INBOX", message("1", "after the bye"))
	eventually(t, 10*time.Second, "the message handled", func() bool { return rec.succeeded() == 1 })
	if srv.Byes() != 1 || srv.Connections() != 2 {
		t.Errorf("%d BYEs, %d connections; want 1 and 2", srv.Byes(), srv.Connections())
	}
	if tokens.invalidations() != 1 || len(tokens.all()) != 2 {
		t.Errorf("%d invalidations, %d tokens; want the expired token replaced once", tokens.invalidations(), len(tokens.all()))
	}
	if strings.Contains(logs.String(), `"level":"WARN"`) {
		t.Errorf("the expected BYE was logged as a warning:\n%s", logs.String())
	}
}

func TestMailgateReconnectsWithBackoffAfterOtherByesAndDrops(t *testing.T) {
	srv := newServer(t, nil)
	srv.ByeDuringIdle("Server shutting down")
	rec := newRecorder()
	var logs logBuffer
	run(t, imapx.NewMailgate(srv.Mailbox(user, nil), fast(srv, &logs), rec.handle))
	eventually(t, 10*time.Second, "a second session idling", func() bool { return srv.Idles() >= 2 })
	srv.DropConnections() // during IDLE
	eventually(t, 10*time.Second, "a third session idling", func() bool { return srv.Idles() >= 3 && srv.Connections() == 3 })
	srv.Deliver(user, "INBOX", message("1", "after the drops"))
	eventually(t, 10*time.Second, "the message handled", func() bool { return rec.succeeded() == 1 })
	if !strings.Contains(logs.String(), "Server shutting down") {
		t.Errorf("the BYE text was not logged:\n%s", logs.String())
	}
}

func TestMailgateHonoursTheSuggestedBackoff(t *testing.T) {
	srv := newServer(t, nil)
	tokens := newRecordingTokens(srv.TokenSource(user))
	rec := newRecorder()
	var logs logBuffer
	const suggested = 400 * time.Millisecond
	run(t, imapx.NewMailgate(srv.Mailbox(user, tokens), fast(srv, &logs), rec.handle))
	eventually(t, 10*time.Second, "the mailgate idling", func() bool { return srv.Idles() >= 1 })
	srv.Throttle(1, suggested) // the command after IDLE ends
	srv.Deliver(user, "INBOX", message("1", "throttled"))
	eventually(t, 10*time.Second, "the message handled", func() bool { return rec.succeeded() == 1 })
	if srv.Throttled() != 1 {
		t.Fatalf("%d throttling replies sent, want 1", srv.Throttled())
	}
	if !strings.Contains(logs.String(), `"wait":400000000`) {
		t.Errorf("the throttling wait was not logged as 400ms:\n%s", logs.String())
	}
	// The token is asked for at each connection: the second call came at
	// least the suggested backoff after the throttle was logged.
	calls := tokens.callTimes()
	logged := throttleLogTime(t, logs.String())
	if len(calls) < 2 || calls[1].Sub(logged) < suggested {
		t.Errorf("reconnected %v after the throttling reply, want at least %v", calls[len(calls)-1].Sub(logged), suggested)
	}
}

// throttleLogTime returns the time of the throttling log line.
func throttleLogTime(t *testing.T, logs string) time.Time {
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "throttling") {
			i := strings.Index(line, `"time":"`)
			ts, err := time.Parse(time.RFC3339Nano, line[i+8:i+8+strings.Index(line[i+8:], `"`)])
			if err != nil {
				t.Fatal(err)
			}
			return ts
		}
	}
	t.Fatal("no throttling log line")
	return time.Time{}
}

func TestMailgateRenewsTheSessionBeforeItsTokenExpires(t *testing.T) {
	srv := newServer(t, &imapxtest.Options{Security: provider.ImplicitTLS, ExpiringSessions: true, TokenLifetime: 1500 * time.Millisecond})
	rec := newRecorder()
	opts := fast(srv, nil)
	opts.ReconnectBeforeExpiry = 500 * time.Millisecond
	opts.PollInterval = time.Hour
	ts := srv.TokenSource(user)
	run(t, imapx.NewMailgate(srv.Mailbox(user, ts), opts, rec.handle))
	for i := 1; i <= 6; i++ {
		srv.Deliver(user, "INBOX", message(fmt.Sprint(i), "body"))
		time.Sleep(400 * time.Millisecond)
	}
	eventually(t, 10*time.Second, "6 messages handled", func() bool { return rec.succeeded() == 6 })
	if srv.ExpiredSessions() != 0 {
		t.Errorf("the server ended %d sessions for an expired token", srv.ExpiredSessions())
	}
	if srv.Connections() < 2 || ts.Requests() < 2 {
		t.Errorf("%d connections with %d tokens in 2.4s of 1.5s tokens; want renewed sessions", srv.Connections(), ts.Requests())
	}
	if srv.AuthFailures() != 0 {
		t.Errorf("%d refused tokens", srv.AuthFailures())
	}
}

func TestMailgateStartsAfreshWhenUIDValidityChanges(t *testing.T) {
	srv := newServer(t, nil)
	for i := 1; i <= 3; i++ {
		srv.Deliver(user, "INBOX", message(fmt.Sprint(i), "body"))
	}
	var (
		mu     sync.Mutex
		broken = true
	)
	rec := newRecorder()
	rec.fail = func(id string, n int) error {
		mu.Lock()
		defer mu.Unlock()
		if id == "2" && broken {
			return errors.New("not now")
		}
		return nil
	}
	var logs logBuffer
	run(t, imapx.NewMailgate(srv.Mailbox(user, nil), fast(srv, &logs), rec.handle))
	eventually(t, 10*time.Second, "1 and 3 handled", func() bool { return rec.succeeded() == 2 })
	allSeen := func(want int) func() bool {
		return func() bool {
			seen := 0
			for _, m := range mustMessages(t, srv, "INBOX") {
				if m.HasFlag(imap.FlagSeen) {
					seen++
				}
			}
			return seen == want
		}
	}
	// Only once \Seen is on the server: an action not yet applied when
	// UIDVALIDITY changes is forgotten with the old UIDs.
	eventually(t, 10*time.Second, "1 and 3 marked", allSeen(2))
	if err := srv.ResetUIDValidity(user, "INBOX"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	broken = false
	mu.Unlock()
	srv.Deliver(user, "INBOX", message("4", "body"))
	eventually(t, 10*time.Second, "2 and 4 handled", func() bool { return rec.succeeded() == 4 })
	for _, id := range []string{"1", "3", "4"} {
		if n := rec.callsOf(id); n != 1 {
			t.Errorf("message %s handled %d times", id, n)
		}
	}
	if !strings.Contains(logs.String(), "UIDVALIDITY changed") {
		t.Error("the UIDVALIDITY change was not logged")
	}
	eventually(t, 10*time.Second, "all 4 marked", allSeen(4))
}

func TestMailgateSetsOversizeMessagesAside(t *testing.T) {
	for _, folder := range []string{"Too big", ""} {
		t.Run("OversizeFolder="+folder, func(t *testing.T) {
			srv := newServer(t, nil)
			if folder != "" {
				srv.CreateFolder(user, folder)
			}
			srv.Deliver(user, "INBOX", message("small", "ok"))
			srv.Deliver(user, "INBOX", message("big", strings.Repeat("x", 5000)))
			srv.Deliver(user, "INBOX", message("small2", "ok"))
			rec := newRecorder()
			var logs logBuffer
			opts := fast(srv, &logs)
			opts.MaxSize, opts.OversizeFolder = 1000, folder
			stop := run(t, imapx.NewMailgate(srv.Mailbox(user, nil), opts, rec.handle))
			eventually(t, 10*time.Second, "the small messages handled", func() bool { return rec.succeeded() == 2 })
			eventually(t, 10*time.Second, "the big one logged", func() bool {
				return strings.Contains(logs.String(), "larger than MaxSize") && strings.Contains(logs.String(), "ticket big")
			})
			stop()
			if rec.callsOf("big") != 0 {
				t.Error("the handler got the oversize message")
			}
			inbox := ids(mustMessages(t, srv, "INBOX"))
			if folder != "" {
				if ids(mustMessages(t, srv, folder))["big"] != 1 || inbox["big"] != 0 {
					t.Errorf("the oversize message was not moved to %q", folder)
				}
			} else if inbox["big"] != 1 {
				t.Error("the oversize message left INBOX although no folder was set")
			}
			if n := strings.Count(logs.String(), "larger than MaxSize"); n != 1 {
				t.Errorf("the oversize message was logged %d times, want once", n)
			}
		})
	}
}

func TestMailgateRunFinishesTheMessageInHand(t *testing.T) {
	srv := newServer(t, nil)
	srv.Deliver(user, "INBOX", message("1", "first"))
	srv.Deliver(user, "INBOX", message("2", "second"))
	inHandler := make(chan struct{})
	release := make(chan struct{})
	var calls []string
	handle := func(ctx context.Context, m *imapx.Message) error {
		body, err := io.ReadAll(m.Body)
		if err != nil {
			return err
		}
		calls = append(calls, messageID(body))
		if len(calls) == 1 {
			close(inHandler)
			<-release
			if ctx.Err() != nil {
				return fmt.Errorf("the handler's context was cancelled: %w", ctx.Err())
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- imapx.NewMailgate(srv.Mailbox(user, nil), fast(srv, nil), handle).Run(ctx) }()
	<-inHandler
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) while the handler was still working", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v, want context.Canceled", err)
	}
	if len(calls) != 1 {
		t.Errorf("handler called for %v, want only the message in hand", calls)
	}
	seen := map[string]bool{}
	for _, m := range mustMessages(t, srv, "INBOX") {
		seen[messageID(m.Body)] = m.HasFlag(imap.FlagSeen)
	}
	if !seen["1"] || seen["2"] {
		t.Errorf("seen flags %v: want the message in hand marked, the next one untouched", seen)
	}
}

func TestMailgateRejectsBadOptions(t *testing.T) {
	srv := newServer(t, nil)
	mb := srv.Mailbox(user, nil)
	cases := map[string]imapx.MailgateOptions{
		"Move without MoveTo":   {After: imapx.Move},
		"Move into the folder":  {After: imapx.Move, MoveTo: "INBOX"},
		"negative MaxSize":      {MaxSize: -1},
		"unknown action":        {After: imapx.Action(42)},
		"oversize to the inbox": {MaxSize: 10, OversizeFolder: "INBOX"},
	}
	for name, opts := range cases {
		if err := imapx.NewMailgate(mb, &opts, newRecorder().handle).Run(context.Background()); err == nil {
			t.Errorf("%s: Run accepted the options", name)
		}
	}
	if err := imapx.NewMailgate(&provider.Mailbox{}, &imapx.MailgateOptions{}, newRecorder().handle).Run(context.Background()); err == nil {
		t.Error("Run accepted an empty mailbox")
	}
	if srv.Connections() != 0 {
		t.Errorf("bad options still connected %d times", srv.Connections())
	}
}

func TestMailgateWaitsForAMissingMoveFolder(t *testing.T) {
	srv := newServer(t, nil)
	srv.Deliver(user, "INBOX", message("1", "body"))
	rec := newRecorder()
	var logs logBuffer
	opts := fast(srv, &logs)
	opts.After, opts.MoveTo = imapx.Move, "Archive"
	run(t, imapx.NewMailgate(srv.Mailbox(user, nil), opts, rec.handle))
	eventually(t, 10*time.Second, "the missing folder reported", func() bool { return strings.Contains(logs.String(), `destination folder \"Archive\"`) })
	if rec.succeeded() != 0 {
		t.Fatal("a message was handled although it could not be moved")
	}
	srv.CreateFolder(user, "Archive")
	eventually(t, 10*time.Second, "the message handled once the folder exists", func() bool { return rec.succeeded() == 1 })
	eventually(t, 10*time.Second, "the message moved", func() bool { return len(mustMessages(t, srv, "Archive")) == 1 })
}

var _ auth.TokenSource = (*recordingTokens)(nil)

// TestMailgateLosesNothingWhileConnectionsDrop delivers 500 messages while
// the server drops connections at random (before commands, in the middle of
// FETCH replies, after a MOVE took effect but before its reply, during
// IDLE) and the handler fails once for every 25th message. Every message
// must reach the handler, every successful one must be moved exactly once,
// and none may be lost.
func TestMailgateLosesNothingWhileConnectionsDrop(t *testing.T) {
	const n = 500
	srv := newServer(t, nil)
	srv.CreateFolder(user, "Archive")
	rec := newRecorder()
	rec.fail = func(id string, attempt int) error {
		var k int
		fmt.Sscan(id, &k)
		if k%25 == 0 && attempt == 1 {
			return errors.New("flaky ticket system")
		}
		return nil
	}
	opts := fast(srv, nil)
	opts.After, opts.MoveTo = imapx.Move, "Archive"
	opts.RetryBackoff = retry.Backoff{Min: 5 * time.Millisecond, Max: 20 * time.Millisecond}
	opts.ReconnectBackoff = retry.Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond}
	srv.DropRandomly(0.15, 20260101)
	stop := run(t, imapx.NewMailgate(srv.Mailbox(user, nil), opts, rec.handle))
	deliverWhileRunning(t, srv, n, 4, 8*time.Millisecond)
	eventually(t, 60*time.Second, "every message handled", func() bool { return rec.succeeded() == n })
	eventually(t, 20*time.Second, "every message moved", func() bool {
		return len(mustMessages(t, srv, "INBOX")) == 0
	})
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	srv.DropRandomly(0, 0)

	archive := ids(mustMessages(t, srv, "Archive"))
	if len(archive) != n {
		t.Errorf("Archive holds %d distinct messages, want %d", len(archive), n)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i := 0; i < n; i++ {
		id := fmt.Sprint(i)
		if rec.ok[id] != 1 {
			t.Errorf("message %s succeeded %d times in the handler, want exactly once", id, rec.ok[id])
		}
		if archive[id] != 1 {
			t.Errorf("message %s is in Archive %d times, want exactly once", id, archive[id])
		}
		if i%25 == 0 && rec.calls[id] < 2 {
			t.Errorf("message %s failed once but was handled %d times", id, rec.calls[id])
		}
	}
	if srv.Drops() < 10 || srv.Connections() < 10 || rec.cutOff == 0 {
		t.Errorf("only %d drops, %d connections, %d bodies cut off: the faults did not bite", srv.Drops(), srv.Connections(), rec.cutOff)
	}
	t.Logf("%d messages, %d commands, %d connections, %d drops, %d bodies cut off mid-FETCH", n, srv.Commands(), srv.Connections(), srv.Drops(), rec.cutOff)
}
