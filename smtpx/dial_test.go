package smtpx_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/smtpx"
	"github.com/mailoauth/mailoauth/smtpx/smtpxtest"
)

func TestDialSTARTTLSAuthenticatesAndSends(t *testing.T) {
	e := newEnv(t)
	e.opts.LocalName = "client.example.test"
	c := e.dial(t)
	if err := c.Send(context.Background(), "", []string{"a@example.net"}, bytes.NewReader(message("m1"))); err != nil {
		t.Fatal(recordErr(err))
	}
	msgs := e.srv.Messages()
	if len(msgs) != 1 || msgs[0].From != testAddress || !slices.Equal(msgs[0].To, []string{"a@example.net"}) ||
		msgs[0].User != testAddress || !bytes.Equal(msgs[0].Data, message("m1")) {
		t.Fatalf("server got %+v", msgs)
	}
	cmds := commands(e.srv)
	tls := slices.Index(cmds, "STARTTLS")
	authAt := slices.IndexFunc(cmds, func(s string) bool { return strings.HasPrefix(s, "AUTH ") })
	if tls < 0 || authAt < tls {
		t.Fatalf("AUTH not after STARTTLS: %q", cmds)
	}
	if !slices.Contains(cmds, "EHLO client.example.test") {
		t.Errorf("no EHLO with the configured name after TLS: %q", cmds)
	}
	if cmds[authAt] != "AUTH XOAUTH2 [redacted]" {
		t.Errorf("AUTH = %q, want XOAUTH2 with an initial response", cmds[authAt])
	}
}

func TestDialImplicitTLS(t *testing.T) {
	e := newEnv(t, &smtpxtest.Options{Security: provider.ImplicitTLS})
	c := e.dial(t)
	if err := c.Send(context.Background(), "", []string{"a@example.net"}, bytes.NewReader(message("m1"))); err != nil {
		t.Fatal(recordErr(err))
	}
	if n := len(e.srv.Messages()); n != 1 {
		t.Fatalf("%d messages", n)
	}
	if slices.Contains(commands(e.srv), "STARTTLS") {
		t.Error("STARTTLS on an implicit TLS connection")
	}
}

func TestPlaintextOnlyToLoopback(t *testing.T) {
	e := newEnv(t, &smtpxtest.Options{Security: provider.Plaintext})
	e.mb.SMTP.Security = provider.Plaintext
	c := e.dial(t)
	if err := c.Send(context.Background(), "", []string{"a@example.net"}, bytes.NewReader(message("p"))); err != nil {
		t.Fatal(recordErr(err))
	}

	far := *e.mb
	far.SMTP.Host = "192.0.2.1" // TEST-NET-1: not loopback
	_, err := smtpx.Dial(context.Background(), &far, &e.opts)
	var se *smtpx.Error
	if !errors.As(recordErr(err), &se) || se.Phase != smtpx.PhaseConnect || !strings.Contains(se.Message, "loopback") {
		t.Fatalf("err = %v, want a refusal of plaintext to a remote address", err)
	}
}

func TestDialRefusesCertificateForAnotherHost(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  *smtpxtest.Options
	}{{"starttls", nil}, {"implicit", &smtpxtest.Options{Security: provider.ImplicitTLS}}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opt)
			e.opts.TLSConfig.ServerName = "smtp.example.com"
			_, err := smtpx.Dial(context.Background(), e.mb, &e.opts)
			var se *smtpx.Error
			var hn x509.HostnameError
			if !errors.As(recordErr(err), &se) || se.Phase != smtpx.PhaseTLS || se.Temporary || !errors.As(err, &hn) {
				t.Fatalf("err = %v, want a permanent TLS error about the host name", err)
			}
			if n := e.srv.CommandCount("AUTH"); n != 0 {
				t.Fatalf("the server saw %d AUTH commands", n)
			}
		})
	}
}

