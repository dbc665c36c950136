package smtpx_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"io"
	"net/smtp"
	"runtime"
	"slices"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/smtpx"
	"github.com/mailoauth/mailoauth/smtpx/smtpxtest"
)

// lineSource produces a message of whole lines without holding it, and
// samples the live heap (after a forced GC) as it goes: a client that
// buffered the message would hold it at those moments.
type lineSource struct {
	off      int64 // offset in the current line pattern
	produced int64
	size     int64
	h        io.Writer
	nextMark int64
	maxHeap  uint64
}

const bodyLine = "The quick brown fox jumps over the lazy dog. 0123456789 abcdefghijklmnopqrstuvwxyz\r\n"

func (l *lineSource) Read(p []byte) (int, error) {
	if l.produced >= l.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && l.produced+int64(n) < l.size {
		k := copy(p[n:min(len(p), n+int(l.size-l.produced-int64(n)))], bodyLine[l.off:])
		n += k
		l.off = (l.off + int64(k)) % int64(len(bodyLine))
	}
	l.produced += int64(n)
	l.h.Write(p[:n])
	if l.produced >= l.nextMark {
		l.nextMark += l.size / 8
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		l.maxHeap = max(l.maxHeap, ms.HeapAlloc)
	}
	return n, nil
}

func TestClientSendStreamsLargeMessage(t *testing.T) {
	size := int64(25_000_000) / int64(len(bodyLine)) * int64(len(bodyLine)) // whole lines, about 25 MB
	e := newEnv(t, &smtpxtest.Options{NoBodies: true})
	e.opts.Debug = nil // a transcript of 25 MB is not the point here
	c := e.dial(t)
	// Warm up the connection's buffers with a small message.
	if err := c.Send(context.Background(), "", []string{"a@example.net"}, bytes.NewReader(message("warm"))); err != nil {
		t.Fatal(recordErr(err))
	}
	h := sha256.New()
	src := &lineSource{size: size, h: h, nextMark: size / 8}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := c.Send(context.Background(), "", []string{"a@example.net"}, src)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(recordErr(err))
	}
	grown := int64(src.maxHeap) - int64(before.HeapAlloc)
	t.Logf("sending %d MB: live heap grew by at most %d KiB; %d KiB allocated in all", size/1_000_000, grown>>10,
		(after.TotalAlloc-before.TotalAlloc)>>10)
	if grown >= 1<<20 {
		t.Fatalf("the live heap grew by %d bytes while sending; want < 1 MiB", grown)
	}
	msgs := e.srv.Messages()
	if got := msgs[len(msgs)-1]; got.Size != size || !bytes.Equal(got.Sum[:], h.Sum(nil)) {
		t.Fatalf("server got %d bytes, want %d with the same SHA-256", got.Size, size)
	}
}

func TestEnvelopeValidatedBeforeConnecting(t *testing.T) {
	bad := []struct{ from, to string }{
		{"", "a@example.net\r\nRCPT TO:<evil@example.org>"},
		{"", "a@exa\nmple.net"},
		{"", "a\x00@example.net"},
		{"", "no-at-sign"},
		{"", "a@"},
		{"", "@example.net"},
		{"", "a..b@example.net"},
		{"", "a b@example.net"},
		{"", "a@-example.net"},
		{"", "<a@example.net>"},
		{"notify@example.com\r\n", "a@example.net"},
		{"x@exa mple.com", "a@example.net"},
		{"", strings.Repeat("a", 65) + "@example.net"},
	}
	e := newEnv(t)
	s := e.sender(t, smtpx.SenderOptions{})
	for _, tc := range bad {
		err := s.Send(context.Background(), smtpx.Envelope{From: tc.from, To: []string{tc.to}}, bytes.NewReader(message("x")))
		if !errors.Is(recordErr(err), provider.ErrInvalidAddress) {
			t.Errorf("Send(%q -> %q) = %v, want ErrInvalidAddress", tc.from, tc.to, err)
		}
		if strings.ContainsAny(err.Error(), "\r\n") {
			t.Errorf("error text carries a raw CR or LF: %q", err.Error())
		}
	}
	if err := s.Send(context.Background(), smtpx.Envelope{}, bytes.NewReader(message("x"))); !errors.Is(err, provider.ErrInvalidAddress) {
		t.Errorf("no recipients: %v", err)
	}
	if st := e.srv.Stats(); st.Connections != 0 {
		t.Fatalf("%d connections for invalid envelopes", st.Connections)
	}
	good := []string{`"john doe"@example.net`, "x+tag@example.net", "user@[192.0.2.1]", "üñï@exämple.de", "o'brien@example.ie"}
	for _, to := range good {
		if err := s.Send(context.Background(), smtpx.Envelope{To: []string{to}}, bytes.NewReader(message("ok"))); errors.Is(err, provider.ErrInvalidAddress) {
			t.Errorf("%q refused: %v", to, err)
		}
	}
}

