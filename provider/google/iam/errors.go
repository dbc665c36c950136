package iam

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mailoauth/mailoauth/internal/fetch"
	"github.com/mailoauth/mailoauth/provider"
)

// Reason classifies an Error: branch on it, not on the text.
type Reason string

// The reasons of an Error. DiagnosisCode returns "iam: " + the reason.
const (
	// ReasonPermissionDenied: the caller lacks iam.serviceAccounts.signJwt
	// on the service account (or a delegate). Google answers the same for
	// a service account that does not exist, to not reveal which ones do.
	ReasonPermissionDenied Reason = "permission denied"
	// ReasonServiceDisabled: the IAM Service Account Credentials API is not
	// enabled in the caller's project.
	ReasonServiceDisabled Reason = "service disabled"
	// ReasonUnknownAccount: Google says the service account does not exist
	// (HTTP 404 NOT_FOUND, "Gaia id not found for email").
	ReasonUnknownAccount Reason = "unknown account"
	// ReasonUnauthenticated: Google refused the caller's access token
	// (HTTP 401: expired, revoked or not an access token), or it lacks the
	// cloud-platform scope.
	ReasonUnauthenticated Reason = "unauthenticated"
	// ReasonCaller: the caller's token source failed before anything was
	// sent; Err is its error.
	ReasonCaller Reason = "caller credentials"
	// ReasonThrottled: HTTP 429 after every attempt.
	ReasonThrottled Reason = "throttled"
	// ReasonUnavailable: 5xx after every attempt, or no answer (Err).
	ReasonUnavailable Reason = "unavailable"
	// ReasonRefused: any other refusal (an invalid payload, say).
	ReasonRefused Reason = "refused"
	// ReasonBadAnswer: an answer without a signed JWT.
	ReasonBadAnswer Reason = "bad answer"
)

// Error is a failure of signJwt: Google's answer as data, or why there was
// none. Branch on Reason. It never holds the caller's access token.
//
// Error implements provider.Replier with the answer (Layer OAuth: the
// HTTP status, Response the ErrorInfo reason such as IAM_PERMISSION_DENIED
// or SERVICE_DISABLED, else the status such as PERMISSION_DENIED), and
// DiagnosisCode with the classification.
type Error struct {
	ServiceAccount string
	Reason         Reason
	// Status is the HTTP status; zero when there was no answer.
	Status int
	// Code is Google's status name ("PERMISSION_DENIED"); Detail the
	// ErrorInfo reason ("IAM_PERMISSION_DENIED", "SERVICE_DISABLED"), empty
	// when the answer had none.
	Code, Detail string
	// Message is Google's message, scrubbed of anything secret.
	Message string
	// RetryAfter is the wait Google asked for; zero when it did not.
	RetryAfter time.Duration
	// Err is the cause when there was no usable answer.
	Err error
}

// Error says what failed, Google's answer, and what usually helps.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "iam: signJwt as %s: %s", e.ServiceAccount, e.Reason)
	b.WriteString(fetch.Describe(e.Status, []string{e.Code, e.Detail}, e.Message, e.Err, e.RetryAfter))
	switch e.Reason {
	case ReasonPermissionDenied:
		b.WriteString("; grant the caller roles/iam.serviceAccountTokenCreator on the service account, and check its email")
	case ReasonServiceDisabled:
		b.WriteString("; enable iamcredentials.googleapis.com in the caller's project")
	case ReasonUnauthenticated:
		b.WriteString("; the caller's credentials need the scope " + CloudPlatformScope)
	}
	return b.String()
}

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether a later attempt may succeed.
func (e *Error) Temporary() bool {
	return e.Reason == ReasonThrottled || e.Reason == ReasonUnavailable
}

// Reply returns Google's answer for provider.Diagnose; empty without an
// answer (Diagnose then looks at Err).
func (e *Error) Reply() provider.Reply {
	if e.Status == 0 {
		return provider.Reply{}
	}
	code := e.Detail
	if code == "" {
		code = e.Code
	}
	return provider.Reply{Layer: provider.LayerOAuth, Code: e.Status, Response: code, Text: e.Message,
		Wait: e.RetryAfter, Unusable: e.Reason == ReasonBadAnswer}
}

// DiagnosisCode is the classification as a catalogue code: "iam: "
// followed by the Reason ("iam: permission denied").
func (e *Error) DiagnosisCode() string { return "iam: " + string(e.Reason) }

// apiError is the error JSON of Google's APIs
// (https://cloud.google.com/apis/design/errors#http_mapping).
type apiError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type   string `json:"@type"`
			Reason string `json:"reason"`
		} `json:"details"`
		// Errors is the older form, whose reason for a disabled API is
		// accessNotConfigured.
		Errors []struct {
			Reason string `json:"reason"`
		} `json:"errors"`
	} `json:"error"`
}

// errorInfoType is the @type of the detail that carries the reason.
const errorInfoType = "type.googleapis.com/google.rpc.ErrorInfo"

// answerError classifies an answer other than 200; bearer is scrubbed.
func answerError(account string, ans *fetch.Answer, bearer string) *Error {
	e := &Error{ServiceAccount: account, Status: ans.Status, RetryAfter: ans.Wait}
	var a apiError
	if !ans.TooLarge && json.Unmarshal(ans.Body, &a) == nil {
		e.Code = fetch.Scrub(a.Error.Status, bearer)
		e.Message = fetch.Scrub(a.Error.Message, bearer)
		for _, d := range a.Error.Details {
			if d.Type == errorInfoType && d.Reason != "" {
				e.Detail = fetch.Scrub(d.Reason, bearer)
				break
			}
		}
		if e.Detail == "" && len(a.Error.Errors) > 0 {
			e.Detail = fetch.Scrub(a.Error.Errors[0].Reason, bearer)
		}
	}
	switch {
	case ans.Status == http.StatusTooManyRequests:
		e.Reason = ReasonThrottled
	case ans.Status >= 500:
		e.Reason = ReasonUnavailable
	case e.Detail == "SERVICE_DISABLED" || e.Detail == "accessNotConfigured":
		e.Reason = ReasonServiceDisabled
	case ans.Status == http.StatusUnauthorized || e.Detail == "ACCESS_TOKEN_SCOPE_INSUFFICIENT":
		e.Reason = ReasonUnauthenticated
	case ans.Status == http.StatusForbidden:
		e.Reason = ReasonPermissionDenied
	case ans.Status == http.StatusNotFound && e.Code == "NOT_FOUND":
		e.Reason = ReasonUnknownAccount
	default:
		e.Reason = ReasonRefused
	}
	return e
}
