package smtpxtest

import (
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailoauth/mailoauth/auth"
)

// Replies the server sends.
var (
	errAuthFailed = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication failed"}
	// errAuthUnsuccessful is Exchange Online's refusal, with no challenge.
	errAuthUnsuccessful = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 3}, Message: "Authentication unsuccessful"}
	errAuthRequired     = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 57}, Message: "Client not authenticated to send mail"}
	errClosing          = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Service not available, closing transmission channel"}
	// errThreadLimit is Exchange Online's reply when a mailbox has too many
	// concurrent submissions.
	errThreadLimit = &smtp.SMTPError{Code: 432, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "STOREDRV.ClientSubmit; sender thread limit exceeded"}
	// errDropped is what Data returns after dropping the connection; no
	// client sees it.
	errDropped = errors.New("smtpxtest: connection dropped in the middle of DATA")
)

// dropAfterBytes is how much of a message the server reads before a
// DropDuringData fault closes the connection.
const dropAfterBytes = 64 << 10

// session is go-smtp's view of one connection between EHLO and the end (or
// the STARTTLS that restarts it).
type session struct {
	s    *Server
	c    *conn
	from string
	to   []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string { return ss.s.cfg.mechs }

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if !slices.Contains(ss.s.cfg.mechs, strings.ToUpper(mech)) {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	a := &authServer{ss: ss}
	switch auth.Mechanism(strings.ToUpper(mech)) {
	case auth.XOAUTH2:
		a.inner = auth.NewXOAUTH2Server(a.verify)
	case auth.OAUTHBEARER:
		a.inner = auth.NewOAuthBearerServer(a.verify)
	default:
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return a, nil
}

// authServer runs one AUTH exchange through the auth package's server and
// turns its outcome into SMTP replies and counters.
type authServer struct {
	ss      *session
	inner   sasl.Server
	user    string // the user verify accepted
	token   string // the token verify was given
	refused bool   // verify refused the token
	judged  bool   // the client's response has arrived
	echoed  bool   // an EchoInChallenge challenge was sent
}

func (a *authServer) verify(username, token string) error {
	s := a.ss.s
	a.token = token
	s.sleep()
	s.mu.Lock()
	if s.rejectAuth > 0 {
		s.rejectAuth--
		s.mu.Unlock()
		a.refused = true
		return errors.New("refused by the RejectAuth fault")
	}
	verify := s.cfg.verify
	allowed := s.allowed[[2]string{username, token}]
	s.mu.Unlock()
	var err error
	switch {
	case verify != nil:
		err = verify(username, token)
	case !allowed:
		err = errors.New("token not allowed (no verify function; see AllowToken)")
	}
	if err != nil {
		a.refused = true
		return err
	}
	a.user = username
	return nil
}

// Next runs one step of the exchange. Its errors, like every session
// method's, are bare *smtp.SMTPError values, never wrapped: go-smtp's server
// (v0.25.1, Conn.writeError) maps an error to its reply with a type
// assertion, not errors.As, and writes any other error as "454 4.7.0
// <text>". No upstream issue tracks this;
// TestGoSMTPServerRepliesOnlyBareSMTPErrors pins it.
func (a *authServer) Next(response []byte) ([]byte, bool, error) {
	s := a.ss.s
	if a.echoed {
		// The client's completion of the echoing challenge.
		s.mu.Lock()
		s.stats.AuthFailures++
		s.mu.Unlock()
		return nil, false, errAuthFailed
	}
	first := len(response) > 0 && !a.judged
	if first {
		a.judged = true
	}
	challenge, done, err := a.inner.Next(response)
	if first {
		s.mu.Lock()
		f, echo, ok := s.takeEchoLocked(response, a.token)
		switch {
		case ok && f.reply == nil:
			a.echoed = true
		case ok:
			s.stats.AuthFailures++
			if f.reply.Code == errClosing.Code {
				a.ss.c.closeAfterReplyLocked()
			}
		}
		s.mu.Unlock()
		switch {
		case ok && f.reply == nil:
			ch, _ := json.Marshal(map[string]string{"status": echo, "schemes": "bearer", "scope": "mail"})
			return ch, false, nil
		case ok:
			return nil, false, &smtp.SMTPError{Code: f.reply.Code, EnhancedCode: f.reply.EnhancedCode, Message: f.reply.Message + ": " + echo}
		}
	}
	switch {
	case err != nil:
		s.mu.Lock()
		s.stats.AuthFailures++
		s.mu.Unlock()
		return nil, false, errAuthFailed
	case a.refused && !done && s.cfg.noChallenge:
		s.mu.Lock()
		s.stats.AuthFailures++
		s.mu.Unlock()
		return nil, false, errAuthUnsuccessful
	case done:
		c := a.ss.c
		s.mu.Lock()
		c.authed, c.user = true, a.user
		s.stats.Auths++
		s.authedNow++
		s.stats.MaxConcurrentAuthed = max(s.stats.MaxConcurrentAuthed, s.authedNow)
		s.takeSlotLocked(c)
		s.mu.Unlock()
	}
	return challenge, done, nil
}

// takeSlotLocked gives c one of the SetMaxAuthConns slots if one is free.
func (s *Server) takeSlotLocked(c *conn) bool {
	if s.maxAuthConns <= 0 || c.slot {
		return true
	}
	if s.slotsUsed < s.maxAuthConns {
		s.slotsUsed++
		c.slot = true
		return true
	}
	return false
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	s, c := ss.s, ss.c
	s.sleep()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !c.authed:
		return errAuthRequired
	case s.fail421After > 0 && c.msgs >= s.fail421After,
		s.chanceLocked(s.random.Reply421AtMail):
		c.closeAfterReplyLocked()
		return errClosing
	}
	ss.from, ss.to = from, nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s, c := ss.s, ss.c
	s.sleep()
	s.mu.Lock()
	defer s.mu.Unlock()
	if reply := s.rcptFaults[strings.ToLower(to)]; reply != nil {
		if reply.Code == errClosing.Code {
			c.closeAfterReplyLocked()
		}
		return reply
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	s, c := ss.s, ss.c
	s.sleep()
	s.mu.Lock()
	drop := s.dropData > 0 || s.chanceLocked(s.random.DropInData)
	if s.dropData > 0 {
		s.dropData--
	}
	if drop {
		s.stats.Dropped++
	}
	s.mu.Unlock()
	if drop {
		_, _ = io.CopyN(io.Discard, r, dropAfterBytes)
		c.Close()
		return errDropped
	}
	data, size, sum, err := s.readMessage(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.chanceLocked(s.random.Reply421AfterData) {
		c.closeAfterReplyLocked()
		return errClosing
	}
	if !s.takeSlotLocked(c) {
		s.stats.Rejected432++
		return errThreadLimit
	}
	s.storeLocked(c, ss.from, ss.to, data, size, sum)
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }
