package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/retry"
)

// maxSeconds bounds every number of seconds a server names (a token's
// expires_in, a device code's expires_in and interval): one year. A
// larger value is refused as implausible; it would otherwise give a token
// that in practice never expires.
const maxSeconds = 366 * 24 * 60 * 60

// token turns x/oauth2's outcome (tok, xerr) of a grant into ours: the
// token with its Expiry counted on the Client's clock, or the typed error
// of the answer.
func (x *exchange) token(tok *oauth2.Token, xerr error) (*oauth2.Token, error) {
	a, err := x.outcome(xerr)
	if err != nil {
		return nil, err
	}
	if a.oversized() || !a.ok() {
		return nil, x.refusal(a, xerr)
	}
	var re *oauth2.RetrieveError
	if errors.As(xerr, &re) || errorCode(a) != "" {
		// A 200 carrying an OAuth error, as x/oauth2 reads it too (its
		// JWT grant does not look).
		return nil, x.refusal(a, xerr)
	}
	expiresIn, reason := checkTokenAnswer(a, x.scrubber())
	if reason == "" && (xerr != nil || tok == nil) {
		// x/oauth2 could not read what we can: its reason, without the
		// secrets it may quote.
		reason = "golang.org/x/oauth2 cannot read the answer"
		if xerr != nil {
			reason += ": " + xerr.Error()
		}
	}
	if reason != "" {
		return nil, x.unusable(a, reason, nil)
	}
	tok.TokenType = "Bearer"
	tok.ExpiresIn = expiresIn
	tok.Expiry = time.Time{}
	if expiresIn > 0 {
		tok.Expiry = x.c.now().Add(time.Duration(expiresIn) * time.Second)
	}
	return tok, nil
}

// checkTokenAnswer checks a 2xx answer as RFC 6749 section 5.1 describes
// it and returns its expires_in, or why it cannot be used; a value the
// reason quotes is scrubbed by sc first.
func checkTokenAnswer(a *answer, sc scrubber) (expiresIn int64, reason string) {
	if mt, _, _ := mime.ParseMediaType(a.header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" || mt == "text/plain" {
		// Some old endpoints (GitHub's) answer with a form; none of ours.
		return 0, "answer is " + mt + ", not JSON"
	}
	var tj struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(a.body, &tj); err != nil {
		return 0, "answer is not a JSON object: " + jsonErrorReason(err)
	}
	if tj.AccessToken == "" {
		return 0, "answer has no access_token"
	}
	if tj.TokenType != "" && !strings.EqualFold(tj.TokenType, "bearer") {
		return 0, fmt.Sprintf("token_type %q is not Bearer", truncate(sc.text(tj.TokenType), 40))
	}
	n, err := parseSeconds("expires_in", tj.ExpiresIn, sc)
	if err != nil {
		return 0, err.Error()
	}
	if n == 0 && len(tj.ExpiresIn) > 0 && string(tj.ExpiresIn) != "null" {
		return 0, "expires_in is 0: the token would expire at once"
	}
	return n, ""
}

// parseSeconds reads a number of seconds: a JSON integer, or a string
// holding one (some servers quote it), from 0 to maxSeconds. Absent or
// null gives 0. NaN, infinities, fractions, exponents and anything out of
// range are refused; the error quotes the value scrubbed by sc.
func parseSeconds(name string, raw json.RawMessage, sc scrubber) (int64, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return 0, nil
	}
	if strings.HasPrefix(s, `"`) {
		var q string
		if err := json.Unmarshal(raw, &q); err != nil {
			return 0, fmt.Errorf("%s is not a number", name)
		}
		s = strings.TrimSpace(q)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > maxSeconds {
		return 0, fmt.Errorf("%s %q is not a whole number of seconds from 0 to %d", name, truncate(sc.text(s), 20), maxSeconds)
	}
	return n, nil
}

// refusal is the typed error of an answer that is not a token: a
// *TokenError, *UnavailableError or *ResponseError wrapping an
// *oauth2.RetrieveError that keeps the answer, scrubbed of every secret
// the request carried.
func (x *exchange) refusal(a *answer, xerr error) error {
	sc := x.scrubber()
	if a.oversized() {
		return x.unusable(a, fmt.Sprintf("answer larger than %d bytes", MaxTokenResponse), nil)
	}
	re := &oauth2.RetrieveError{}
	var xre *oauth2.RetrieveError
	if errors.As(xerr, &xre) {
		// x/oauth2 read the error members (from JSON or a form).
		re.ErrorCode, re.ErrorDescription, re.ErrorURI = xre.ErrorCode, xre.ErrorDescription, xre.ErrorURI
	}
	var ej struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
		ErrorURI         string `json:"error_uri"`
	}
	jsonOK := json.Unmarshal(a.body, &ej) == nil
	if re.ErrorCode == "" && jsonOK {
		// x/oauth2's JWT grant and device authorization leave them to us.
		re.ErrorCode, re.ErrorDescription, re.ErrorURI = ej.Error, ej.ErrorDescription, ej.ErrorURI
	}
	re.ErrorCode = sc.text(re.ErrorCode)
	re.ErrorDescription = sc.text(re.ErrorDescription)
	re.ErrorURI = sc.text(re.ErrorURI)
	re.Body = sc.bytes(a.body)
	re.Response = a.response(sc)

	endpoint := redactURL(x.endpoint)
	switch {
	case a.status == http.StatusTooManyRequests || a.status >= 500:
		return &UnavailableError{Endpoint: endpoint, Grant: x.grant, StatusCode: a.status,
			RetryAfter: retry.RetryAfter(a.header.Get("Retry-After"), x.c.now()), Err: re}
	case a.status >= 300 && a.status <= 399:
		return x.unusable(a, "the "+endpointName(x.grant)+" redirects elsewhere (a proxy's login page, a wrong URL?)", re)
	case re.ErrorCode == "":
		reason := "error answer without an OAuth error code"
		if !jsonOK {
			reason = "error answer is not JSON"
		}
		return x.unusable(a, reason, re)
	}
	return &TokenError{Endpoint: endpoint, Grant: x.grant, StatusCode: a.status, Err: re}
}

// unusable is a *ResponseError for a; its reason is scrubbed, since it may
// quote the answer.
func (x *exchange) unusable(a *answer, reason string, re *oauth2.RetrieveError) error {
	return &ResponseError{Endpoint: redactURL(x.endpoint), Grant: x.grant, StatusCode: a.status,
		Reason: x.scrubber().text(reason), Err: re}
}

// response is a stand-in for the answer's *http.Response inside a
// RetrieveError: status and scrubbed headers, no body and no request
// (through which the request's form could be read again).
func (a *answer) response(sc scrubber) *http.Response {
	h := make(http.Header, len(a.header))
	for k, vs := range a.header {
		for _, v := range vs {
			h.Add(k, sc.text(v))
		}
	}
	return &http.Response{
		Status:     fmt.Sprintf("%d %s", a.status, http.StatusText(a.status)),
		StatusCode: a.status,
		Proto:      a.proto,
		Header:     h,
		Body:       http.NoBody,
	}
}

func jsonErrorReason(err error) string {
	// encoding/json's messages name types and offsets, and at most a
	// character of the input; keep them short anyway.
	return truncate(err.Error(), 120)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