func TestDialRetriesRefusedTokenOnceWithFreshToken(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  *smtpxtest.Options
	}{{"error challenge", nil}, {"bare 535", &smtpxtest.Options{NoErrorChallenge: true}}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opt)
			e.srv.RejectAuth(1)
			c := e.dial(t)
			if n := e.tokens.Requests(); n != 2 {
				t.Fatalf("%d token requests, want exactly 2", n)
			}
			st := e.srv.Stats()
			if st.AuthFailures != 1 || st.Auths != 1 || st.Connections != 1 {
				t.Fatalf("server stats %+v, want one failure and one success on one connection", st)
			}
			if err := c.Send(context.Background(), "", []string{"a@example.net"}, bytes.NewReader(message("r"))); err != nil {
				t.Fatal(recordErr(err))
			}
		})
	}
}

func TestDialErrorAfterSecondRefusal(t *testing.T) {
	e := newEnv(t)
	e.srv.RejectAuth(2)
	_, err := smtpx.Dial(context.Background(), e.mb, &e.opts)
	recordErr(err)
	var se *smtpx.Error
	if !errors.As(err, &se) || se.Phase != smtpx.PhaseAuth || se.Code != 535 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 8}) || se.Temporary {
		t.Fatalf("err = %#v, want a permanent auth error with 535 5.7.8", err)
	}
	var ce *auth.ChallengeError
	if !errors.As(err, &ce) || ce.Status != "401" {
		t.Fatalf("no *auth.ChallengeError with status 401 in %v", err)
	}
	var smtpErr *smtp.SMTPError
	if !errors.As(err, &smtpErr) || smtpErr.Code != 535 {
		t.Fatalf("no *smtp.SMTPError in %v", err)
	}
	if n := e.tokens.Requests(); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}
	if smtpx.IsTemporary(err) {
		t.Error("IsTemporary = true")
	}
	// The second refusal was of a fresh token: the error says so, and its
	// diagnosis is no stale token but what to check of the token instead.
	if !se.Retried || !se.Reply().Retried || !strings.Contains(err.Error(), "a fresh token was refused too") {
		t.Errorf("err = %v (Retried %v, Reply().Retried %v), want it marked as the refusal of a fresh token", err, se.Retried, se.Reply().Retried)
	}
	if d := provider.Diagnose(err); d == nil || d.Kind != provider.Misconfigured || !strings.Contains(d.Fix, "scope") {
		t.Errorf("diagnosis %v, want misconfigured with a fix about the scope requested", d)
	}
}

// When the fresh token is refused too, the error says so, for Diagnose: the
// cause is the grant or the configuration, not a stale token. A source that
// hands out the same token again did not refresh it, and the error does not
// claim it did.
func TestDialReportsThatTheFreshTokenWasRefusedToo(t *testing.T) {
	for _, tc := range []struct {
		name        string
		opt         *smtpxtest.Options
		sameToken   bool
		wantRetried bool
	}{
		{"error challenge", nil, false, true},
		{"bare 535", &smtpxtest.Options{NoErrorChallenge: true}, false, true},
		{"source without refresh", nil, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opt)
			if tc.sameToken {
				tok, err := e.tokens.Token(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				e.mb.Tokens = staticTokens{tok} // a source that cannot refresh
			}
			for what, send := range map[string]func() error{
				"Dial": func() error { _, err := smtpx.Dial(context.Background(), e.mb, &e.opts); return err },
				"Sender.Send": func() error {
					s := e.sender(t, smtpx.SenderOptions{})
					return s.Send(context.Background(), smtpx.Envelope{To: []string{"a@example.net"}}, bytes.NewReader(message("r")))
				},
			} {
				e.srv.RejectAuth(2)
				err := recordErr(send())
				var r provider.Replier
				if !errors.As(err, &r) || r.Reply().Code != 535 {
					t.Fatalf("%s: %v, want a 535 reply", what, err)
				}
				if got := r.Reply().Retried; got != tc.wantRetried {
					t.Errorf("%s: Reply().Retried = %v, want %v (%v)", what, got, tc.wantRetried, err)
				}
				if got := strings.Contains(err.Error(), "a fresh token was refused too"); got != tc.wantRetried {
					t.Errorf("%s: %q: says a fresh token was refused: %v, want %v", what, err, got, tc.wantRetried)
				}
			}
		})
	}
}

