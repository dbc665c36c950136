package graphx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/mailoauth/mailoauth/internal/neterr"
	"github.com/mailoauth/mailoauth/internal/redact"
	"github.com/mailoauth/mailoauth/provider"
)

// Phase names the Graph operation that failed.
type Phase string

// The phases of sending and receiving.
const (
	PhaseToken    Phase = "token"    // getting an access token from the mailbox's TokenSource
	PhaseMessage  Phase = "message"  // reading and checking the message before anything is sent
	PhaseSendMail Phase = "sendmail" // POST /users/{id}/sendMail
	PhaseDraft    Phase = "draft"    // creating the draft of a large message, or deleting it after a failure
	PhaseAttach   Phase = "attach"   // adding an attachment to the draft, or opening its upload session
	PhaseUpload   Phase = "upload"   // PUT of an attachment's bytes to the upload session
	PhaseSend     Phase = "send"     // POST /users/{id}/messages/{id}/send
	PhaseFolder   Phase = "folder"   // finding a mail folder by name
	PhaseDelta    Phase = "delta"    // a page of a folder's delta query
	PhaseFetch    Phase = "fetch"    // GET /users/{id}/messages/{id}/$value
	PhaseMarkRead Phase = "markread" // PATCH isRead
	PhaseMove     Phase = "move"     // POST /users/{id}/messages/{id}/move
	PhaseDelete   Phase = "delete"   // DELETE /users/{id}/messages/{id}
)

// Errors that Error wraps and callers branch on with errors.Is.
var (
	// ErrResync: Graph no longer knows the delta link's state (410 Gone,
	// syncStateNotFound, resyncRequired). Start a full sync of the folder
	// with an empty link; it lists every message in the folder again.
	ErrResync = errors.New("graphx: the delta link expired; a full sync of the folder is needed")
	// ErrRecipients: the message's To, Cc and Bcc do not name the
	// envelope's recipients, and Graph sends to the header's recipients
	// only (see Sender).
	ErrRecipients = errors.New("graphx: the message's recipients differ from the envelope's")
	// ErrTooLarge: the message cannot go through Graph: its part without
	// attachments exceeds one request, or an attachment exceeds the upload
	// limit.
	ErrTooLarge = errors.New("graphx: message too large for Microsoft Graph")
	// ErrClosed: the Client or Sender was closed.
	ErrClosed = errors.New("graphx: closed")
)

// Error is a failed Graph operation: the phase, Graph's answer when there
// was one, and whether trying again may succeed.
//
// A message whose sending failed with Uncertain set may have been
// accepted: the whole request reached Graph and its answer was lost. Such
// an error is never Temporary, so that no retry sends the message twice.
// Error texts never contain a token or an upload URL.
type Error struct {
	Phase Phase
	// Status is the HTTP status; 0 when Graph did not answer.
	Status int
	// Code is Graph's error code ("ErrorAccessDenied", "ErrorSendAsDenied",
	// "ApplicationThrottled"); empty when the answer had none.
	Code string
	// Message is Graph's error message, or what went wrong locally; never
	// a secret.
	Message string
	// RequestID is Graph's request-id, for a support case; may be empty.
	RequestID string
	// Wait is how long Graph asked to wait (Retry-After); zero when it did
	// not say.
	Wait time.Duration
	// Temporary reports that the same operation may succeed later: a 429
	// or 503, a network failure before the request was complete, and for
	// requests that are safe to repeat, a 5xx or a lost answer.
	Temporary bool
	// Uncertain reports that a request that sends mail reached Graph whole
	// and its answer was lost (or was a 5xx other than 503): Graph may
	// have accepted the message. Never Temporary.
	Uncertain bool
	// Retried reports that Graph refused a fresh token as well, after the
	// refused one was invalidated: the cause is the grant, the permissions
	// or the token's audience, not its age.
	Retried bool
	// Err is the cause: a network or token error, the context's error, or
	// one of the sentinels above; nil for an answer that says it all.
	Err error
}

