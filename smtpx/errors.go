package smtpx

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/internal/neterr"
	"github.com/mailoauth/mailoauth/internal/redact"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/retry"
)

// Phase names the step of a submission that failed.
type Phase string

// The phases of a submission, in the order they happen.
const (
	PhaseToken   Phase = "token"   // getting an access token from the mailbox's TokenSource
	PhaseConnect Phase = "connect" // resolving and dialling the server, reading its greeting, EHLO
	PhaseTLS     Phase = "tls"     // STARTTLS or the implicit TLS handshake, certificate checks
	PhaseAuth    Phase = "auth"    // SASL AUTH with the bearer token
	PhaseMail    Phase = "mail"    // MAIL FROM
	PhaseRcpt    Phase = "rcpt"    // RCPT TO
	PhaseData    Phase = "data"    // DATA, the message, the final reply
)

// SMTP reply codes this package acts on.
const (
	codeServiceClosing  = 421 // the server closes the connection
	codeTooManyConns    = 432 // Exchange: "4.3.2 ... sender thread limit exceeded"
	codeAuthFailed      = 535 // authentication credentials invalid
	classTransientReply = 4   // 4yz: transient negative completion
)

// enhancedPolicyRefusal is 5.7.139, Exchange's "SMTP AUTH is disabled" and
// policy refusals: a 535 that no fresh token can fix.
var enhancedPolicyRefusal = smtp.EnhancedCode{5, 7, 139}

// Error is a failed step of a submission: the phase, the server's reply when
// there was one, and whether trying again later may succeed.
//
// errors.As also finds go-smtp's *smtp.SMTPError and, after a refused token,
// the *auth.ChallengeError the server sent. Error texts never contain a
// token: whatever the server repeated of the AUTH payload (the token or the
// SASL response, raw or in base64) is replaced by "[redacted]" in Message,
// the wrapped *smtp.SMTPError and the Challenge.
type Error struct {
	Phase        Phase
	Code         int               // SMTP reply code; 0 when the server did not answer
	EnhancedCode smtp.EnhancedCode // RFC 3463 status, zero when absent
	Message      string            // the server's text, or what went wrong locally
	// Temporary reports that the same submission may succeed later: a 4yz
	// reply, or a network failure before the message was complete.
	Temporary bool
	// Uncertain reports that the connection failed after the whole message
	// was sent and before the server's reply: the server may have accepted
	// it. Such an error is never Temporary, so that no retry sends the
	// message twice.
	Uncertain bool
	// Recipient is the address a RCPT reply refused, in PhaseRcpt errors.
	Recipient string
	// Challenge is the error challenge of a refused token, or nil.
	Challenge *auth.ChallengeError
	// Retried reports, in PhaseAuth errors, that the server refused a
	// token fresh from the mailbox's TokenSource too, after the first was
	// invalidated: the grant or the configuration is at fault, not a stale
	// token.
	Retried bool
	// Err is the cause: an *smtp.SMTPError, a network, TLS or token error,
	// or the context's error.
	Err error
}

// Error returns "smtpx: <phase>[ <recipient>]: <code> <enhanced> <text>".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("smtpx: ")
	b.WriteString(string(e.Phase))
	if e.Recipient != "" {
		fmt.Fprintf(&b, " <%s>", e.Recipient)
	}
	b.WriteString(": ")
	if e.Code != 0 {
		fmt.Fprintf(&b, "%d ", e.Code)
		if e.EnhancedCode != (smtp.EnhancedCode{}) && e.EnhancedCode != smtp.NoEnhancedCode {
			fmt.Fprintf(&b, "%d.%d.%d ", e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2])
		}
	}
	b.WriteString(e.Message)
	if e.Challenge != nil {
		b.WriteString(" (")
		b.WriteString(e.Challenge.Error())
		b.WriteString(")")
	}
	if e.Err != nil && e.Code == 0 && !strings.Contains(e.Message, e.Err.Error()) {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Retried {
		b.WriteString(" (a fresh token was refused too)")
	}
	if e.Uncertain {
		b.WriteString(" (the server may have accepted the message)")
	}
	return b.String()
}

// Unwrap returns the cause and the challenge, so that errors.As finds
// *smtp.SMTPError and *auth.ChallengeError.
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

// Reply returns the server's reply for provider.Diagnose; a zero Reply
// when the server did not answer.
func (e *Error) Reply() provider.Reply {
	if e.Code == 0 {
		return provider.Reply{}
	}
	r := provider.Reply{Layer: provider.LayerSMTP, Code: e.Code, Text: e.Message, Retried: e.Retried}
	if ec := e.EnhancedCode; ec[0] > 0 {
		r.Enhanced = fmt.Sprintf("%d.%d.%d", ec[0], ec[1], ec[2])
	}
	if w, ok := retry.Suggested(e.Message); ok {
		r.Wait = w
	}
	return r
}