func TestClientSendPartialRecipients(t *testing.T) {
	e := newEnv(t)
	e.srv.FailRecipient("b@example.net", &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such user"})
	e.srv.FailRecipient("d@example.net", &gosmtp.SMTPError{Code: 450, EnhancedCode: gosmtp.EnhancedCode{4, 2, 1}, Message: "Mailbox busy"})
	c := e.dial(t)
	err := c.Send(context.Background(), "", []string{"a@example.net", "b@example.net", "c@example.net", "d@example.net"}, bytes.NewReader(message("p")))
	var re *smtpx.RecipientsError
	if !errors.As(recordErr(err), &re) {
		t.Fatalf("err = %v, want *RecipientsError", err)
	}
	if !slices.Equal(re.Delivered, []string{"a@example.net", "c@example.net"}) || len(re.Rejected) != 2 ||
		re.Rejected[0].Recipient != "b@example.net" || re.Rejected[0].Code != 550 ||
		re.Rejected[1].Recipient != "d@example.net" || !re.Rejected[1].Temporary {
		t.Fatalf("RecipientsError = %+v", re)
	}
	if !strings.Contains(err.Error(), "b@example.net") || !strings.Contains(err.Error(), "5.1.1 No such user") {
		t.Errorf("error text %q does not list the refusal", err)
	}
	if smtpx.IsTemporary(err) {
		t.Error("IsTemporary of a partly delivered message")
	}
	msgs := e.srv.Messages()
	if len(msgs) != 1 || !slices.Equal(msgs[0].To, []string{"a@example.net", "c@example.net"}) {
		t.Fatalf("server got %+v", msgs)
	}
	// All refused: RSET, and the connection stays usable.
	err = c.Send(context.Background(), "", []string{"b@example.net"}, bytes.NewReader(message("q")))
	var se *smtpx.Error
	if !errors.As(recordErr(err), &se) || se.Phase != smtpx.PhaseRcpt || se.Code != 550 {
		t.Fatalf("err = %v", err)
	}
	if n := e.srv.CommandCount("RSET"); n != 1 {
		t.Errorf("%d RSET, want 1 after the failed transaction", n)
	}
	if err := c.Send(context.Background(), "", []string{"a@example.net"}, bytes.NewReader(message("r"))); err != nil {
		t.Fatal(recordErr(err))
	}
}

func TestIsTemporary(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&smtpx.Error{Phase: smtpx.PhaseMail, Code: 451, Temporary: true}, true},
		{&smtpx.Error{Phase: smtpx.PhaseData, Uncertain: true}, false},
		{&smtpx.RecipientsError{Rejected: []*smtpx.Error{{Temporary: true}}}, true},
		{&smtpx.RecipientsError{Delivered: []string{"a@x.y"}, Rejected: []*smtpx.Error{{Temporary: true}}}, false},
		{&gosmtp.SMTPError{Code: 421}, true},
		{context.Canceled, false},
	} {
		if got := smtpx.IsTemporary(tc.err); got != tc.want {
			t.Errorf("IsTemporary(%v) = %v", tc.err, got)
		}
	}
}

