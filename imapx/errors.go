package imapx

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/mailgate"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/retry"
)

// Phase names the step of an IMAP session that failed.
type Phase string

// The phases of a session, in the order they happen.
const (
	PhaseToken   Phase = "token"   // getting an access token from the mailbox's TokenSource
	PhaseConnect Phase = "connect" // resolving and dialling the server, reading its greeting
	PhaseTLS     Phase = "tls"     // STARTTLS or the implicit TLS handshake, certificate checks
	PhaseAuth    Phase = "auth"    // AUTHENTICATE with the bearer token
	PhaseSelect  Phase = "select"  // SELECT of the watched folder
	PhaseSearch  Phase = "search"  // finding the messages not yet handled
	PhaseFetch   Phase = "fetch"   // reading messages
	PhaseAction  Phase = "action"  // \Seen, MOVE, COPY, STORE, EXPUNGE after a handler succeeded
	PhaseIdle    Phase = "idle"    // IDLE or the wait between polls
)

// Exchange Online's wording of the events a long-running client must act on.
const (
	// byeTokenExpired is in the BYE Exchange sends when the access token a
	// session was opened with expires: "* BYE Session invalidated -
	// AccessTokenExpired".
	byeTokenExpired = "AccessTokenExpired"
	// throttledText starts Exchange's throttling reply: "BAD Request is
	// throttled. Suggested Backoff Time: 299961 milliseconds".
	throttledText = "Request is throttled"
)

// isThrottle reports whether a status response's text is a throttling
// reply.
func isThrottle(text string) bool {
	return strings.Contains(strings.ToLower(text), strings.ToLower(throttledText))
}

// Error is a failed step of an IMAP session: the phase, the server it talked
// to and the cause. errors.As also finds go-imap's *imap.Error (the server's
// status response, with its code and text; a "* BYE" that ended the
// session) and, after a refused token, the *auth.ChallengeError the server
// sent. Error texts never contain a token: every text from the server is
// scrubbed of the tokens the connection sent, in every form.
type Error struct {
	Phase  Phase
	Server string // host:port
	// Challenge is the error challenge of a refused token, or nil.
	Challenge *auth.ChallengeError
	// Retried reports, in PhaseAuth errors, that a fresh token was refused
	// as well.
	Retried bool
	// Err is the cause: an *imap.Error, a network, TLS or token error, or
	// the context's error.
	Err error

	bye      *imap.Error // the "* BYE" that ended the session, if one came
	throttle *imap.Error // a throttling reply seen on the wire, when Err lacks it
}

// Error returns "imapx: <phase> <server>: <cause>".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("imapx: ")
	b.WriteString(string(e.Phase))
	if e.Server != "" {
		b.WriteString(" ")
		b.WriteString(e.Server)
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("failed")
	}
	if e.Challenge != nil {
		b.WriteString(" (")
		b.WriteString(e.Challenge.Error())
		b.WriteString(")")
	}
	if e.bye != nil {
		b.WriteString(" (the server said BYE: ")
		b.WriteString(e.bye.Text)
		b.WriteString(")")
	}
	if e.Retried {
		b.WriteString(" (a fresh token was refused too)")
	}
	return b.String()
}

// Unwrap returns the cause, the challenge, the BYE and a throttling reply
// seen on the wire, so that errors.As finds *imap.Error and
// *auth.ChallengeError.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 4)
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	if e.Challenge != nil {
		errs = append(errs, e.Challenge)
	}
	for _, ie := range []*imap.Error{e.bye, e.throttle} {
		if ie != nil {
			errs = append(errs, ie)
		}
	}
	return errs
}

// Is reports whether e is, for a mailgate.Gate, mailgate.ErrRefused (a NO
// or BAD, the session goes on; not a throttling reply, after which the
// server closes the connection) or mailgate.ErrSessionExpired (the BYE
// Exchange sends when the session's token expired).
func (e *Error) Is(target error) bool {
	switch target {
	case mailgate.ErrRefused:
		// A throttling reply is followed by the end of the session.
		var ie *imap.Error
		return isServerRefusal(e.Err) && errors.As(e.Err, &ie) && !isThrottle(ie.Text)
	case mailgate.ErrSessionExpired:
		return e.expired()
	}
	return false
}

// expired reports a BYE for an expired token.
func (e *Error) expired() bool {
	return e.bye != nil && strings.Contains(e.bye.Text, byeTokenExpired)
}

// Reply returns the server's status response for provider.Diagnose: the
// command's NO or BAD, else the BYE that ended the session, else a
// throttling reply seen on the connection; a zero Reply when the failure
// was not a server's answer.
func (e *Error) Reply() provider.Reply {
	var ie *imap.Error
	if !errors.As(e.Err, &ie) {
		ie = e.bye
	}
	if ie == nil {
		ie = e.throttle
	}
	if ie == nil {
		return provider.Reply{}
	}
	r := provider.Reply{Layer: provider.LayerIMAP, Status: string(ie.Type), Response: string(ie.Code), Text: ie.Text, Retried: e.Retried}
	for _, s := range []*imap.Error{ie, e.bye, e.throttle} {
		if w, ok := suggested(s); ok && r.Wait == 0 {
			r.Wait = w
		}
	}
	return r
}

// suggested reads the wait a throttling reply asks for.
func suggested(ie *imap.Error) (time.Duration, bool) {
	if ie == nil {
		return 0, false
	}
	return retry.Suggested(ie.Text)
}

// phaseError wraps err in an *Error unless it already is one.
func phaseError(phase Phase, server string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Phase: phase, Server: server, Err: err}
}

// byeError is the session end a server announced with "* BYE <text>",
// the response code in brackets split off as go-imap does for NO and BAD
// (RFC 9051 §7.1): go-imap v2.0.0-beta.8 reports only the closed
// connection, so the text comes from the wire (wireConn).
func byeError(text string) *imap.Error {
	e := &imap.Error{Type: imap.StatusResponseTypeBye, Text: text}
	if rest, ok := strings.CutPrefix(text, "["); ok {
		if inside, after, ok := strings.Cut(rest, "]"); ok {
			code, _, _ := strings.Cut(inside, " ")
			e.Code, e.Text = imap.ResponseCode(strings.ToUpper(code)), strings.TrimSpace(after)
		}
	}
	return e
}

// errf is fmt.Errorf with the package prefix.
func errf(format string, args ...any) error {
	return fmt.Errorf("imapx: "+format, args...)
}
