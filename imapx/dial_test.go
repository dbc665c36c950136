package imapx_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/imapx"
	"github.com/mailoauth/mailoauth/imapx/imapxtest"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/providertest"
)

func TestDialAuthenticatesInEverySecurityMode(t *testing.T) {
	cases := []struct {
		name       string
		opts       *imapxtest.Options
		mech       auth.Mechanism
		wantInline int // AUTHENTICATE commands carrying the initial response
	}{
		{"implicit TLS, SASL-IR, XOAUTH2", nil, auth.XOAUTH2, 1},
		{"implicit TLS, SASL-IR, OAUTHBEARER", nil, auth.OAUTHBEARER, 1},
		{"implicit TLS, no SASL-IR", &imapxtest.Options{Security: provider.ImplicitTLS, NoSASLIR: true}, auth.XOAUTH2, 0},
		{"STARTTLS", &imapxtest.Options{Security: provider.StartTLS}, auth.XOAUTH2, 1},
		{"STARTTLS, no SASL-IR, OAUTHBEARER", &imapxtest.Options{Security: provider.StartTLS, NoSASLIR: true}, auth.OAUTHBEARER, 0},
		{"plaintext to loopback", &imapxtest.Options{Security: provider.Plaintext}, auth.XOAUTH2, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.opts)
			if _, err := srv.Deliver(user, "INBOX", message("1", "hello")); err != nil {
				t.Fatal(err)
			}
			mb := srv.Mailbox(user, nil)
			mb.Mechanism = tc.mech
			c, err := imapx.Dial(context.Background(), mb, &imapx.Options{TLSConfig: srv.TLSConfig()})
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.Close()
			sel, err := c.Select("INBOX", nil).Wait()
			if err != nil {
				t.Fatalf("SELECT after Dial: %v", err)
			}
			if sel.NumMessages != 1 {
				t.Errorf("INBOX has %d messages, want 1", sel.NumMessages)
			}
			if got := srv.Auths(); got != 1 {
				t.Errorf("server counted %d successful AUTHENTICATEs, want 1", got)
			}
			if got := srv.InlineResponses(); got != tc.wantInline {
				t.Errorf("%d AUTHENTICATE commands carried the response inline, want %d", got, tc.wantInline)
			}
			if err := c.Logout().Wait(); err != nil {
				t.Errorf("LOGOUT: %v", err)
			}
		})
	}
}

func TestDialRetriesOnceWithAFreshToken(t *testing.T) {
	for _, how := range []struct {
		name string
		f    imapxtest.AuthFailure
	}{{"JSON challenge then NO [AUTHENTICATIONFAILED]", imapxtest.FailWithChallenge}, {"Exchange's NO AUTHENTICATE failed.", imapxtest.FailLikeExchange}} {
		t.Run(how.name, func(t *testing.T) {
			srv := newServer(t, nil)
			ts := srv.TokenSource(user)
			srv.FailAuth(1, how.f)
			c, err := imapx.Dial(context.Background(), srv.Mailbox(user, ts), &imapx.Options{TLSConfig: srv.TLSConfig()})
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.Close()
			if got := ts.Requests(); got != 2 {
				t.Errorf("token source was asked for %d tokens, want exactly 2 (one extra after the refusal)", got)
			}
			if srv.AuthFailures() != 1 || srv.Auths() != 1 {
				t.Errorf("server saw %d failures and %d successes, want 1 and 1", srv.AuthFailures(), srv.Auths())
			}
			if srv.Connections() != 1 {
				t.Errorf("Dial opened %d connections, want 1: the server kept the first open", srv.Connections())
			}
		})
	}
}