// netSMTPSend returns a function sending one message through net/smtp's
// client with a, over implicit TLS to e's server.
func netSMTPSend(t *testing.T, e *env, a smtp.Auth) func() error {
	return func() error {
		conn, err := tls.Dial("tcp", e.srv.Addr(), e.srv.TLSConfig())
		if err != nil {
			return err
		}
		c, err := smtp.NewClient(conn, e.srv.Host())
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.Auth(a); err != nil {
			return err
		}
		if err := c.Mail(testAddress); err != nil {
			return err
		}
		if err := c.Rcpt("a@example.net"); err != nil {
			return err
		}
		w, err := c.Data()
		if err != nil {
			return err
		}
		w.Write(message("net"))
		if err := w.Close(); err != nil {
			return err
		}
		return c.Quit()
	}
}

// Exchange refuses a token with a bare "535 5.7.3", no challenge: net/smtp
// then never calls the Auth again for that exchange, so the Auth must
// notice at the next Start that no 235 confirmed the token.
func TestNetSMTPAuthReplacesATokenRefusedWithoutChallenge(t *testing.T) {
	e := newEnv(t, &smtpxtest.Options{Security: provider.ImplicitTLS, NoErrorChallenge: true})
	e.srv.RejectAuth(1)
	send := netSMTPSend(t, e, smtpx.NetSMTPAuth(e.mb))
	if err := send(); err == nil || !strings.Contains(recordErr(err).Error(), "535") {
		t.Fatalf("first send: %v, want the 535", err)
	}
	if err := send(); err != nil {
		t.Fatalf("second send: %v", recordErr(err))
	}
	if err := send(); err != nil {
		t.Fatalf("third send: %v", recordErr(err))
	}
	if n := e.tokens.Requests(); n != 2 {
		t.Errorf("%d token requests, want 2: one refused, one fresh and then reused", n)
	}
	if n := len(e.srv.Messages()); n != 2 {
		t.Fatalf("%d messages, want 2", n)
	}
}

func TestNetSMTPAuth(t *testing.T) {
	e := newEnv(t, &smtpxtest.Options{Security: provider.ImplicitTLS})
	e.srv.RejectAuth(1)
	send := netSMTPSend(t, e, smtpx.NetSMTPAuth(e.mb))
	// The first token is refused: the challenge is answered and the token
	// invalidated, so the next authentication uses a fresh one.
	if err := send(); err == nil || !strings.Contains(recordErr(err).Error(), "535") {
		t.Fatalf("first send: %v, want the 535", err)
	}
	if err := send(); err != nil {
		t.Fatal(recordErr(err))
	}
	if n := e.tokens.Requests(); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}
	if n := len(e.srv.Messages()); n != 1 {
		t.Fatalf("%d messages", n)
	}

	a := smtpx.NetSMTPAuth(e.mb)
	if _, _, err := a.Start(&smtp.ServerInfo{Name: e.srv.Host(), TLS: false, Auth: []string{"XOAUTH2"}}); err != nil {
		t.Errorf("loopback without TLS refused: %v", err)
	}
	remote := *e.mb
	remote.SMTP.Host = "smtp.example.com"
	a = smtpx.NetSMTPAuth(&remote)
	if _, _, err := a.Start(&smtp.ServerInfo{Name: "smtp.example.com", TLS: false, Auth: []string{"XOAUTH2"}}); err == nil {
		t.Error("a token would go over a connection without TLS")
	}
	if _, _, err := a.Start(&smtp.ServerInfo{Name: "evil.example.org", TLS: true, Auth: []string{"XOAUTH2"}}); err == nil {
		t.Error("a token would go to a server other than the mailbox's")
	}
}
