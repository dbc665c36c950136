package smtpxtest_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailoauth/mailoauth/auth"
)

// go-smtp's server (v0.25.1) turns an error into its reply only when the
// error is an *smtp.SMTPError itself (Conn.writeError uses a type
// assertion, not errors.As); a wrapped one becomes "454 4.7.0 <text>". No
// upstream issue tracks this. smtpxtest's session therefore returns bare
// *smtp.SMTPError values. If this test fails, go-smtp changed: smtpxtest's
// replies could wrap their causes.
func TestGoSMTPServerRepliesOnlyBareSMTPErrors(t *testing.T) {
	refusal := &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication failed"}
	for _, tc := range []struct {
		name     string
		err      error
		wantCode int
	}{
		{"bare", refusal, 535},
		{"wrapped", fmt.Errorf("refused: %w", refusal), 454},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := serveGoSMTP(t, tc.err)
			c, err := smtp.Dial(addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = c.Auth(auth.NewClient(auth.XOAUTH2, "a@example.com", "any-token-at-all"))
			var se *smtp.SMTPError
			if !errors.As(err, &se) || se.Code != tc.wantCode {
				t.Fatalf("go-smtp changed: a %s SMTPError from a sasl.Server is answered %v, want %d; revisit smtpxtest's session replies", tc.name, err, tc.wantCode)
			}
		})
	}
}

// serveGoSMTP starts a bare go-smtp server on loopback (AUTH in clear)
// whose XOAUTH2 exchanges fail with err, and returns its address.
func serveGoSMTP(t *testing.T, err error) string {
	t.Helper()
	ln, lerr := net.Listen("tcp", "127.0.0.1:0")
	if lerr != nil {
		t.Fatal(lerr)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return failingSession{err}, nil }))
	srv.AllowInsecureAuth = true
	srv.ErrorLog = log.New(io.Discard, "", 0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// failingSession offers XOAUTH2 and fails every exchange with err.
type failingSession struct{ err error }

func (s failingSession) AuthMechanisms() []string           { return []string{string(auth.XOAUTH2)} }
func (s failingSession) Auth(string) (sasl.Server, error)   { return failingSASL(s), nil }
func (failingSession) Mail(string, *smtp.MailOptions) error { return nil }
func (failingSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (failingSession) Data(io.Reader) error                 { return nil }
func (failingSession) Reset()                               {}
func (failingSession) Logout() error                        { return nil }

// failingSASL refuses the client's first response with its err.
type failingSASL struct{ err error }

func (f failingSASL) Next([]byte) ([]byte, bool, error) { return nil, false, f.err }