// IsTemporary reports whether err says that the same submission may succeed
// later: a 4yz reply or a network failure before the message was complete.
// It is false for nil, for cancelled contexts, for permanent refusals and
// when the message reached some recipients (retrying would send it twice).
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	var re *RecipientsError
	if errors.As(err, &re) {
		return re.temporary()
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Temporary
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Temporary()
	}
	return false
}

// RecipientsError reports a message that did not reach every recipient:
// those in Delivered got it, each in Rejected did not, with the server's
// reply. errors.As finds each *Error (and its *smtp.SMTPError) through it.
type RecipientsError struct {
	Delivered []string
	Rejected  []*Error // one per recipient that did not get the message; Recipient set
}

// Error lists each refused recipient with its reply.
func (e *RecipientsError) Error() string {
	var b strings.Builder
	total := len(e.Delivered) + len(e.Rejected)
	fmt.Fprintf(&b, "smtpx: message not delivered to %d of %d recipients", len(e.Rejected), total)
	for i, r := range e.Rejected {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(strings.TrimPrefix(r.Error(), "smtpx: "))
	}
	return b.String()
}

// Unwrap returns the per-recipient errors.
func (e *RecipientsError) Unwrap() []error {
	errs := make([]error, len(e.Rejected))
	for i, r := range e.Rejected {
		errs[i] = r
	}
	return errs
}

// temporary: nothing was delivered and every refusal was temporary.
func (e *RecipientsError) temporary() bool {
	if len(e.Delivered) > 0 || len(e.Rejected) == 0 {
		return false
	}
	for _, r := range e.Rejected {
		if !r.Temporary {
			return false
		}
	}
	return true
}

// replyError turns a server reply into an *Error of phase p.
func replyError(p Phase, se *smtp.SMTPError) *Error {
	return &Error{
		Phase:        p,
		Code:         se.Code,
		EnhancedCode: se.EnhancedCode,
		Message:      se.Message,
		Temporary:    se.Code/100 == classTransientReply,
		Err:          se,
	}
}

// scrub replaces the secrets of set wherever e repeats what the server
// said: its Message, its cause (a scrubbed copy of an *smtp.SMTPError; any
// other cause whose text holds a secret becomes that text, scrubbed) and
// its challenge. It returns e.
func (e *Error) scrub(set *redact.Set) *Error {
	e.Message = set.Scrub(e.Message)
	if e.Err != nil && set.Contains(e.Err.Error()) {
		if se, ok := e.Err.(*smtp.SMTPError); ok {
			e.Err = &smtp.SMTPError{Code: se.Code, EnhancedCode: se.EnhancedCode, Message: set.Scrub(se.Message)}
		} else {
			e.Err = errors.New(set.Scrub(e.Err.Error()))
		}
	}
	e.Challenge = scrubChallenge(e.Challenge, set)
	return e
}

// scrubChallenge returns ch, or a copy of it without the secrets of set.
func scrubChallenge(ch *auth.ChallengeError, set *redact.Set) *auth.ChallengeError {
	if ch == nil {
		return nil
	}
	cp := *ch
	for _, f := range []*string{&cp.Status, &cp.Schemes, &cp.Scope, &cp.OpenIDConfiguration, &cp.Raw} {
		*f = set.Scrub(*f)
	}
	if cp == *ch {
		return ch
	}
	return &cp
}

// causeError classifies err, the failure of phase p: a reply, the context,
// or a network error (temporary).
func causeError(ctx context.Context, p Phase, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return replyError(p, se)
	}
	if cerr := ctx.Err(); cerr != nil {
		return &Error{Phase: p, Message: "interrupted", Err: cerr}
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		// The connection's deadline, which is the context's, fired a
		// moment before the context's own timer did.
		return &Error{Phase: p, Message: "interrupted", Err: errors.Join(context.DeadlineExceeded, err)}
	}
	return &Error{Phase: p, Message: "connection failed", Temporary: isNetworkError(err), Err: err}
}

// isNetworkError reports a failure of the connection itself (refused,
// reset, closed, timed out), as opposed to a verification or protocol
// error.
func isNetworkError(err error) bool { return neterr.IsNetwork(err) }

// tokenError wraps a failure of the mailbox's TokenSource.
func tokenError(ctx context.Context, err error) *Error {
	if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
		return &Error{Phase: PhaseToken, Message: "interrupted while getting a token", Err: err}
	}
	return &Error{Phase: PhaseToken, Message: "cannot get an access token", Temporary: neterr.TemporaryToken(err), Err: err}
}