func TestDialGivesUpAfterTheFreshTokenIsRefusedToo(t *testing.T) {
	srv := newServer(t, nil)
	ts := srv.TokenSource(user)
	srv.FailAuth(5, imapxtest.FailWithChallenge)
	_, err := imapx.Dial(context.Background(), srv.Mailbox(user, ts), &imapx.Options{TLSConfig: srv.TLSConfig()})
	if err == nil {
		t.Fatal("Dial succeeded although the server refuses every token")
	}
	if got := ts.Requests(); got != 2 {
		t.Errorf("token source was asked for %d tokens, want 2", got)
	}
	if got := srv.AuthAttempts(); got != 2 {
		t.Errorf("server saw %d AUTHENTICATE commands, want 2", got)
	}
	var ie *imapx.Error
	if !errors.As(err, &ie) || ie.Phase != imapx.PhaseAuth || !ie.Retried {
		t.Fatalf("error %v: want an *imapx.Error in PhaseAuth with Retried set", err)
	}
	if r := ie.Reply(); !r.Retried || r.Status != "NO" || r.Response != "AUTHENTICATIONFAILED" {
		t.Errorf("Reply() = %+v, want NO [AUTHENTICATIONFAILED] with Retried set for Diagnose", r)
	}
	var status *imap.Error
	if !errors.As(err, &status) || status.Code != imap.ResponseCodeAuthenticationFailed || status.Text != "Authentication failed" {
		t.Errorf("error %v: want the server's NO [AUTHENTICATIONFAILED] Authentication failed", err)
	}
	var ch *auth.ChallengeError
	if !errors.As(err, &ch) || ch.Status != "401" {
		t.Errorf("error %v: want the server's JSON challenge with status 401", err)
	}
	var d *provider.Diagnosis
	if !errors.As(err, &d) {
		t.Fatalf("error %v carries no *provider.Diagnosis", err)
	}
	// A fresh token refused too is no stale token: the scope, the
	// audience or the user name are wrong.
	if d.Kind != provider.Misconfigured || !strings.Contains(d.Fix, "scope") {
		t.Errorf("diagnosis %v, want %v with a fix about the scope requested", d, provider.Misconfigured)
	}
	if !strings.Contains(err.Error(), "Authentication failed") {
		t.Errorf("error text %q lacks the server's words", err)
	}
}

func TestDialDiagnosesExchangeRefusal(t *testing.T) {
	srv := newServer(t, &imapxtest.Options{Security: provider.ImplicitTLS, Mechanisms: []auth.Mechanism{auth.XOAUTH2}})
	srv.FailAuth(2, imapxtest.FailLikeExchange)
	_, err := imapx.Dial(context.Background(), srv.Mailbox(user, nil), &imapx.Options{TLSConfig: srv.TLSConfig()})
	var d *provider.Diagnosis
	if !errors.As(err, &d) {
		t.Fatalf("error %v carries no diagnosis", err)
	}
	if d.Kind != provider.Misconfigured || !strings.Contains(d.Summary, "Exchange") {
		t.Errorf("diagnosis %v: want Exchange's refused-fresh-token entry", d)
	}
}

func TestDialRefusesUnsafeConnections(t *testing.T) {
	srv := newServer(t, nil)
	base := srv.Mailbox(user, nil)
	cases := []struct {
		name    string
		mb      func() *provider.Mailbox
		tls     *tls.Config
		phase   imapx.Phase
		message string
	}{
		{
			name: "plaintext to a non-loopback address",
			mb: func() *provider.Mailbox {
				mb := *base
				mb.IMAP = provider.Server{Host: "192.0.2.1", Port: 143, Security: provider.Plaintext}
				return &mb
			},
			tls: srv.TLSConfig(), phase: imapx.PhaseConnect, message: "non-loopback",
		},
		{
			name: "InsecureSkipVerify",
			mb:   func() *provider.Mailbox { return base },
			tls:  &tls.Config{InsecureSkipVerify: true}, phase: imapx.PhaseTLS, message: "InsecureSkipVerify",
		},
		{
			name: "untrusted certificate",
			mb:   func() *provider.Mailbox { return base },
			tls:  nil, phase: imapx.PhaseTLS, message: "certificate",
		},
		{
			name: "certificate for another host name",
			mb:   func() *provider.Mailbox { return base },
			tls:  &tls.Config{RootCAs: srv.CertPool(), ServerName: "imap.example.com"}, phase: imapx.PhaseTLS, message: "imap.example.com",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.AuthAttempts()
			_, err := imapx.Dial(context.Background(), tc.mb(), &imapx.Options{TLSConfig: tc.tls})
			var ie *imapx.Error
			if !errors.As(err, &ie) || ie.Phase != tc.phase {
				t.Fatalf("Dial: %v, want an *imapx.Error in phase %s", err, tc.phase)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %q does not mention %q", err, tc.message)
			}
			if srv.AuthAttempts() != before {
				t.Error("a token was sent")
			}
		})
	}
}

