package oauth

import (
	"fmt"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/provider"
)

// TokenError is the identity provider's error answer (HTTP 4xx with an
// OAuth error code) to a token request or a device authorization request:
// invalid_grant, invalid_client, unauthorized_client, invalid_target,
// authorization_pending, ...
//
// Branch on Err.ErrorCode; Err.Body keeps the answer (Entra's
// error_codes, Google's error_subtype) for Diagnose. Every text of Err is
// scrubbed of the request's secrets, and Err.Response carries status and
// headers only.
type TokenError struct {
	Endpoint   string // the URL posted to, without query
	Grant      string // the grant_type of the request, or DeviceAuthorizationRequest
	StatusCode int
	Err        *oauth2.RetrieveError
}

func (e *TokenError) Error() string {
	s := fmt.Sprintf("oauth: %s %s refused %s (HTTP %d): %s", endpointName(e.Grant), e.Endpoint, requestName(e.Grant), e.StatusCode, e.Err.ErrorCode)
	if e.Err.ErrorDescription != "" {
		s += ": " + firstLine(e.Err.ErrorDescription)
	}
	return s
}

// Unwrap returns the *oauth2.RetrieveError.
func (e *TokenError) Unwrap() error { return e.Err }

// Code returns the OAuth error code (the answer's "error").
func (e *TokenError) Code() string { return e.Err.ErrorCode }

// UnavailableError is an answer of HTTP 429 or 5xx from a token endpoint
// or a device authorization endpoint:
// the service is throttling or failing, nothing is wrong with the request.
// Retry after RetryAfter (zero when the server did not say).
type UnavailableError struct {
	Endpoint   string
	Grant      string
	StatusCode int
	RetryAfter time.Duration
	// Err holds the answer; its ErrorCode is set when the body carried an
	// OAuth error (Entra answers temporarily_unavailable with error_codes).
	Err *oauth2.RetrieveError
}

func (e *UnavailableError) Error() string {
	s := fmt.Sprintf("oauth: %s %s unavailable for %s (HTTP %d)", endpointName(e.Grant), e.Endpoint, requestName(e.Grant), e.StatusCode)
	if e.Err != nil && e.Err.ErrorCode != "" {
		s += ": " + e.Err.ErrorCode
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf("; retry after %s", e.RetryAfter)
	}
	return s
}

// Unwrap returns the *oauth2.RetrieveError.
func (e *UnavailableError) Unwrap() error { return e.Err }

// Temporary reports true: the request may succeed later.
func (e *UnavailableError) Temporary() bool { return true }

// ResponseError is an answer a token endpoint (or a device authorization
// endpoint) should never give: not JSON, larger than MaxTokenResponse,
// without access_token, an error without an error code. It usually means
// the URL points at something that is not such an endpoint (a proxy's
// login page, a wrong host).
type ResponseError struct {
	Endpoint   string
	Grant      string
	StatusCode int
	Reason     string
	Err        *oauth2.RetrieveError // set for a non-2xx answer; nil otherwise
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("oauth: %s %s gave an unusable answer to %s (HTTP %d): %s", endpointName(e.Grant), e.Endpoint, requestName(e.Grant), e.StatusCode, e.Reason)
}

// Unwrap returns the *oauth2.RetrieveError, if any.
func (e *ResponseError) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return e.Err
}

// NetworkError is a failure to reach a token endpoint (or a device
// authorization endpoint) or to read its answer: DNS, TCP, TLS, a timeout or a cancelled context (errors.Is finds
// context.Canceled and context.DeadlineExceeded through it).
type NetworkError struct {
	Endpoint string
	Grant    string
	Err      error
	text     string // Err's text without the request's secrets (a malformed answer may be quoted); "" when Err's is used
}

func (e *NetworkError) Error() string {
	text := e.text
	if text == "" && e.Err != nil {
		text = e.Err.Error()
	}
	return fmt.Sprintf("oauth: %s %s unreachable for %s: %s", endpointName(e.Grant), e.Endpoint, requestName(e.Grant), text)
}

// Unwrap returns the transport's error.
func (e *NetworkError) Unwrap() error { return e.Err }

// Temporary reports true: the request may succeed later.
func (e *NetworkError) Temporary() bool { return true }

// firstLine cuts Entra's multi-line descriptions (trace and correlation ids
// follow the first line) for a one-line error message.
func firstLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\r' || s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}

// DeviceAuthorizationRequest is the Grant of the errors of a device
// authorization request (RFC 8628 section 3.1), which is no grant: it goes
// to the device authorization endpoint, not to the token endpoint.
const DeviceAuthorizationRequest = "device authorization"

// endpointName names the endpoint a request of grant goes to.
func endpointName(grant string) string {
	if grant == DeviceAuthorizationRequest {
		return provider.EndpointDeviceAuthorization
	}
	return provider.EndpointToken
}

// requestName names a request of grant in an error message.
func requestName(grant string) string {
	if grant == DeviceAuthorizationRequest {
		return "the device authorization request"
	}
	return grant + " grant"
}

// Reply returns the answer for provider.Diagnose.
func (e *TokenError) Reply() provider.Reply {
	return provider.Reply{Layer: provider.LayerOAuth, Code: e.StatusCode, Response: e.Err.ErrorCode, Text: e.Err.ErrorDescription,
		Endpoint: endpointName(e.Grant)}
}

// Reply returns the answer for provider.Diagnose.
func (e *UnavailableError) Reply() provider.Reply {
	r := provider.Reply{Layer: provider.LayerOAuth, Code: e.StatusCode, Wait: e.RetryAfter, Endpoint: endpointName(e.Grant)}
	if e.Err != nil {
		r.Response, r.Text = e.Err.ErrorCode, e.Err.ErrorDescription
	}
	return r
}

// Reply returns the answer for provider.Diagnose.
func (e *ResponseError) Reply() provider.Reply {
	return provider.Reply{Layer: provider.LayerOAuth, Code: e.StatusCode, Unusable: true, Endpoint: endpointName(e.Grant)}
}
