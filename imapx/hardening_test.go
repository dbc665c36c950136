package imapx_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/imapx"
	"github.com/mailoauth/mailoauth/imapx/imapxtest"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/retry"
)

// secretForms returns what a server echoing the AUTHENTICATE payload of tok
// may put in its reply: the token, the XOAUTH2 and OAUTHBEARER responses
// raw and in base64, and the token's base64 at every alignment.
func secretForms(tok string) []string {
	forms := []string{tok}
	for _, ir := range []string{
		"user=" + user + "\x01auth=Bearer " + tok + "\x01\x01",
		"n,a=" + user + ",\x01auth=Bearer " + tok + "\x01\x01",
	} {
		forms = append(forms, ir, base64.StdEncoding.EncodeToString([]byte(ir)))
	}
	for shift := 0; shift < 3; shift++ {
		b64 := base64.StdEncoding.EncodeToString(append(make([]byte, shift), tok...))
		forms = append(forms, b64[4:len(b64)-4])
	}
	return forms
}

// leaks returns the forms of the tokens found in text.
func leaks(text string, tokens []string) []string {
	var found []string
	for _, tok := range tokens {
		for _, f := range secretForms(tok) {
			if strings.Contains(text, f) {
				found = append(found, f)
			}
		}
	}
	return found
}

// TestNoEchoedSecretInErrorsLogsOrDiagnosis runs AUTHENTICATE against a
// server whose NO and BAD replies quote the client's response (raw, decoded
// and the bare token), with both mechanisms, the response inline (SASL-IR)
// and after a continuation. No form of any token may reach the error text,
// %+v, the server's status response as errors.As finds it, the Reply
// Diagnose reads, the Diagnosis, or the Mailgate's log.
func TestNoEchoedSecretInErrorsLogsOrDiagnosis(t *testing.T) {
	for _, how := range []imapxtest.AuthFailure{imapxtest.FailEchoing, imapxtest.FailEchoingBad} {
		for _, mech := range []auth.Mechanism{auth.XOAUTH2, auth.OAUTHBEARER} {
			for _, noIR := range []bool{false, true} {
				name := fmt.Sprintf("%s/%s/no SASL-IR=%v", map[imapxtest.AuthFailure]string{imapxtest.FailEchoing: "NO", imapxtest.FailEchoingBad: "BAD"}[how], mech, noIR)
				t.Run(name, func(t *testing.T) {
					srv := newServer(t, &imapxtest.Options{Security: provider.ImplicitTLS, NoSASLIR: noIR})
					tokens := newRecordingTokens(srv.TokenSource(user))
					mb := srv.Mailbox(user, tokens)
					mb.Mechanism = mech
					srv.FailAuth(2, how)
					_, err := imapx.Dial(context.Background(), mb, &imapx.Options{TLSConfig: srv.TLSConfig()})
					if err == nil {
						t.Fatal("Dial succeeded against a server refusing every token")
					}
					if len(tokens.all()) == 0 {
						t.Fatal("no token was used")
					}
					outputs := map[string]string{"Error()": err.Error(), "%+v": fmt.Sprintf("%+v", err)}
					var ie *imap.Error
					if errors.As(err, &ie) {
						outputs["imap.Error.Text"] = ie.Text
					}
					var r provider.Replier
					if errors.As(err, &r) {
						outputs["Reply().Text"] = r.Reply().Text
					}
					if d := provider.Diagnose(err); d != nil {
						outputs["Diagnosis"] = d.Error()
					}
					if !strings.Contains(err.Error(), "Invalid credentials") {
						t.Errorf("the server's words are gone from the error: %v", err)
					}
					for what, text := range outputs {
						if l := leaks(text, tokens.all()); len(l) > 0 {
							t.Errorf("%s holds %q:\n%s", what, l, text)
						}
					}

					// The same refusals seen by a Mailgate, which logs them.
					var logs logBuffer
					srv.FailAuth(2, how)
					g := imapx.NewMailgate(mb, fast(srv, &logs), newRecorder().handle)
					stop := run(t, g)
					eventually(t, 10*time.Second, "the refusal logged", func() bool { return strings.Contains(logs.String(), "Invalid credentials") })
					stop()
					if l := leaks(logs.String(), tokens.all()); len(l) > 0 {
						t.Errorf("the log holds %q:\n%s", l, logs.String())
					}
				})
			}
		}
	}
}

