package smtpxtest

import (
	"encoding/base64"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// RejectAuth makes the next n AUTH exchanges refuse the token whatever it
// is, as a server does with an expired or revoked one.
func (s *Server) RejectAuth(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectAuth = n
}

// Echo is what of the client's AUTH payload an EchoAuth reply repeats.
type Echo int

const (
	// EchoToken repeats the bearer token.
	EchoToken Echo = iota
	// EchoResponse repeats the client's whole SASL response, as decoded
	// (XOAUTH2's "user=...\x01auth=Bearer ...\x01\x01", OAUTHBEARER's
	// "n,a=...").
	EchoResponse
	// EchoTokenBase64 repeats the base64 of the token.
	EchoTokenBase64
	// EchoResponseBase64 repeats the response as the client sent it: its
	// base64, on the AUTH line or after the 334.
	EchoResponseBase64
)

// EchoAuth makes the next n AUTH exchanges fail with reply (a 4yz or 5yz
// *smtp.SMTPError), its text followed by ": " and what of the client's
// payload what says, as careless servers do. A 421 reply also closes the
// connection. The reply answers the client's response in place of any
// error challenge.
func (s *Server) EchoAuth(n int, reply *smtp.SMTPError, what Echo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.echo = echoFault{n: n, reply: reply, what: what}
}

// EchoInChallenge makes the next n AUTH exchanges answer the client's
// response with an error challenge whose "status" is what of the client's
// payload what says; the client's completion then gets "535 5.7.8".
func (s *Server) EchoInChallenge(n int, what Echo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.echo = echoFault{n: n, what: what}
}

// echoFault is an armed EchoAuth or EchoInChallenge.
type echoFault struct {
	n     int
	reply *smtp.SMTPError // nil: in the challenge
	what  Echo
}

// takeEchoLocked consumes one echo fault, if one is armed, and returns the
// text it repeats of response and the token in it.
func (s *Server) takeEchoLocked(response []byte, token string) (echoFault, string, bool) {
	f := s.echo
	if f.n <= 0 {
		return f, "", false
	}
	s.echo.n--
	switch f.what {
	case EchoResponse:
		return f, string(response), true
	case EchoTokenBase64:
		return f, base64.StdEncoding.EncodeToString([]byte(token)), true
	case EchoResponseBase64:
		return f, base64.StdEncoding.EncodeToString(response), true
	}
	return f, token, true
}

// Fail421After makes every connection answer the MAIL that follows its
// k-th accepted message with "421 4.7.0" and close, as servers that cap
// messages per connection do. Zero turns it off.
func (s *Server) Fail421After(k int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail421After = k
}

// DropDuringData makes the next n messages lose their connection in the
// middle of DATA: the server reads up to 64 KiB of the message, then
// closes the connection without a reply. The message is not kept.
func (s *Server) DropDuringData(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropData = n
}

// FailRecipient makes RCPT TO:<addr> get reply (a 4yz or 5yz
// *smtp.SMTPError); a 421 also closes the connection. A nil reply clears
// the fault. Addresses compare case-insensitively.
func (s *Server) FailRecipient(addr string, reply *smtp.SMTPError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if reply == nil {
		delete(s.rcptFaults, strings.ToLower(addr))
		return
	}
	s.rcptFaults[strings.ToLower(addr)] = reply
}

// SetDelay makes the server wait d before each reply to AUTH, MAIL, RCPT
// and the end of DATA. Zero turns it off.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// SetMaxAuthConns caps the authenticated connections that may submit at
// once, as Exchange Online does (3 per mailbox): a submission on a
// connection beyond the cap is answered "432 4.3.2
// STOREDRV.ClientSubmit; sender thread limit exceeded" at the end of DATA
// and the message is not kept. A connection holds its place until it
// closes. Zero turns it off.
func (s *Server) SetMaxAuthConns(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxAuthConns = n
}

// SetRandomFaults turns on (or, with the zero value, off) random faults.
func (s *Server) SetRandomFaults(f RandomFaults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.random = f
	s.rnd = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
}

// DropConnections closes every open connection at once, without a reply,
// as a server does when it restarts or when a session's token expires.
func (s *Server) DropConnections() {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}