func TestDialRequiresTLS12(t *testing.T) {
	srv := newServer(t, &imapxtest.Options{Security: provider.ImplicitTLS, EditTLS: func(c *tls.Config) {
		c.MinVersion = tls.VersionTLS10
		c.MaxVersion = tls.VersionTLS11
	}})
	_, err := imapx.Dial(context.Background(), srv.Mailbox(user, nil), &imapx.Options{TLSConfig: srv.TLSConfig()})
	var ie *imapx.Error
	if !errors.As(err, &ie) || ie.Phase != imapx.PhaseTLS {
		t.Fatalf("Dial to a TLS 1.1 server: %v, want a TLS phase error", err)
	}
	if srv.AuthAttempts() != 0 {
		t.Error("a token was sent")
	}
}

func TestDialRefusesAServerWithoutABearerMechanism(t *testing.T) {
	srv := newServer(t, &imapxtest.Options{Security: provider.ImplicitTLS, Mechanisms: []auth.Mechanism{"PLAIN"}})
	ts := srv.TokenSource(user)
	mb := srv.Mailbox(user, ts)
	mb.Mechanism = auth.OAUTHBEARER
	_, err := imapx.Dial(context.Background(), mb, &imapx.Options{TLSConfig: srv.TLSConfig()})
	if err == nil || !strings.Contains(err.Error(), "AUTH=OAUTHBEARER") || !strings.Contains(err.Error(), "XOAUTH2") || !strings.Contains(err.Error(), "PLAIN") {
		t.Fatalf("Dial: %v, want an error naming the missing and the offered mechanisms", err)
	}
	if ts.Requests() != 0 {
		t.Error("a token was requested for a server that cannot take it")
	}
}

func TestDialStopsWhenTheContextIsCancelled(t *testing.T) {
	srv := newServer(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := imapx.Dial(ctx, srv.Mailbox(user, nil), &imapx.Options{TLSConfig: srv.TLSConfig()})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial with a cancelled context: %v", err)
	}
}

func TestDialReportsThrottling(t *testing.T) {
	srv := newServer(t, nil)
	srv.Throttle(1, 1500*time.Millisecond)
	_, err := imapx.Dial(context.Background(), srv.Mailbox(user, nil), &imapx.Options{TLSConfig: srv.TLSConfig()})
	if err == nil {
		t.Fatal("Dial succeeded through a throttling reply")
	}
	var r provider.Replier
	if !errors.As(err, &r) || r.Reply().Wait != 1500*time.Millisecond {
		t.Errorf("the Reply of %v does not ask for the 1.5s wait", err)
	}
	var diag *provider.Diagnosis
	if !errors.As(err, &diag) || diag.Kind != provider.Transient {
		t.Errorf("diagnosis %v, want Transient", diag)
	}
}

