package imapx

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailoauth/mailoauth/auth"
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

// parseThrottle returns the backoff a throttling reply text asks for.
func parseThrottle(text string) (time.Duration, bool) {
	if !strings.Contains(strings.ToLower(text), strings.ToLower(throttledText)) {
		return 0, false
	}
	d, _ := retry.Suggested(text) // no figure: 0, and the caller uses its own backoff
	return d, true
}

// SuggestedBackoff reports whether err carries a server's throttling reply
// (Exchange's "BAD Request is throttled. Suggested Backoff Time: N
// milliseconds") and the wait it asks for; the wait is zero when the reply
// named none. Wait at least that long before connecting again.
func SuggestedBackoff(err error) (time.Duration, bool) {
	var (
		d     time.Duration
		found bool
	)
	walkErrors(err, func(e error) bool {
		if ie, ok := e.(*imap.Error); ok {
			d, found = parseThrottle(ie.Text)
		}
		return found
	})
	return d, found
}

// walkErrors calls visit on err and everything it wraps, depth first, until
// visit returns true.
func walkErrors(err error, visit func(error) bool) bool {
	const maxDepth = 32 // a defence against absurd chains
	var rec func(error, int) bool
	rec = func(e error, depth int) bool {
		if e == nil || depth > maxDepth {
			return false
		}
		if visit(e) {
			return true
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			return rec(u.Unwrap(), depth+1)
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				if rec(inner, depth+1) {
					return true
				}
			}
		}
		return false
	}
	return rec(err, 0)
}

// Error is a failed step of an IMAP session: the phase, the server it talked
// to and the cause. errors.As also finds go-imap's *imap.Error (the server's
// status response, with its code and text) and, after a refused token, the
// *auth.ChallengeError the server sent. Error texts never contain a token.
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
	if e.Retried {
		b.WriteString(" (a fresh token was refused too)")
	}
	return b.String()
}

// Unwrap returns the cause and the challenge, so that errors.As finds
// *imap.Error and *auth.ChallengeError.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	if e.Challenge != nil {
		errs = append(errs, e.Challenge)
	}
	return errs
}

// Reply returns the server's status response for provider.Diagnose; a zero
// Reply when the failure was not a server's answer.
func (e *Error) Reply() provider.Reply {
	var ie *imap.Error
	if !errors.As(e.Err, &ie) {
		return provider.Reply{}
	}
	r := provider.Reply{Layer: provider.LayerIMAP, Status: string(ie.Type), Response: string(ie.Code), Text: ie.Text, Retried: e.Retried}
	if w, ok := retry.Suggested(ie.Text); ok {
		r.Wait = w
	}
	return r
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

// byeError is the session end a server announced with "* BYE": go-imap
// reports only the closed connection, the text comes from the wire.
func byeError(text string) *imap.Error {
	return &imap.Error{Type: imap.StatusResponseTypeBye, Text: text}
}

// errf is fmt.Errorf with the package prefix.
func errf(format string, args ...any) error {
	return fmt.Errorf("imapx: "+format, args...)
}
