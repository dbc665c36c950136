package smtpx_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/smtpx/smtpxtest"
)

// Behaviours of go-smtp's client (v0.25.1) that smtpx works around. Each
// test calls go-smtp directly; when one fails, go-smtp changed and the
// workaround it names should be revisited.

// go-smtp's Client.Auth sends "*" (cancel) after a final 535, though the
// exchange is over (emersion/go-smtp#316, open), and reads the reply to it,
// so the connection stays in step for a second AUTH. smtpx's dialer.dial
// relies on that to retry a refused token on the same connection, and
// reconnects when the server closed it instead.
func TestGoSMTPClientCancelsAfterAFinal535(t *testing.T) {
	const user, token = "a@example.com", "allowed-token-123"
	srv := smtpxtest.New(&smtpxtest.Options{NoErrorChallenge: true})
	defer srv.Close()
	srv.AllowToken(user, token)
	srv.RejectAuth(1)
	c, err := smtp.DialStartTLS(srv.Addr(), srv.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(auth.NewClient(auth.XOAUTH2, user, token)); err == nil {
		t.Fatal("the refusal did not come")
	}
	cmds := commands(srv)
	at := slices.Index(cmds, "AUTH XOAUTH2 [redacted]")
	if at < 0 || at+1 >= len(cmds) || cmds[at+1] != "*" {
		t.Fatalf("go-smtp changed (emersion/go-smtp#316?): no \"*\" after the final 535 in %q; revisit the retry on the same connection in smtpx/dial.go", cmds)
	}
	if err := c.Auth(auth.NewClient(auth.XOAUTH2, user, token)); err != nil {
		t.Fatalf("go-smtp changed: after the \"*\", a second AUTH on the connection failed (%v); revisit smtpx/dial.go's retry", err)
	}
}

// go-smtp has no exported STARTTLS: NewClientStartTLS sends "EHLO
// localhost" before TLS whatever name the caller wants, by design
// (emersion/go-smtp#297, declined: RFC 3207 §4.2 has the server forget what
// it learnt before TLS). Hello after it names the client in the EHLO over
// TLS (emersion/go-smtp#265). Options.LocalName documents the first and
// smtpx's connect uses the second.
func TestGoSMTPStartTLSSaysLocalhostBeforeTLS(t *testing.T) {
	srv := smtpxtest.New(nil)
	defer srv.Close()
	c, err := smtp.DialStartTLS(srv.Addr(), srv.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example.test"); err != nil {
		t.Fatalf("go-smtp changed: Hello after STARTTLS fails (%v); revisit smtpx/dial.go's connect", err)
	}
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	want := []string{"EHLO localhost", "STARTTLS", "EHLO client.example.test", "NOOP"}
	if got := commands(srv); !slices.Equal(got, want) {
		t.Fatalf("go-smtp changed: commands %q, want %q; revisit Options.LocalName's documentation and smtpx/dial.go's connect",
			strings.Join(got, " | "), strings.Join(want, " | "))
	}
}