// TestNoTokenInTranscriptsLogsOrErrors runs exchanges that put the token
// on the wire in every form (inline, after a continuation, refused with a
// challenge, refused for good) and looks for the token, raw and in base64
// at every alignment, in the debug transcript, the log and the errors.
func TestNoTokenInTranscriptsLogsOrErrors(t *testing.T) {
	for _, opts := range []*imapxtest.Options{nil, {Security: provider.ImplicitTLS, NoSASLIR: true}, {Security: provider.StartTLS}} {
		srv := newServer(t, opts)
		tokens := newRecordingTokens(srv.TokenSource(user))
		var transcript bytes.Buffer
		var logs logBuffer
		o := &imapx.Options{TLSConfig: srv.TLSConfig(), Debug: &transcript, Logger: logs.Logger()}

		srv.FailAuth(1, imapxtest.FailWithChallenge) // refused, then accepted
		c, err := imapx.Dial(context.Background(), srv.Mailbox(user, tokens), o)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		srv.FailAuth(2, imapxtest.FailWithChallenge) // refused twice: an error
		_, dialErr := imapx.Dial(context.Background(), srv.Mailbox(user, tokens), o)
		if dialErr == nil {
			t.Fatal("second Dial succeeded")
		}

		all := transcript.String() + logs.String() + dialErr.Error()
		if !strings.Contains(transcript.String(), "AUTHENTICATE XOAUTH2") || !strings.Contains(transcript.String(), "[redacted]") {
			t.Fatalf("transcript lacks the redacted AUTHENTICATE:\n%s", transcript.String())
		}
		if len(tokens.all()) < 3 {
			t.Fatalf("only %d tokens were used", len(tokens.all()))
		}
		for _, tok := range tokens.all() {
			ir := "user=" + user + "\x01auth=Bearer " + tok + "\x01\x01"
			forms := []string{tok, base64.StdEncoding.EncodeToString([]byte(ir))}
			for shift := 0; shift < 3; shift++ {
				b64 := base64.StdEncoding.EncodeToString(append(make([]byte, shift), tok...))
				forms = append(forms, b64[4:len(b64)-4])
			}
			for _, f := range forms {
				if strings.Contains(all, f) {
					t.Fatalf("token form %q appears in the output:\n%s", f, all)
				}
			}
		}
		// The answer to the XOAUTH2 error challenge is an empty line.
		if !strings.Contains(transcript.String(), "S: + eyJ") || !strings.Contains(transcript.String(), "\nC: \n") {
			t.Errorf("transcript does not show the challenge answered with an empty line:\n%s", transcript.String())
		}
	}
}

// ccSource fetches a new client-credentials token at each call: the cache
// is auth.Source's.
type ccSource struct {
	ctx context.Context
	cfg *clientcredentials.Config
}

func (s ccSource) Refresh(context.Context, *oauth2.Token) (*oauth2.Token, error) {
	return s.cfg.Token(s.ctx)
}

// TestDialWithProviderTokens runs Dial against tokens of the local identity
// provider, verified by its VerifySASL as Exchange would: a revoked token
// costs exactly one extra token request, and a mailbox the app may not open
// is refused with a diagnosis.
func TestDialWithProviderTokens(t *testing.T) {
	idp := providertest.New()
	defer idp.Close()
	idp.AddApp(providertest.App{ClientID: "helpdesk-app", Secret: "s3cret-value-for-tests",
		Roles: []string{"IMAP.AccessAsApp"}, Mailboxes: []string{user}})
	srv := newServer(t, &imapxtest.Options{Security: provider.ImplicitTLS, Verify: idp.VerifySASL})
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, idp.Client())
	src := auth.NewSource(ccSource{ctx: ctx, cfg: &clientcredentials.Config{
		ClientID: "helpdesk-app", ClientSecret: "s3cret-value-for-tests",
		TokenURL: idp.URL() + "/" + providertest.DefaultTenant + "/oauth2/v2.0/token",
		Scopes:   []string{"https://outlook.office365.com/.default"},
	}}, nil)
	opts := &imapx.Options{TLSConfig: srv.TLSConfig()}

	c, err := imapx.Dial(ctx, srv.Mailbox(user, src), opts)
	if err != nil {
		t.Fatalf("Dial with a fresh token: %v", err)
	}
	c.Close()
	tok, err := src.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	idp.RevokeToken(tok.AccessToken)
	c, err = imapx.Dial(ctx, srv.Mailbox(user, src), opts)
	if err != nil {
		t.Fatalf("Dial after the cached token was revoked: %v", err)
	}
	c.Close()
	if got := idp.Requests("client_credentials"); got != 2 {
		t.Errorf("%d token requests, want 2: one for the first token, exactly one after the refusal", got)
	}
	if srv.AuthFailures() != 1 || srv.Auths() != 2 {
		t.Errorf("server saw %d refusals and %d successes, want 1 and 2", srv.AuthFailures(), srv.Auths())
	}

	_, err = imapx.Dial(ctx, srv.Mailbox("ceo@example.com", src), opts)
	var d *provider.Diagnosis
	if err == nil || !errors.As(err, &d) {
		t.Fatalf("Dial to a mailbox the app may not open: %v, want a diagnosed refusal", err)
	}
}
