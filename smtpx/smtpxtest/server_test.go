package smtpxtest_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/smtpx/smtpxtest"
)

func dial(t *testing.T, srv *smtpxtest.Server) *smtp.Client {
	t.Helper()
	c, err := smtp.DialStartTLS(srv.Addr(), srv.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestDefaultVerifyRefusesUnknownTokens(t *testing.T) {
	srv := smtpxtest.New(nil)
	defer srv.Close()
	if err := dial(t, srv).Auth(auth.NewClient(auth.XOAUTH2, "a@example.com", "any-token-at-all")); err == nil {
		t.Fatal("a server without verify accepted a token")
	}
	srv.AllowToken("a@example.com", "allowed-token-123")
	if err := dial(t, srv).Auth(auth.NewClient(auth.XOAUTH2, "a@example.com", "allowed-token-123")); err != nil {
		t.Fatalf("allowed token refused: %v", err)
	}
	if st := srv.Stats(); st.Auths != 1 || st.AuthFailures != 1 {
		t.Fatalf("stats %+v", st)
	}
	for _, c := range srv.Commands() {
		if strings.Contains(c.Line, "token") || strings.Contains(c.Line, "dXNlcj") {
			t.Fatalf("command log holds a SASL payload: %q", c.Line)
		}
	}
}

func TestMailRequiresAuthAndCapReplies432(t *testing.T) {
	srv := smtpxtest.New(nil)
	defer srv.Close()
	srv.AllowToken("a@example.com", "allowed-token-123")
	c := dial(t, srv)
	if err := c.Mail("a@example.com", nil); err == nil {
		t.Fatal("MAIL accepted before AUTH")
	}
	srv.SetMaxAuthConns(1)
	first, second := dial(t, srv), dial(t, srv)
	for _, cl := range []*smtp.Client{first, second} {
		if err := cl.Auth(auth.NewClient(auth.XOAUTH2, "a@example.com", "allowed-token-123")); err != nil {
			t.Fatal(err)
		}
	}
	msg := "Subject: x\r\n\r\nx\r\n"
	if err := first.SendMail("a@example.com", []string{"b@example.net"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	err := second.SendMail("a@example.com", []string{"b@example.net"}, strings.NewReader(msg))
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 432 || !strings.Contains(se.Message, "sender thread limit exceeded") {
		t.Fatalf("second connection: %v, want 432 4.3.2", err)
	}
	if st := srv.Stats(); st.Messages != 1 || st.Rejected432 != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// The echo faults repeat the client's payload verbatim, in the reply or in
// the error challenge.
func TestEchoFaultsRepeatThePayload(t *testing.T) {
	const user, token = "a@example.com", "allowed-token-123"
	_, ir, _ := auth.NewClient(auth.XOAUTH2, user, token).Start()
	srv := smtpxtest.New(nil)
	defer srv.Close()
	srv.AllowToken(user, token)
	refusal := &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "No"}
	for _, tc := range []struct {
		what smtpxtest.Echo
		want string
	}{
		{smtpxtest.EchoToken, token},
		{smtpxtest.EchoResponse, string(ir)},
		{smtpxtest.EchoTokenBase64, base64.StdEncoding.EncodeToString([]byte(token))},
		{smtpxtest.EchoResponseBase64, base64.StdEncoding.EncodeToString(ir)},
	} {
		srv.EchoAuth(1, refusal, tc.what)
		err := dial(t, srv).Auth(auth.NewClient(auth.XOAUTH2, user, token))
		if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 535 || se.Message != "No: "+tc.want {
			t.Errorf("EchoAuth(%d): %v, want 535 \"No: %q\"", tc.what, err, tc.want)
		}
		srv.EchoInChallenge(1, tc.what)
		c := auth.NewClient(auth.XOAUTH2, user, token)
		err = dial(t, srv).Auth(c)
		// (auth's client already replaces its raw token in a challenge.)
		raw := tc.what == smtpxtest.EchoToken || tc.what == smtpxtest.EchoResponse
		if ch := auth.Challenge(c); err == nil || ch == nil || !raw && ch.Status != tc.want {
			t.Errorf("EchoInChallenge(%d): %v, challenge %+v, want the echo in its status", tc.what, err, ch)
		}
	}
	if err := dial(t, srv).Auth(auth.NewClient(auth.XOAUTH2, user, token)); err != nil {
		t.Fatalf("after the faults: %v", err)
	}
}
