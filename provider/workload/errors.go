package workload

import (
	"fmt"
	"strings"
	"time"

	"github.com/mailoauth/mailoauth/internal/fetch"
	"github.com/mailoauth/mailoauth/provider"
)

// Reason classifies an Error: branch on it, not on the text.
type Reason string

// The reasons of an Error. DiagnosisCode returns "workload: " + the reason.
const (
	// ReasonIdentityNotFound: the managed identity endpoint knows no
	// identity to give a token of: none is assigned to this resource, or
	// none with the client, object or resource ID given.
	ReasonIdentityNotFound Reason = "identity not found"
	// ReasonMultipleIdentities: several user-assigned identities are
	// assigned and the request named none of them.
	ReasonMultipleIdentities Reason = "multiple identities"
	// ReasonUnknownResource: the tenant knows no resource (application ID
	// URI) of that name: the audience is misspelt, or it is not a Microsoft
	// resource such as https://outlook.office365.com.
	ReasonUnknownResource Reason = "unknown resource"
	// ReasonThrottled: HTTP 429 after every attempt; RetryAfter says how
	// long the endpoint asked to wait, when it did.
	ReasonThrottled Reason = "throttled"
	// ReasonUnavailable: no usable answer after every attempt: the endpoint
	// failed (5xx), was updating (the metadata service's 404 and 410), or
	// could not be reached (Err holds the network error): not running on
	// the platform, or no identity enabled there.
	ReasonUnavailable Reason = "unavailable"
	// ReasonRefused: any other refusal (HTTP 4xx); Code and Description
	// hold the endpoint's words.
	ReasonRefused Reason = "refused"
	// ReasonBadAnswer: an answer that is not one: not JSON, too large,
	// without a token or without an expiry.
	ReasonBadAnswer Reason = "bad answer"
	// ReasonTokenFile: the token file cannot be read or is empty.
	ReasonTokenFile Reason = "token file"
	// ReasonExpired: the token read has already expired: the file was not
	// renewed (Kubernetes renews a projected token well before it expires).
	ReasonExpired Reason = "expired"
)

// Error is a failure to get a token from the platform: the endpoint's
// answer as data, or why there was none. Branch on Reason. It never holds
// a token, the GitHub request token or App Service's identity header.
//
// Error implements provider.Replier with the endpoint's answer (Layer
// OAuth: the HTTP status, the answer's error code, its description and
// the wait it asked for), and DiagnosisCode with the classification.
type Error struct {
	// Source is where the token was asked for: "managed identity (IMDS)",
	// "managed identity (App Service)", "GitHub Actions", "token file".
	Source string
	Reason Reason
	// Endpoint is the URL asked (without its query), or the token file.
	Endpoint string
	// Status is the HTTP status of the answer; zero when there was none.
	Status int
	// Code is the answer's error code ("invalid_request"); empty when it had
	// none (App Service answers carry only a message).
	Code string
	// Description is the answer's text, scrubbed of anything secret.
	Description string
	// RetryAfter is the wait the endpoint asked for; zero when it did not.
	RetryAfter time.Duration
	// Err is the cause when there was no usable answer (a network or file
	// error); nil otherwise.
	Err error
}

// Error says what failed, the answer, and what usually helps.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "workload: %s", e.Source)
	if e.Endpoint != "" {
		fmt.Fprintf(&b, " %s", e.Endpoint)
	}
	fmt.Fprintf(&b, ": %s", e.Reason)
	b.WriteString(fetch.Describe(e.Status, []string{e.Code}, e.Description, e.Err, e.RetryAfter))
	if h := e.Reason.hint(); h != "" {
		b.WriteString("; " + h)
	}
	return b.String()
}

// hint is the step that usually helps.
func (r Reason) hint() string {
	switch r {
	case ReasonIdentityNotFound:
		return "assign a managed identity to this resource, or give the client ID of one that is assigned"
	case ReasonMultipleIdentities:
		return "give the client ID, object ID or resource ID of the user-assigned identity to use"
	case ReasonUnknownResource:
		return "check the resource: https://outlook.office365.com for Exchange Online, https://graph.microsoft.com for Microsoft Graph"
	case ReasonExpired:
		return "the file was not renewed: check the pod's projected service-account token volume"
	}
	return ""
}

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether a later attempt may succeed.
func (e *Error) Temporary() bool {
	return e.Reason == ReasonThrottled || e.Reason == ReasonUnavailable
}

// Reply returns the endpoint's answer for provider.Diagnose: Layer OAuth,
// Code the HTTP status, Response the answer's error code, Text its
// description, Wait its Retry-After. Without an answer (Status zero) the
// Reply is empty and Diagnose looks at Err instead.
func (e *Error) Reply() provider.Reply {
	if e.Status == 0 {
		return provider.Reply{}
	}
	return provider.Reply{Layer: provider.LayerOAuth, Code: e.Status, Response: e.Code, Text: e.Description,
		Wait: e.RetryAfter, Unusable: e.Reason == ReasonBadAnswer}
}

// DiagnosisCode is the classification as a catalogue code: "workload: "
// followed by the Reason ("workload: identity not found").
func (e *Error) DiagnosisCode() string { return "workload: " + string(e.Reason) }