// Error returns "graphx: <phase>: [HTTP <status> <code>: ]<message>".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("graphx: ")
	b.WriteString(string(e.Phase))
	b.WriteString(": ")
	if e.Status != 0 {
		fmt.Fprintf(&b, "HTTP %d ", e.Status)
		if e.Code != "" {
			b.WriteString(e.Code)
			b.WriteString(" ")
		}
	}
	b.WriteString(e.Message)
	if e.Err != nil && e.Status == 0 && !strings.Contains(e.Message, e.Err.Error()) {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Wait > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.Wait)
	}
	if e.Retried {
		b.WriteString(" (a fresh token was refused too)")
	}
	if e.Uncertain {
		b.WriteString(" (Graph may have accepted the message)")
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Reply returns Graph's answer for provider.Diagnose; a zero Reply when
// Graph did not answer.
func (e *Error) Reply() provider.Reply {
	if e.Status == 0 {
		return provider.Reply{}
	}
	return provider.Reply{Layer: provider.LayerGraph, Code: e.Status, Response: e.Code, Text: e.Message, Wait: e.Wait, Retried: e.Retried}
}

// IsTemporary reports whether err says the same operation may succeed
// later. It is false for nil, for cancelled contexts, for refusals and for
// uncertain sends.
func IsTemporary(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Temporary
}

// IsUncertain reports whether err says Graph may have accepted a message
// although the send failed: do not send it again without checking the
// mailbox's Sent Items.
func IsUncertain(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Uncertain
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// maxErrorText bounds Graph's message kept in an Error.
const maxErrorText = 512

// graphErrorBody is Graph's error answer (https://learn.microsoft.com/en-us/graph/errors).
type graphErrorBody struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError struct {
			RequestID string `json:"request-id"`
		} `json:"innerError"`
	} `json:"error"`
}

// answerError reads a non-success answer of Graph into an *Error; secrets
// (the token that went with the request) are scrubbed from its text.
func answerError(p Phase, status int, header map[string][]string, body io.Reader, secrets ...string) *Error {
	raw, _ := io.ReadAll(io.LimitReader(body, maxErrorBody))
	e := &Error{Phase: p, Status: status}
	var ge graphErrorBody
	if json.Unmarshal(raw, &ge) == nil {
		e.Code = ge.Error.Code
		e.Message = ge.Error.Message
		e.RequestID = ge.Error.InnerError.RequestID
	}
	if e.RequestID == "" {
		if v := header["Request-Id"]; len(v) > 0 {
			e.RequestID = v[0]
		}
	}
	if e.Message == "" {
		e.Message = "unexpected answer"
	}
	e.Code = scrub(e.Code, 128, secrets)
	e.Message = scrub(e.Message, maxErrorText, secrets)
	e.RequestID = scrub(e.RequestID, 128, secrets)
	return e
}

// scrub returns s without the secrets (in any base64 form), control
// characters or more than limit bytes.
func scrub(s string, limit int, secrets []string) string {
	for _, sec := range secrets {
		for _, f := range redact.Forms(sec) {
			s = strings.ReplaceAll(s, f, redact.Text)
		}
	}
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > limit {
		s = strings.ToValidUTF8(s[:limit], "") + "..."
	}
	return s
}

// transportCause strips what net/http adds to a transport failure: a
// *url.Error names the request's URL, which for an upload session holds
// its credential.
func transportCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// tokenError wraps a failure of the mailbox's TokenSource.
func tokenError(ctx context.Context, err error) *Error {
	if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
		return &Error{Phase: PhaseToken, Message: "interrupted while getting a token", Err: err}
	}
	return &Error{Phase: PhaseToken, Message: "cannot get an access token", Temporary: neterr.TemporaryToken(err), Err: err}
}

// localError is a problem found before any request: bad input, never
// temporary.
func localError(p Phase, err error, format string, args ...any) *Error {
	return &Error{Phase: p, Message: fmt.Sprintf(format, args...), Err: err}
}
