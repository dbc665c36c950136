package smtpxtest

import (
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