// TestDialFallsBackToTheOtherBearerMechanism applies the rule smtpx
// applies: the mailbox's mechanism when the server offers it, else the
// other bearer mechanism when the server offers that.
func TestDialFallsBackToTheOtherBearerMechanism(t *testing.T) {
	cases := []struct {
		offered []auth.Mechanism
		mailbox auth.Mechanism
		want    string // the AUTHENTICATE sent
	}{
		{[]auth.Mechanism{auth.OAUTHBEARER}, "", "AUTHENTICATE OAUTHBEARER"},
		{[]auth.Mechanism{auth.OAUTHBEARER}, auth.XOAUTH2, "AUTHENTICATE OAUTHBEARER"},
		{[]auth.Mechanism{auth.XOAUTH2}, auth.OAUTHBEARER, "AUTHENTICATE XOAUTH2"},
		{[]auth.Mechanism{auth.XOAUTH2, auth.OAUTHBEARER}, auth.OAUTHBEARER, "AUTHENTICATE OAUTHBEARER"},
		{[]auth.Mechanism{auth.OAUTHBEARER, auth.XOAUTH2}, "", "AUTHENTICATE XOAUTH2"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%v offered, mailbox %q", tc.offered, tc.mailbox), func(t *testing.T) {
			srv := newServer(t, &imapxtest.Options{Security: provider.ImplicitTLS, Mechanisms: tc.offered})
			mb := srv.Mailbox(user, nil)
			mb.Mechanism = tc.mailbox
			var transcript logBuffer
			c, err := imapx.Dial(context.Background(), mb, &imapx.Options{TLSConfig: srv.TLSConfig(), Debug: &transcript})
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			c.Close()
			if !strings.Contains(transcript.String(), tc.want) {
				t.Errorf("transcript lacks %q:\n%s", tc.want, transcript.String())
			}
		})
	}
}

// TestMailgateDiagnosesTheByeThatEndedASession: a BYE that ends a session
// reaches provider.Diagnose through the error's Reply (Status BYE and the
// response code in brackets), so the log names the catalogue's cause.
func TestMailgateDiagnosesTheByeThatEndedASession(t *testing.T) {
	srv := newServer(t, nil)
	srv.ByeDuringIdle("[WEBALERT https://accounts.google.com/signin/continue] Web login required.")
	var logs logBuffer
	run(t, imapx.NewMailgate(srv.Mailbox(user, nil), fast(srv, &logs), newRecorder().handle))
	eventually(t, 10*time.Second, "a second session idling", func() bool { return srv.Idles() >= 2 })
	eventually(t, 10*time.Second, "the end of the first session logged", func() bool {
		return strings.Contains(logs.String(), "session ended")
	})
	if !strings.Contains(logs.String(), "sign in with a browser") {
		t.Errorf("the BYE's diagnosis (Gmail wants a browser sign-in) is not in the log:\n%s", logs.String())
	}
}

// TestMailgateCopyFallbackDoesNotCopyAgainAfterALostReply: without MOVE, a
// COPY that took effect but whose reply was lost must not be repeated by
// the next session (with UIDPLUS and without).
func TestMailgateCopyFallbackDoesNotCopyAgainAfterALostReply(t *testing.T) {
	for _, noUIDPlus := range []bool{false, true} {
		t.Run(fmt.Sprintf("no UIDPLUS=%v", noUIDPlus), func(t *testing.T) {
			srv := newServer(t, &imapxtest.Options{Security: provider.ImplicitTLS, NoMove: true, NoUIDPlus: noUIDPlus})
			srv.CreateFolder(user, "Archive")
			for i := 1; i <= 3; i++ {
				srv.Deliver(user, "INBOX", message(fmt.Sprint(i), "body"))
			}
			srv.LoseReplies("UID COPY", 1)
			rec := newRecorder()
			opts := fast(srv, nil)
			opts.After, opts.MoveTo = imapx.Move, "Archive"
			stop := run(t, imapx.NewMailgate(srv.Mailbox(user, nil), opts, rec.handle))
			eventually(t, 10*time.Second, "3 messages handled", func() bool { return rec.succeeded() == 3 })
			eventually(t, 10*time.Second, "no message left undeleted in INBOX", inboxSettled(t, srv))
			stop()
			if srv.Connections() < 2 {
				t.Fatalf("%d connections: the lost reply did not end a session", srv.Connections())
			}
			archive := ids(mustMessages(t, srv, "Archive"))
			for i := 1; i <= 3; i++ {
				if n := archive[fmt.Sprint(i)]; n != 1 {
					t.Errorf("Archive holds message %d %d times, want once", i, n)
				}
			}
		})
	}
}