func TestInitialResponseOrTwoStep(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tokenSize int
		mode      smtpx.InitialResponse
		wantIR    bool
	}{
		{"short token inline", 48, smtpx.InitialResponseAuto, true},
		{"long token two-step", 600, smtpx.InitialResponseAuto, false},
		{"forced two-step", 48, smtpx.InitialResponseNever, false},
		{"forced inline", 600, smtpx.InitialResponseAlways, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.tokens.size = tc.tokenSize
			e.opts.InitialResponse = tc.mode
			e.dial(t)
			want := "AUTH XOAUTH2"
			if tc.wantIR {
				want += " [redacted]"
			}
			if !slices.Contains(commands(e.srv), want) {
				t.Fatalf("no %q in %q", want, commands(e.srv))
			}
			if st := e.srv.Stats(); st.Auths != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestMechanismChoice(t *testing.T) {
	for _, tc := range []struct {
		name    string
		offered []auth.Mechanism
		mailbox auth.Mechanism
		want    string // "" : refused before AUTH
	}{
		{"default prefers XOAUTH2", []auth.Mechanism{auth.OAUTHBEARER, auth.XOAUTH2}, "", "AUTH XOAUTH2"},
		{"OAUTHBEARER when XOAUTH2 is not offered", []auth.Mechanism{auth.OAUTHBEARER}, "", "AUTH OAUTHBEARER"},
		{"mailbox asks OAUTHBEARER", []auth.Mechanism{auth.XOAUTH2, auth.OAUTHBEARER}, auth.OAUTHBEARER, "AUTH OAUTHBEARER"},
		{"XOAUTH2 when OAUTHBEARER is not offered", []auth.Mechanism{auth.XOAUTH2}, auth.OAUTHBEARER, "AUTH XOAUTH2"},
		{"neither offered", []auth.Mechanism{"PLAIN"}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, &smtpxtest.Options{Mechanisms: tc.offered})
			e.mb.Mechanism = tc.mailbox
			c, err := smtpx.Dial(context.Background(), e.mb, &e.opts)
			if tc.want == "" {
				var se *smtpx.Error
				if !errors.As(recordErr(err), &se) || se.Phase != smtpx.PhaseAuth {
					t.Fatalf("err = %v, want an auth-phase refusal", err)
				}
				if n := e.srv.CommandCount("AUTH"); n != 0 {
					t.Fatalf("%d AUTH commands sent", n)
				}
				return
			}
			if err != nil {
				t.Fatal(recordErr(err))
			}
			defer c.Close()
			if !slices.Contains(commands(e.srv), tc.want+" [redacted]") {
				t.Fatalf("want %q in %q", tc.want, commands(e.srv))
			}
		})
	}
}

func TestDebugTranscriptRedactsAuth(t *testing.T) {
	for _, mode := range []smtpx.InitialResponse{smtpx.InitialResponseAlways, smtpx.InitialResponseNever} {
		e := newEnv(t)
		e.srv.RejectAuth(1) // the error challenge and the retry are in the transcript too
		e.opts.InitialResponse = mode
		c := e.dial(t)
		if err := c.Send(context.Background(), "", []string{"a@example.net"}, bytes.NewReader(message("d"))); err != nil {
			t.Fatal(recordErr(err))
		}
		c.Close()
		tr := e.debug.String()
		for _, want := range []string{"C: STARTTLS", "S: 235 ", "C: MAIL FROM:<notify@example.com>", "C: QUIT"} {
			if !strings.Contains(tr, want) {
				t.Errorf("transcript lacks %q:\n%s", want, tr)
			}
		}
		wantAuth := "C: AUTH XOAUTH2 [redacted]"
		if mode == smtpx.InitialResponseNever {
			wantAuth = "C: [redacted]"
		}
		if !strings.Contains(tr, wantAuth) {
			t.Errorf("transcript lacks %q:\n%s", wantAuth, tr)
		}
		for _, tok := range e.tokens.Issued() {
			for _, form := range encodedForms(tok) {
				if strings.Contains(tr, form) {
					t.Fatalf("transcript contains a form of the token:\n%s", tr)
				}
			}
		}
	}
}
