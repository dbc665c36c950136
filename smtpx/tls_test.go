package smtpx_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/mailoauth/mailoauth/internal/testcert"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/smtpx"
	"github.com/mailoauth/mailoauth/smtpx/smtpxtest"
)

// The TLS floor: a token only goes over TLS 1.2 or later to a server whose
// certificate was verified for the host dialled. Each case checks Dial and
// a Sender, and that no token was fetched or sent.

// securities are the two ways a server offers TLS.
var securities = map[string]provider.Security{"starttls": provider.StartTLS, "implicit": provider.ImplicitTLS}

// refusedBeforeAuth dials e's mailbox with Dial and with a Sender, and
// returns their errors after checking that each is an *smtpx.Error of
// phase, and that no token was requested or sent.
func refusedBeforeAuth(t *testing.T, e *env, phase smtpx.Phase) []error {
	t.Helper()
	_, dialErr := smtpx.Dial(context.Background(), e.mb, &e.opts)
	s := e.sender(t, smtpx.SenderOptions{MaxRetries: -1})
	sendErr := s.Send(context.Background(), smtpx.Envelope{To: []string{"a@example.net"}}, bytes.NewReader(message("tls")))
	errs := []error{recordErr(dialErr), recordErr(sendErr)}
	for _, err := range errs {
		var se *smtpx.Error
		if !errors.As(err, &se) || se.Phase != phase || se.Temporary {
			t.Fatalf("err = %v, want a permanent *smtpx.Error of phase %s", err, phase)
		}
	}
	if n := e.srv.CommandCount("AUTH"); n != 0 {
		t.Fatalf("the server saw %d AUTH commands", n)
	}
	if n := e.tokens.Requests(); n != 0 {
		t.Fatalf("%d token requests for a connection that must not carry one", n)
	}
	return errs
}

func TestTLSConfigInsecureSkipVerifyIsRefused(t *testing.T) {
	e := newEnv(t)
	e.opts.TLSConfig.InsecureSkipVerify = true
	_, err := smtpx.Dial(context.Background(), e.mb, &e.opts)
	if err == nil || !strings.Contains(recordErr(err).Error(), "InsecureSkipVerify") {
		t.Fatalf("Dial: %v, want a refusal of InsecureSkipVerify", err)
	}
	s := e.sender(t, smtpx.SenderOptions{})
	err = s.Send(context.Background(), smtpx.Envelope{To: []string{"a@example.net"}}, bytes.NewReader(message("i")))
	if err == nil || !strings.Contains(recordErr(err).Error(), "InsecureSkipVerify") {
		t.Fatalf("Sender.Send: %v, want a refusal of InsecureSkipVerify", err)
	}
	if n := e.srv.Connections(); n != 0 {
		t.Fatalf("%d connections made with InsecureSkipVerify", n)
	}
	if n := e.tokens.Requests(); n != 0 {
		t.Fatalf("%d token requests", n)
	}
}

// A server that offers only TLS 1.0 and 1.1 is refused in the handshake,
// even when the caller's configuration allows them, and Diagnose says why.
func TestServerOfferingOnlyOldTLSIsRefused(t *testing.T) {
	oldTLS := func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 }
	for name, sec := range securities {
		for _, clientMin := range []uint16{0, tls.VersionTLS10} {
			t.Run(name+"/"+tls.VersionName(max(clientMin, tls.VersionTLS10)), func(t *testing.T) {
				e := newEnv(t, &smtpxtest.Options{Security: sec, EditTLS: oldTLS})
				e.opts.TLSConfig.MinVersion = clientMin
				for _, err := range refusedBeforeAuth(t, e, smtpx.PhaseTLS) {
					d := provider.Diagnose(err)
					if d == nil || d.Code != "protocol version" || d.Kind != provider.Misconfigured {
						t.Fatalf("Diagnose(%v) = %v, want the TLS version entry", err, d)
					}
				}
			})
		}
	}
}

// The certificate is verified for the mailbox's Server.Host unless the
// caller's TLSConfig.ServerName names another host.
func TestServerHostNameIsVerified(t *testing.T) {
	const certHost = "mail.example.test"
	cert, pool, err := testcert.NewFor("smtpx tls test", certHost)
	if err != nil {
		t.Fatal(err)
	}
	otherCert := func(c *tls.Config) { c.Certificates = []tls.Certificate{cert} }
	for name, sec := range securities {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, &smtpxtest.Options{Security: sec, EditTLS: otherCert})
			e.opts.TLSConfig = &tls.Config{RootCAs: pool}
			for _, err := range refusedBeforeAuth(t, e, smtpx.PhaseTLS) {
				var hn x509.HostnameError
				if !errors.As(err, &hn) || hn.Host != e.mb.SMTP.Host {
					t.Fatalf("err = %v, want a host name error for %q", err, e.mb.SMTP.Host)
				}
			}

			e.opts.TLSConfig.ServerName = certHost
			c := e.dial(t)
			if err := c.Send(context.Background(), "", []string{"a@example.net"}, bytes.NewReader(message("h"))); err != nil {
				t.Fatalf("with ServerName %q: %v", certHost, recordErr(err))
			}
		})
	}
}

// STARTTLS stripped: a server reached as StartTLS that does not offer
// STARTTLS (and offers AUTH in clear, as a stripping attacker would show
// it) gets no AUTH, from Dial or a Sender.
func TestStrippedSTARTTLSGetsNoAuth(t *testing.T) {
	e := newEnv(t, &smtpxtest.Options{Security: provider.Plaintext})
	e.mb.SMTP.Security = provider.StartTLS
	for _, err := range refusedBeforeAuth(t, e, smtpx.PhaseTLS) {
		if !strings.Contains(err.Error(), "does not offer STARTTLS") {
			t.Fatalf("err = %v, want the missing STARTTLS named", err)
		}
	}
	if cmds := commands(e.srv); !strings.HasPrefix(strings.Join(cmds, "\n"), "EHLO ") || strings.Contains(strings.Join(cmds, "\n"), "AUTH") {
		t.Fatalf("commands %q: want EHLO and no AUTH", cmds)
	}
}
