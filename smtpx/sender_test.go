package smtpx_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailoauth/mailoauth/retry"
	"github.com/mailoauth/mailoauth/smtpx"
	"github.com/mailoauth/mailoauth/smtpx/smtpxtest"
)

func send(t testing.TB, s *smtpx.Sender, id string, to ...string) error {
	t.Helper()
	if len(to) == 0 {
		to = []string{"a@example.net"}
	}
	return recordErr(s.Send(context.Background(), smtpx.Envelope{To: to}, bytes.NewReader(message(id))))
}

func TestSenderReusesConnectionWithoutRSET(t *testing.T) {
	e := newEnv(t)
	s := e.sender(t, smtpx.SenderOptions{})
	for i := range 5 {
		if err := send(t, s, fmt.Sprint("m", i)); err != nil {
			t.Fatal(err)
		}
	}
	st := e.srv.Stats()
	if st.Connections != 1 || st.Auths != 1 || st.Messages != 5 {
		t.Fatalf("stats %+v, want 5 messages over one connection with one AUTH", st)
	}
	if n := e.srv.CommandCount("RSET"); n != 0 {
		t.Errorf("%d RSET after completed transactions", n)
	}
	if n := e.srv.CommandCount("EHLO"); n != 2 {
		t.Errorf("%d EHLO, want 2 (before and after STARTTLS)", n)
	}
	if n := e.tokens.Requests(); n != 1 {
		t.Errorf("%d token requests", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.CommandCount("QUIT"); n != 1 {
		t.Errorf("%d QUIT after Close", n)
	}
	if err := send(t, s, "late"); !errors.Is(err, smtpx.ErrClosed) {
		t.Errorf("Send after Close = %v", err)
	}
}

func TestSenderNoopAfterIdleAndIdleClose(t *testing.T) {
	e := newEnv(t)
	clock := newFakeClock()
	s := e.sender(t, smtpx.SenderOptions{Clock: clock, NoopAfter: 10 * time.Second, IdleTimeout: time.Hour})
	send(t, s, "1")
	clock.Advance(5 * time.Second)
	send(t, s, "2")
	if n := e.srv.CommandCount("NOOP"); n != 0 {
		t.Fatalf("%d NOOP after 5 s idle", n)
	}
	clock.Advance(11 * time.Second)
	send(t, s, "3")
	if n := e.srv.CommandCount("NOOP"); n != 1 {
		t.Fatalf("%d NOOP after 11 s idle, want 1", n)
	}
	cmds := commands(e.srv)
	if i := slices.Index(cmds, "NOOP"); i < 0 || !strings.HasPrefix(cmds[i+1], "MAIL") {
		t.Errorf("NOOP not followed by MAIL: %q", cmds)
	}
	clock.Advance(2 * time.Hour)
	send(t, s, "4")
	st := e.srv.Stats()
	if st.Connections != 2 || st.Messages != 4 {
		t.Fatalf("stats %+v: want a new connection after the idle timeout", st)
	}
	if n := e.srv.CommandCount("QUIT"); n != 1 {
		t.Errorf("%d QUIT: the idle connection was not closed politely", n)
	}
}

func TestSenderJanitorClosesIdleConnections(t *testing.T) {
	e := newEnv(t)
	s := e.sender(t, smtpx.SenderOptions{IdleTimeout: 20 * time.Millisecond})
	send(t, s, "1")
	deadline := time.Now().Add(5 * time.Second)
	for e.srv.OpenConnections() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the idle connection is still open")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := e.srv.CommandCount("QUIT"); n != 1 {
		t.Errorf("%d QUIT", n)
	}
}

func TestSenderReconnectsAfter421(t *testing.T) {
	e := newEnv(t)
	e.srv.Fail421After(2)
	s := e.sender(t, smtpx.SenderOptions{MaxRetries: -1})
	for i := range 5 {
		if err := send(t, s, fmt.Sprint("m", i)); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	st := e.srv.Stats()
	if st.Messages != 5 || st.Connections != 3 || st.Closed421 != 2 {
		t.Fatalf("stats %+v, want 5 messages over 3 connections", st)
	}
	if n := e.tokens.Requests(); n != 1 {
		t.Errorf("%d token requests for a still valid token", n)
	}
}

func TestSenderReauthenticatesWithFreshTokenAfterDrop(t *testing.T) {
	e := newEnv(t)
	e.tokens.lifetime = time.Hour
	s := e.sender(t, smtpx.SenderOptions{MaxRetries: -1})
	send(t, s, "1")
	// The token expires and the server drops the session it opened.
	e.tokens.expireCurrent()
	e.srv.DropConnections()
	if err := send(t, s, "2"); err != nil {
		t.Fatal(err)
	}
	if n := e.tokens.Requests(); n != 2 {
		t.Fatalf("%d token requests, want a fresh token for the new connection", n)
	}
	st := e.srv.Stats()
	if st.Messages != 2 || st.Connections != 2 || st.Auths != 2 || st.AuthFailures != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A pooled connection the server had dropped costs no extra wait for the
// rate limit: nothing was submitted on it.
func TestSenderDeadPooledConnectionDoesNotPayTheRateTwice(t *testing.T) {
	e := newEnv(t)
	clock := newFakeClock()
	e.mb.Limits.MessagesPerMinute = 30 // one every 2 s
	s := e.sender(t, smtpx.SenderOptions{Clock: clock})
	send(t, s, "1")
	clock.Advance(2 * time.Second) // the next message is due
	e.srv.DropConnections()
	before := clock.Slept()
	if err := send(t, s, "2"); err != nil {
		t.Fatal(err)
	}
	if waited := clock.Slept() - before; waited != 0 {
		t.Fatalf("the second message waited %v for the rate limit, want none", waited)
	}
	if n := len(e.srv.Messages()); n != 2 {
		t.Fatalf("%d messages", n)
	}
}

func TestSenderMaxMessagesPerConn(t *testing.T) {
	e := newEnv(t)
	s := e.sender(t, smtpx.SenderOptions{MaxMessagesPerConn: 2})
	for i := range 5 {
		send(t, s, fmt.Sprint(i))
	}
	if st := e.srv.Stats(); st.Messages != 5 || st.Connections != 3 {
		t.Fatalf("stats %+v", st)
	}
	if n := e.srv.CommandCount("QUIT"); n != 2 {
		t.Errorf("%d QUIT, want the two full connections closed politely", n)
	}
}

func TestSenderRespectsMaxConns(t *testing.T) {
	e := newEnv(t)
	e.mb.Limits.MaxConns = 2
	e.srv.SetDelay(2 * time.Millisecond)
	s := e.sender(t, smtpx.SenderOptions{})
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			if err := send(t, s, fmt.Sprint(i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if st := e.srv.Stats(); st.Messages != 12 || st.MaxConcurrentConns > 2 {
		t.Fatalf("stats %+v, want at most 2 connections", st)
	}
}

func TestSenderConnectionCap432(t *testing.T) {
	t.Run("pool within the cap", func(t *testing.T) {
		e := newEnv(t)
		e.srv.SetMaxAuthConns(3)
		e.srv.SetDelay(time.Millisecond)
		e.mb.Limits.MaxConns = 3 // what the Entra provider sets for Exchange Online
		s := e.sender(t, smtpx.SenderOptions{})
		runConcurrently(t, s, 10, 3)
		st := e.srv.Stats()
		if st.Messages != 30 || st.Rejected432 != 0 || st.MaxConcurrentAuthed > 3 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("pool beyond the cap shrinks and retries", func(t *testing.T) {
		e := newEnv(t)
		e.srv.SetMaxAuthConns(3)
		e.srv.SetDelay(time.Millisecond)
		s := e.sender(t, smtpx.SenderOptions{MaxConns: 6, RetryBackoff: retry.Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond}, ShrinkFor: time.Hour})
		runConcurrently(t, s, 10, 6)
		st := e.srv.Stats()
		if st.Messages != 60 {
			t.Fatalf("%d of 60 messages accepted: %+v", st.Messages, st)
		}
		if st.Rejected432 == 0 || st.Rejected432 > 6 {
			t.Fatalf("%d 432 replies: want some, and no hammering (%+v)", st.Rejected432, st)
		}
		t.Logf("stats %+v", st)
	})
}

// runConcurrently sends per messages from each of callers goroutines and
// checks that each arrives exactly once.
func runConcurrently(t *testing.T, s *smtpx.Sender, per, callers int) {
	t.Helper()
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := range per {
				if err := send(t, s, fmt.Sprintf("c%d-%d", c, i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

func TestSenderRateLimitSharedByCallers(t *testing.T) {
	e := newEnv(t)
	clock := newFakeClock()
	start := clock.Now()
	e.mb.Limits.MessagesPerMinute = 30 // one every 2 s
	s := e.sender(t, smtpx.SenderOptions{Clock: clock})
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() { send(t, s, fmt.Sprint(i)) })
	}
	wg.Wait()
	// Six messages at one per 2 s span at least 10 s of the Sender's clock,
	// however the callers interleave; separate buckets would not wait.
	if got := clock.Now().Sub(start); got < 10*time.Second || got > 30*time.Second {
		t.Fatalf("six messages took %v of virtual time, want 10s to 30s", got)
	}
	if n := len(e.srv.Messages()); n != 6 {
		t.Fatalf("%d messages", n)
	}
}

func TestSenderRetriesTemporaryFailures(t *testing.T) {
	fast := smtpx.SenderOptions{RetryBackoff: retry.Backoff{Min: time.Millisecond, Max: 2 * time.Millisecond}}
	t.Run("4xx at RCPT for one recipient", func(t *testing.T) {
		e := newEnv(t)
		e.srv.FailRecipient("b@example.net", &gosmtp.SMTPError{Code: 450, EnhancedCode: gosmtp.EnhancedCode{4, 2, 1}, Message: "busy"})
		s := e.sender(t, fast)
		done := make(chan error)
		go func() { done <- send(t, s, "r", "a@example.net", "b@example.net") }()
		// After the first attempt, the fault goes away.
		for e.srv.Stats().Messages == 0 {
			time.Sleep(time.Millisecond)
		}
		e.srv.FailRecipient("b@example.net", nil)
		err := <-done
		msgs := e.srv.Messages()
		var tos []string
		for _, m := range msgs {
			tos = append(tos, m.To...)
		}
		if err == nil {
			// Retried for b only: a got it once.
			if !slices.Equal(tos, []string{"a@example.net", "b@example.net"}) {
				t.Fatalf("deliveries %q", tos)
			}
		} else {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("421 after the message, rewindable", func(t *testing.T) {
		e := newEnv(t)
		e.srv.SetRandomFaults(smtpxtest.RandomFaults{Reply421AfterData: 1})
		s := e.sender(t, fast)
		done := make(chan error)
		go func() { done <- send(t, s, "x") }()
		for e.srv.Stats().Closed421 == 0 {
			time.Sleep(time.Millisecond)
		}
		e.srv.SetRandomFaults(smtpxtest.RandomFaults{})
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := len(e.srv.Messages()); n != 1 {
			t.Fatalf("%d messages", n)
		}
	})
	t.Run("421 after the message, not rewindable", func(t *testing.T) {
		e := newEnv(t)
		e.srv.SetRandomFaults(smtpxtest.RandomFaults{Reply421AfterData: 1})
		s := e.sender(t, fast)
		err := recordErr(s.Send(context.Background(), smtpx.Envelope{To: []string{"a@example.net"}}, io.MultiReader(bytes.NewReader(message("nr")))))
		var se *smtpx.Error
		if !errors.As(err, &se) || se.Code != 421 || !smtpx.IsTemporary(err) {
			t.Fatalf("err = %v, want the temporary 421 back", err)
		}
		if st := e.srv.Stats(); st.Closed421 != 1 {
			t.Fatalf("%d attempts, want 1", st.Closed421)
		}
	})
	t.Run("dropped while the message is sent", func(t *testing.T) {
		e := newEnv(t, &smtpxtest.Options{NoBodies: true})
		e.opts.Debug = nil
		e.srv.DropDuringData(1)
		s := e.sender(t, fast)
		big := bytes.Repeat([]byte(bodyLine), 16<<20/len(bodyLine))
		if err := recordErr(s.Send(context.Background(), smtpx.Envelope{To: []string{"a@example.net"}}, bytes.NewReader(big))); err != nil {
			t.Fatal(err)
		}
		st := e.srv.Stats()
		if st.Dropped != 1 || st.Messages != 1 || st.Connections != 2 {
			t.Fatalf("stats %+v: want one drop, then the message once on a new connection", st)
		}
	})
	t.Run("dropped after the whole message: uncertain, never retried", func(t *testing.T) {
		e := newEnv(t)
		e.srv.DropDuringData(1)
		s := e.sender(t, fast)
		err := send(t, s, "u")
		var se *smtpx.Error
		if !errors.As(err, &se) || !se.Uncertain || smtpx.IsTemporary(err) {
			t.Fatalf("err = %v, want an uncertain, non-temporary error", err)
		}
		if st := e.srv.Stats(); st.Dropped != 1 || st.Messages != 0 || st.Connections != 1 {
			t.Fatalf("stats %+v: want no retry", st)
		}
	})
	t.Run("permanent failure is not retried", func(t *testing.T) {
		e := newEnv(t)
		e.srv.FailRecipient("a@example.net", &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
		s := e.sender(t, fast)
		if err := send(t, s, "p"); err == nil {
			t.Fatal("no error")
		}
		if n := e.srv.CommandCount("RCPT"); n != 1 {
			t.Fatalf("%d RCPT", n)
		}
	})
}

func TestSenderSplitsRecipients(t *testing.T) {
	e := newEnv(t)
	e.mb.Limits.MaxRecipients = 2
	s := e.sender(t, smtpx.SenderOptions{})
	to := []string{"a@example.net", "b@example.net", "c@example.net", "d@example.net", "e@example.net"}
	if err := send(t, s, "split", to...); err != nil {
		t.Fatal(err)
	}
	msgs := e.srv.Messages()
	var got []string
	for _, m := range msgs {
		if len(m.To) > 2 || !bytes.Equal(m.Data, message("split")) {
			t.Fatalf("transaction %+v", m)
		}
		got = append(got, m.To...)
	}
	if len(msgs) != 3 || !slices.Equal(got, to) {
		t.Fatalf("got %d transactions to %q", len(msgs), got)
	}
	// A reader that cannot be read twice is refused before connecting.
	before := e.srv.Stats().Connections
	err := recordErr(s.Send(context.Background(), smtpx.Envelope{To: to}, io.MultiReader(bytes.NewReader(message("x")))))
	if err == nil || e.srv.Stats().Messages != 3 || e.srv.Stats().Connections != before {
		t.Fatalf("err = %v", err)
	}
}

func TestSenderPartialFailureListsEachRecipient(t *testing.T) {
	e := newEnv(t)
	e.srv.FailRecipient("b@example.net", &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such user"})
	e.srv.FailRecipient("c@example.net", &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full"})
	s := e.sender(t, smtpx.SenderOptions{MaxRetries: 1, RetryBackoff: retry.Backoff{Min: time.Millisecond}})
	err := send(t, s, "pf", "a@example.net", "b@example.net", "c@example.net")
	var re *smtpx.RecipientsError
	if !errors.As(err, &re) || !slices.Equal(re.Delivered, []string{"a@example.net"}) || len(re.Rejected) != 2 {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"<b@example.net>: 550 5.1.1 No such user", "<c@example.net>: 452 4.2.2 Mailbox full"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	// c was retried once (temporary), b never; a got exactly one copy.
	if n := e.srv.CommandCount("RCPT"); n != 4 {
		t.Errorf("%d RCPT, want 4", n)
	}
	if n := len(e.srv.Messages()); n != 1 {
		t.Errorf("%d messages", n)
	}
}

func TestSenderCloseWaitsForSendsInFlight(t *testing.T) {
	e := newEnv(t)
	e.srv.SetDelay(50 * time.Millisecond)
	s := e.sender(t, smtpx.SenderOptions{})
	done := make(chan error, 1)
	go func() { done <- send(t, s, "inflight") }()
	for e.srv.Stats().Connections == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the send in flight failed: %v", err)
		}
	default:
		t.Fatal("Close returned before the send in flight finished")
	}
	if n := len(e.srv.Messages()); n != 1 {
		t.Fatalf("%d messages", n)
	}
	if n := e.srv.CommandCount("QUIT"); n != 1 {
		t.Errorf("%d QUIT", n)
	}
}

func TestSenderContextCancelsSend(t *testing.T) {
	e := newEnv(t)
	s := e.sender(t, smtpx.SenderOptions{})
	send(t, s, "warm")
	e.srv.SetDelay(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := recordErr(s.Send(ctx, smtpx.Envelope{To: []string{"a@example.net"}}, bytes.NewReader(message("c"))))
	if !errors.Is(err, context.DeadlineExceeded) || smtpx.IsTemporary(err) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
	e.srv.SetDelay(0)
	// The pool recovers with a new connection.
	if err := send(t, s, "after"); err != nil {
		t.Fatal(err)
	}
}

func TestSenderContextCancelsWaitForConnection(t *testing.T) {
	e := newEnv(t)
	e.srv.SetDelay(100 * time.Millisecond)
	s := e.sender(t, smtpx.SenderOptions{MaxConns: 1})
	go send(t, s, "holder")
	for e.srv.Stats().Connections == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := recordErr(s.Send(ctx, smtpx.Envelope{To: []string{"a@example.net"}}, bytes.NewReader(message("w"))))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if st := e.srv.Stats(); st.Connections != 1 {
		t.Fatalf("stats %+v", st)
	}
}
