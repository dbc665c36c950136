package imapxtest_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/imapx/imapxtest"
	"github.com/mailoauth/mailoauth/provider"
)

const user = "alice@example.com"

// dial connects with go-imap's client over implicit TLS.
func dial(t *testing.T, srv *imapxtest.Server, h *imapclient.UnilateralDataHandler) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialTLS(srv.Addr(), &imapclient.Options{TLSConfig: srv.TLSConfig(), UnilateralDataHandler: h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// login authenticates c with a token the server issued.
func login(t *testing.T, srv *imapxtest.Server, c *imapclient.Client) {
	t.Helper()
	if err := c.Authenticate(auth.NewClient(auth.XOAUTH2, user, srv.IssueToken(user).AccessToken)); err != nil {
		t.Fatal(err)
	}
}

func TestCapabilitiesFollowTheOptions(t *testing.T) {
	cases := []struct {
		name    string
		opts    *imapxtest.Options
		absent  []imap.Cap
		present []imap.Cap
	}{
		{"defaults", &imapxtest.Options{Security: provider.ImplicitTLS}, nil, []imap.Cap{imap.CapSASLIR, imap.CapIdle, imap.CapMove, imap.CapUIDPlus, "AUTH=XOAUTH2", "AUTH=OAUTHBEARER"}},
		{"without", &imapxtest.Options{Security: provider.ImplicitTLS, NoSASLIR: true, NoIdle: true, NoMove: true, NoUIDPlus: true, Mechanisms: []auth.Mechanism{auth.XOAUTH2}},
			[]imap.Cap{imap.CapSASLIR, imap.CapIdle, imap.CapMove, imap.CapUIDPlus, "AUTH=OAUTHBEARER"}, []imap.Cap{"AUTH=XOAUTH2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := imapxtest.New(tc.opts)
			defer srv.Close()
			c := dial(t, srv, nil)
			before := c.Caps() // before authentication: the mechanisms
			login(t, srv, c)
			caps, err := c.Capability().Wait()
			if err != nil {
				t.Fatal(err)
			}
			for k := range before {
				caps[k] = struct{}{}
			}
			for _, cp := range tc.absent {
				if _, ok := caps[cp]; ok {
					t.Errorf("%s advertised", cp)
				}
			}
			for _, cp := range tc.present {
				if _, ok := caps[cp]; !ok {
					t.Errorf("%s not advertised", cp)
				}
			}
		})
	}
}

func TestStartTLSHidesAuthenticationUntilTLS(t *testing.T) {
	srv := imapxtest.New(&imapxtest.Options{Security: provider.StartTLS})
	defer srv.Close()
	// In clear: STARTTLS and LOGINDISABLED, no AUTH=, AUTHENTICATE refused.
	c, err := imapclient.DialInsecure(srv.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	caps := c.Caps()
	if !caps.Has(imap.CapStartTLS) || !caps.Has(imap.CapLoginDisabled) || len(caps.AuthMechanisms()) != 0 {
		t.Errorf("capabilities in clear: %v", caps)
	}
	err = c.Authenticate(auth.NewClient(auth.XOAUTH2, user, srv.IssueToken(user).AccessToken))
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Code != imap.ResponseCodePrivacyRequired {
		t.Errorf("AUTHENTICATE in clear: %v, want NO [PRIVACYREQUIRED]", err)
	}
	if srv.Auths() != 0 {
		t.Error("the server accepted a token in clear")
	}
	// go-imap's own STARTTLS works too.
	tc, err := imapclient.DialStartTLS(srv.Addr(), &imapclient.Options{TLSConfig: srv.TLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if err := tc.Authenticate(auth.NewClient(auth.OAUTHBEARER, user, srv.IssueToken(user).AccessToken)); err != nil {
		t.Fatalf("AUTHENTICATE after STARTTLS: %v", err)
	}
}

func TestTokensAreVerified(t *testing.T) {
	srv := imapxtest.New(&imapxtest.Options{Security: provider.ImplicitTLS})
	defer srv.Close()
	tok := srv.IssueToken(user).AccessToken
	cases := []struct {
		name, user, token string
	}{
		{"unknown token", user, "not-a-token-of-this-server"},
		{"someone else's token", "bob@example.com", tok},
	}
	for _, tc := range cases {
		c := dial(t, srv, nil)
		err := c.Authenticate(auth.NewClient(auth.XOAUTH2, tc.user, tc.token))
		var ie *imap.Error
		if !errors.As(err, &ie) || ie.Code != imap.ResponseCodeAuthenticationFailed {
			t.Errorf("%s: %v, want NO [AUTHENTICATIONFAILED]", tc.name, err)
		}
	}
	srv.RevokeToken(tok)
	c := dial(t, srv, nil)
	if err := c.Authenticate(auth.NewClient(auth.XOAUTH2, user, tok)); err == nil {
		t.Error("a revoked token was accepted")
	}
	if c := dial(t, srv, nil); c.Login(user, "password").Wait() == nil {
		t.Error("LOGIN was accepted")
	}
	if srv.Auths() != 0 || srv.AuthFailures() != 3 {
		t.Errorf("%d successes and %d failures counted, want 0 and 3", srv.Auths(), srv.AuthFailures())
	}
}

func TestVerifyOption(t *testing.T) {
	srv := imapxtest.New(&imapxtest.Options{Security: provider.ImplicitTLS, Verify: func(username, token string) error {
		if token != "letmein-token" {
			return errors.New("no")
		}
		return nil
	}})
	defer srv.Close()
	c := dial(t, srv, nil)
	if err := c.Authenticate(auth.NewClient(auth.XOAUTH2, user, "letmein-token")); err != nil {
		t.Fatalf("the verify function's token was refused: %v", err)
	}
	if c := dial(t, srv, nil); c.Authenticate(auth.NewClient(auth.XOAUTH2, user, srv.IssueToken(user).AccessToken)) == nil {
		t.Error("an issued token passed a verify function that refuses it")
	}
}

func TestFailAuth(t *testing.T) {
	srv := imapxtest.New(&imapxtest.Options{Security: provider.ImplicitTLS})
	defer srv.Close()
	srv.FailAuth(1, imapxtest.FailWithChallenge)
	c := dial(t, srv, nil)
	sc := auth.NewClient(auth.XOAUTH2, user, srv.IssueToken(user).AccessToken)
	err := c.Authenticate(sc)
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Code != imap.ResponseCodeAuthenticationFailed || auth.Challenge(sc) == nil {
		t.Errorf("forced failure with challenge: %v (challenge %v)", err, auth.Challenge(sc))
	}
	srv.FailAuth(1, imapxtest.FailLikeExchange)
	sc = auth.NewClient(auth.XOAUTH2, user, srv.IssueToken(user).AccessToken)
	err = c.Authenticate(sc)
	if !errors.As(err, &ie) || ie.Code != "" || ie.Text != "AUTHENTICATE failed." || auth.Challenge(sc) != nil {
		t.Errorf("forced Exchange failure: %v", err)
	}
	for _, how := range []imapxtest.AuthFailure{imapxtest.FailEchoing, imapxtest.FailEchoingBad} {
		srv.FailAuth(1, how)
		tok := srv.IssueToken(user).AccessToken
		err = c.Authenticate(auth.NewClient(auth.XOAUTH2, user, tok))
		want := imap.StatusResponseTypeNo
		if how == imapxtest.FailEchoingBad {
			want = imap.StatusResponseTypeBad
		}
		ir := "user=" + user + "\x01auth=Bearer " + tok + "\x01\x01"
		if !errors.As(err, &ie) || ie.Type != want || !strings.Contains(ie.Text, base64.StdEncoding.EncodeToString([]byte(ir))) ||
			!strings.Contains(ie.Text, ir) || !strings.Contains(ie.Text, "token "+tok) {
			t.Errorf("forced echoing failure %v: %v, want %s quoting the response in base64, decoded, and the token", how, err, want)
		}
	}
	if err := c.Authenticate(auth.NewClient(auth.XOAUTH2, user, srv.IssueToken(user).AccessToken)); err != nil {
		t.Errorf("last AUTHENTICATE: %v, want success once the failures are used up", err)
	}
}

func TestLoseRepliesRunsTheCommandAndDropsItsReply(t *testing.T) {
	srv := imapxtest.New(&imapxtest.Options{Security: provider.ImplicitTLS})
	defer srv.Close()
	uid, err := srv.Deliver(user, "INBOX", []byte("Subject: one\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	srv.CreateFolder(user, "Archive")
	c := dial(t, srv, nil)
	login(t, srv, c)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	srv.LoseReplies("uid copy", 1)
	if _, err := c.Copy(imap.UIDSetNum(uid), "Archive").Wait(); err == nil {
		t.Fatal("the COPY's reply arrived")
	}
	archive, err := srv.Messages(user, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	if len(archive) != 1 || srv.Drops() != 1 {
		t.Errorf("Archive holds %d messages after %d drops, want the copy done and its reply lost once", len(archive), srv.Drops())
	}
	c = dial(t, srv, nil) // disarmed: the next COPY answers
	login(t, srv, c)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Copy(imap.UIDSetNum(uid), "Archive").Wait(); err != nil {
		t.Errorf("second COPY: %v", err)
	}
}

func TestDeliverWakesAnIdlingClient(t *testing.T) {
	srv := imapxtest.New(&imapxtest.Options{Security: provider.ImplicitTLS})
	defer srv.Close()
	exists := make(chan uint32, 8)
	c := dial(t, srv, &imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
		if d.NumMessages != nil {
			exists <- *d.NumMessages
		}
	}})
	login(t, srv, c)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	for srv.Idles() == 0 {
		time.Sleep(time.Millisecond)
	}
	uid, err := srv.Deliver(user, "INBOX", []byte("Subject: x\r\n\r\ny\r\n"))
	if err != nil || uid != 1 {
		t.Fatalf("Deliver: %v, %v", uid, err)
	}
	select {
	case n := <-exists:
		if n != 1 {
			t.Errorf("EXISTS %d, want 1", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no EXISTS while idling")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestMessagesSetFlagsAndResetUIDValidity(t *testing.T) {
	srv := imapxtest.New(&imapxtest.Options{Security: provider.ImplicitTLS})
	defer srv.Close()
	srv.Deliver(user, "INBOX", []byte("Subject: one\r\n\r\n1\r\n"))
	uid, _ := srv.Deliver(user, "INBOX", []byte("Subject: two\r\n\r\n2\r\n"))
	if err := srv.SetFlags(user, "INBOX", uid, imap.FlagSeen, imap.FlagFlagged); err != nil {
		t.Fatal(err)
	}
	msgs, err := srv.Messages(user, "INBOX")
	if err != nil || len(msgs) != 2 {
		t.Fatalf("Messages: %d, %v", len(msgs), err)
	}
	if string(msgs[1].Body) != "Subject: two\r\n\r\n2\r\n" || !msgs[1].HasFlag(imap.FlagSeen) || !msgs[1].HasFlag(imap.FlagFlagged) || msgs[0].HasFlag(imap.FlagSeen) {
		t.Errorf("read back %+v", msgs)
	}
	if _, err := srv.Messages("nobody@example.com", "INBOX"); err == nil {
		t.Error("Messages of an unknown user succeeded")
	}

	c := dial(t, srv, nil)
	login(t, srv, c)
	before, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.ResetUIDValidity(user, "INBOX"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Closed():
	case <-time.After(5 * time.Second):
		t.Fatal("the user's connection survived ResetUIDValidity")
	}
	c2 := dial(t, srv, nil)
	login(t, srv, c2)
	after, err := c2.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if after.UIDValidity == before.UIDValidity || after.NumMessages != 2 {
		t.Errorf("UIDVALIDITY %d -> %d, %d messages", before.UIDValidity, after.UIDValidity, after.NumMessages)
	}
	msgs2, _ := srv.Messages(user, "INBOX")
	if len(msgs2) != 2 || !msgs2[1].HasFlag(imap.FlagSeen) {
		t.Errorf("messages or flags lost: %+v", msgs2)
	}
}

// rawConn speaks IMAP by hand, to see the exact replies.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func rawDial(t *testing.T, srv *imapxtest.Server) *rawConn {
	t.Helper()
	c, err := tls.Dial("tcp", srv.Addr(), srv.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &rawConn{Conn: c, r: bufio.NewReader(c)}
	rc.line(t) // greeting
	return rc
}

func (rc *rawConn) line(t *testing.T) string {
	t.Helper()
	rc.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, err := rc.r.ReadString('\n')
	if err != nil {
		return "ERR " + err.Error()
	}
	return strings.TrimRight(l, "\r\n")
}

func (rc *rawConn) send(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(rc, s+"\r\n"); err != nil {
		t.Fatal(err)
	}
}

func TestThrottleDropAndBye(t *testing.T) {
	srv := imapxtest.New(&imapxtest.Options{Security: provider.ImplicitTLS})
	defer srv.Close()

	srv.Throttle(1, 299961*time.Millisecond)
	rc := rawDial(t, srv)
	rc.send(t, "a1 NOOP")
	if got := rc.line(t); got != "a1 BAD Request is throttled. Suggested Backoff Time: 299961 milliseconds" {
		t.Errorf("throttled reply %q", got)
	}
	if got := rc.line(t); !strings.HasPrefix(got, "ERR") {
		t.Errorf("connection open after the throttling reply: %q", got)
	}

	rc = rawDial(t, srv)
	srv.DropAfterCommands(2)
	rc.send(t, "b1 NOOP")
	if got := rc.line(t); got != "b1 OK NOOP completed" {
		t.Errorf("first command: %q", got)
	}
	rc.send(t, "b2 NOOP")
	if got := rc.line(t); !strings.HasPrefix(got, "ERR") {
		t.Errorf("second command answered %q, want the connection dropped", got)
	}
	if srv.Drops() != 1 {
		t.Errorf("%d drops counted", srv.Drops())
	}

	srv.ByeDuringIdle(imapxtest.ByeTokenExpired)
	rc = rawDial(t, srv)
	tok := srv.IssueToken(user).AccessToken
	ir := auth.NewClient(auth.XOAUTH2, user, tok)
	_, resp, _ := ir.Start()
	rc.send(t, "c1 AUTHENTICATE XOAUTH2 "+b64(resp))
	if got := rc.line(t); !strings.HasPrefix(got, "c1 OK") {
		t.Fatalf("AUTHENTICATE: %q", got)
	}
	rc.send(t, "c2 SELECT INBOX")
	for l := rc.line(t); !strings.HasPrefix(l, "c2 "); l = rc.line(t) {
	}
	rc.send(t, "c3 IDLE")
	if got := rc.line(t); !strings.HasPrefix(got, "+") {
		t.Fatalf("IDLE: %q", got)
	}
	if got := rc.line(t); got != "* BYE Session invalidated - AccessTokenExpired" {
		t.Errorf("during IDLE: %q", got)
	}
	if got := rc.line(t); !strings.HasPrefix(got, "ERR") {
		t.Errorf("connection open after BYE: %q", got)
	}
	if srv.Byes() != 1 || srv.Connections() != 3 {
		t.Errorf("%d BYEs, %d connections", srv.Byes(), srv.Connections())
	}
}

func TestExpiringSessions(t *testing.T) {
	srv := imapxtest.New(&imapxtest.Options{Security: provider.ImplicitTLS, ExpiringSessions: true, TokenLifetime: 200 * time.Millisecond})
	defer srv.Close()
	c := dial(t, srv, nil)
	login(t, srv, c)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Closed():
	case <-time.After(5 * time.Second):
		t.Fatal("the session outlived its token")
	}
	idle.Close()
	if srv.ExpiredSessions() != 1 {
		t.Errorf("%d expired sessions counted", srv.ExpiredSessions())
	}
}

func TestCloseEndsConnections(t *testing.T) {
	srv := imapxtest.New(&imapxtest.Options{Security: provider.ImplicitTLS})
	c := dial(t, srv, nil)
	login(t, srv, c)
	if srv.OpenConnections() != 1 {
		t.Errorf("%d open connections", srv.OpenConnections())
	}
	srv.Close()
	select {
	case <-c.Closed():
	case <-time.After(5 * time.Second):
		t.Fatal("connection open after Close")
	}
	srv.Close() // twice is fine
}

func b64(p []byte) string { return base64.StdEncoding.EncodeToString(p) }

func TestCertificatePEMIsTheServedCertificate(t *testing.T) {
	s := imapxtest.New(&imapxtest.Options{Security: provider.ImplicitTLS})
	defer s.Close()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CertificatePEM()) {
		t.Fatal("CertificatePEM is not a PEM certificate")
	}
	c, err := tls.Dial("tcp", s.Addr(), &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("a client trusting CertificatePEM cannot connect: %v", err)
	}
	c.Close()
	if !s.Certificate().Equal(c.ConnectionState().PeerCertificates[0]) {
		t.Fatal("Certificate is not the served certificate")
	}
}