// TestMailgateCopyFallbackMovesEachMessageOnceUnderDrops: 300 messages
// moved without MOVE while 20 % of the commands drop their connection
// (before the command, or somewhere in its reply): every message handled
// once, in MoveTo exactly once, none lost.
func TestMailgateCopyFallbackMovesEachMessageOnceUnderDrops(t *testing.T) {
	for _, noUIDPlus := range []bool{false, true} {
		t.Run(fmt.Sprintf("no UIDPLUS=%v", noUIDPlus), func(t *testing.T) {
			const n = 300
			srv := newServer(t, &imapxtest.Options{Security: provider.ImplicitTLS, NoMove: true, NoUIDPlus: noUIDPlus})
			srv.CreateFolder(user, "Archive")
			rec := newRecorder()
			opts := fast(srv, nil)
			opts.After, opts.MoveTo = imapx.Move, "Archive"
			opts.ReconnectBackoff = retry.Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond}
			srv.DropRandomly(0.2, 20261201)
			stop := run(t, imapx.NewMailgate(srv.Mailbox(user, nil), opts, rec.handle))
			deliverWhileRunning(t, srv, n, 3, 5*time.Millisecond)
			eventually(t, 90*time.Second, "every message handled", func() bool { return rec.succeeded() == n })
			eventually(t, 30*time.Second, "every message removed from INBOX", inboxSettled(t, srv))
			stop()
			srv.DropRandomly(0, 0)
			archive := ids(mustMessages(t, srv, "Archive"))
			var twice, lost int
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for i := 0; i < n; i++ {
				id := fmt.Sprint(i)
				switch archive[id] {
				case 0:
					lost++
				case 1:
				default:
					twice++
				}
				if rec.ok[id] != 1 {
					t.Errorf("message %s succeeded %d times in the handler, want once", id, rec.ok[id])
				}
			}
			t.Logf("%d messages, %d connections, %d drops: %d twice in Archive, %d missing", n, srv.Connections(), srv.Drops(), twice, lost)
			if twice != 0 || lost != 0 {
				t.Errorf("%d messages are in Archive more than once and %d are missing, want 0 and 0", twice, lost)
			}
			if srv.Drops() < 20 {
				t.Errorf("only %d drops: the faults did not bite", srv.Drops())
			}
		})
	}
}

// TestMailgateWaitsAfterAThrottledAction: Exchange answers the STORE after
// a FETCH with its throttling reply and closes the connection. The session
// ends on the closed connection, and the wait the server asked for still
// reaches the reconnection, from the reply seen on the wire.
func TestMailgateWaitsAfterAThrottledAction(t *testing.T) {
	srv := newServer(t, nil)
	srv.Deliver(user, "INBOX", message("1", "body"))
	const suggested = 300 * time.Millisecond
	var armed sync.Once
	rec := newRecorder()
	var logs logBuffer
	g := imapx.NewMailgate(srv.Mailbox(user, nil), fast(srv, &logs), func(ctx context.Context, m *imapx.Message) error {
		armed.Do(func() { srv.Throttle(1, suggested) }) // the command after the FETCH: the STORE
		return rec.handle(ctx, m)
	})
	run(t, g)
	eventually(t, 10*time.Second, "the message marked after the throttling", func() bool {
		msgs := mustMessages(t, srv, "INBOX")
		return len(msgs) == 1 && msgs[0].HasFlag(imap.FlagSeen)
	})
	if srv.Throttled() != 1 {
		t.Fatalf("%d throttling replies, want 1", srv.Throttled())
	}
	if !strings.Contains(logs.String(), `"wait":300000000`) {
		t.Errorf("the reconnection did not wait the 300ms the server asked for:\n%s", logs.String())
	}
	if rec.callsOf("1") != 1 {
		t.Errorf("the message was handled %d times, want once", rec.callsOf("1"))
	}
}

// TestMailgateExpungesAfterALostReply: with Delete (and with the move
// fallback) a STORE \Deleted whose reply was lost leaves the messages
// flagged; the next session expunges them, exactly those.
func TestMailgateExpungesAfterALostReply(t *testing.T) {
	for _, lose := range []string{"UID STORE", "UID EXPUNGE"} {
		t.Run(lose, func(t *testing.T) {
			srv := newServer(t, nil)
			foreign, _ := srv.Deliver(user, "INBOX", message("foreign", "deleted by a person"))
			if err := srv.SetFlags(user, "INBOX", foreign, imap.FlagDeleted); err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 3; i++ {
				srv.Deliver(user, "INBOX", message(fmt.Sprint(i), "body"))
			}
			srv.LoseReplies(lose, 1)
			rec := newRecorder()
			opts := fast(srv, nil)
			opts.After = imapx.Delete
			run(t, imapx.NewMailgate(srv.Mailbox(user, nil), opts, rec.handle))
			eventually(t, 10*time.Second, "the 3 messages expunged", func() bool { return len(mustMessages(t, srv, "INBOX")) == 1 })
			if got := ids(mustMessages(t, srv, "INBOX")); got["foreign"] != 1 {
				t.Errorf("INBOX holds %v, want someone else's \\Deleted message kept", got)
			}
			if srv.Drops() != 1 {
				t.Errorf("%d drops, want the one lost reply", srv.Drops())
			}
			for i := 1; i <= 3; i++ {
				if n := rec.callsOf(fmt.Sprint(i)); n != 1 {
					t.Errorf("message %d handled %d times, want once", i, n)
				}
			}
		})
	}
}
