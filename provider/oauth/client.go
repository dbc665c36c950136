package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/retry"
)

// MaxTokenResponse is the largest token-endpoint answer read, in bytes. A
// larger body is refused with a *ResponseError.
const MaxTokenResponse = 1 << 20

// Grant types posted by the flows of this module.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
	GrantJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// Client is one OAuth client (an app registration) at one authorization
// server's token endpoint: it posts grant forms and parses the answers. It
// is the one token-endpoint client of the module: the Entra and Google
// packages and the authorization flows go through it.
//
// A Client is plain data: set the fields, then use it from any number
// of goroutines; do not change the fields while requests are in flight.
type Client struct {
	// ID is the client_id.
	ID string
	// TokenURL is the token endpoint.
	TokenURL string
	// Auth authenticates the client; nil: a public client (client_id only).
	Auth ClientAuth
	// HTTPClient carries every request; nil: http.DefaultClient.
	HTTPClient *http.Client
	// Logger receives one debug line per request (grant, status, duration);
	// never a token, secret, code or assertion. nil: discard.
	Logger *slog.Logger
	// Clock turns expires_in into Token.Expiry; nil: retry.System.
	Clock retry.Clock
}

// ClientAuth authenticates the client in a token request (RFC 6749
// section 2.3).
type ClientAuth interface {
	// Apply adds the client's credential to form (client_secret, or
	// client_assertion_type + client_assertion). tokenURL is the endpoint the
	// form goes to (the audience of an assertion).
	Apply(ctx context.Context, tokenURL string, form url.Values) error
}

// ClientSecretPost returns a ClientAuth that sends secret as client_secret
// in the form body (client_secret_post). The secret never appears in its
// String or GoString output.
func ClientSecretPost(secret string) ClientAuth {
	return clientSecret{secret: secret}
}

type clientSecret struct{ secret string }

func (c clientSecret) Apply(_ context.Context, _ string, form url.Values) error {
	if c.secret == "" {
		return fmt.Errorf("oauth: client secret is empty")
	}
	form.Set("client_secret", c.secret)
	return nil
}

func (clientSecret) String() string   { return "ClientSecretPost(redacted)" }
func (clientSecret) GoString() string { return "oauth.ClientSecretPost(redacted)" }

// Do posts form (grant_type and the grant's parameters; client_id and the
// credential are added to a copy) and returns the token.
//
// Errors: an error answer from the identity provider is a *TokenError (4xx)
// or an *UnavailableError (429 and 5xx, with Retry-After), both wrapping
// *oauth2.RetrieveError whose Body keeps the raw answer so Diagnose can read
// error_codes; a body that is malformed, not JSON or over MaxTokenResponse
// is a *ResponseError; a failure to reach the endpoint is a *NetworkError.
// No secret, code, refresh token or assertion is ever part of an error.
func (e *Client) Do(ctx context.Context, form url.Values) (*oauth2.Token, error) {
	resp, body, err := e.post(ctx, form, true)
	if err != nil {
		return nil, err
	}
	return e.parseToken(form.Get("grant_type"), resp, body)
}

// post sends form (with client_id and, when withCredential, the credential
// added to a copy) and returns a 2xx answer's body, or the typed error of
// any other answer. It is shared with the device authorization request.
func (e *Client) post(ctx context.Context, form url.Values, withCredential bool) (*http.Response, []byte, error) {
	if e == nil || e.TokenURL == "" {
		return nil, nil, fmt.Errorf("oauth: token endpoint URL is empty")
	}
	grant := form.Get("grant_type")
	if grant == "" {
		grant = "device authorization"
	}
	f := make(url.Values, len(form)+3)
	for k, v := range form {
		f[k] = append([]string(nil), v...)
	}
	if e.ID != "" {
		f.Set("client_id", e.ID)
	}
	if withCredential && e.Auth != nil {
		if err := e.Auth.Apply(ctx, e.TokenURL, f); err != nil {
			return nil, nil, fmt.Errorf("oauth: token request (%s): client credential: %w", grant, err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.TokenURL, strings.NewReader(f.Encode()))
	if err != nil {
		return nil, nil, fmt.Errorf("oauth: token request (%s): %w", grant, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")

	client := e.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		e.logger().DebugContext(ctx, "token request failed", "endpoint", e.redactedURL(), "grant", grant, "err", err)
		return nil, nil, &NetworkError{Endpoint: e.redactedURL(), Grant: grant, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxTokenResponse+1))
	if err != nil {
		return nil, nil, &NetworkError{Endpoint: e.redactedURL(), Grant: grant, Err: err}
	}
	e.logger().DebugContext(ctx, "token request", "endpoint", e.redactedURL(), "grant", grant,
		"status", resp.StatusCode, "bytes", len(body), "duration", time.Since(start))
	if len(body) > MaxTokenResponse {
		return nil, nil, &ResponseError{Endpoint: e.redactedURL(), Grant: grant, StatusCode: resp.StatusCode,
			Reason: fmt.Sprintf("answer larger than %d bytes", MaxTokenResponse)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, nil, e.errorAnswer(grant, resp, body)
	}
	return resp, body, nil
}

// Refresh redeems a refresh token. scopes may be empty (the grant's scopes).
// When the answer carries no new refresh token, the returned token keeps
// refreshToken, so a caller can always store the result as it is.
func (e *Client) Refresh(ctx context.Context, refreshToken string, scopes []string) (*oauth2.Token, error) {
	if refreshToken == "" {
		return nil, fmt.Errorf("oauth: refresh: no refresh token")
	}
	form := url.Values{
		"grant_type":    {GrantRefreshToken},
		"refresh_token": {refreshToken},
	}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	tok, err := e.Do(ctx, form)
	if err != nil {
		return nil, err
	}
	if tok.RefreshToken == "" {
		tok.RefreshToken = refreshToken
	}
	return tok, nil
}

func (e *Client) logger() *slog.Logger {
	if e.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Logger
}

func (e *Client) now() time.Time { return retry.Or(e.Clock).Now() }

// redactedURL is the endpoint without query or user info, for messages.
func (e *Client) redactedURL() string {
	u, err := url.Parse(e.TokenURL)
	if err != nil {
		return "(unparsable token URL)"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

// tokenJSON is the success answer of RFC 6749 section 5.1.
type tokenJSON struct {
	AccessToken  string          `json:"access_token"`
	TokenType    string          `json:"token_type"`
	RefreshToken string          `json:"refresh_token"`
	ExpiresIn    json.RawMessage `json:"expires_in"`
}

// errorJSON is the error answer of RFC 6749 section 5.2.
type errorJSON struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorURI         string `json:"error_uri"`
}

func (e *Client) parseToken(grant string, resp *http.Response, body []byte) (*oauth2.Token, error) {
	bad := func(reason string) error {
		return &ResponseError{Endpoint: e.redactedURL(), Grant: grant, StatusCode: resp.StatusCode, Reason: reason}
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" || mt == "text/plain" {
		// Some old endpoints (GitHub) answer with a form; none of ours does.
		return nil, bad("answer is " + mt + ", not JSON")
	}
	var tj tokenJSON
	if err := json.Unmarshal(body, &tj); err != nil {
		return nil, bad("answer is not a JSON object: " + jsonErrorReason(err))
	}
	var extra map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&extra); err != nil {
		return nil, bad("answer is not a JSON object: " + jsonErrorReason(err))
	}
	if tj.AccessToken == "" {
		if code, _ := extra["error"].(string); code != "" {
			// A 200 carrying an error: treat it like the error answer it is.
			return nil, e.errorAnswer(grant, resp, body)
		}
		return nil, bad("answer has no access_token")
	}
	if tj.TokenType != "" && !strings.EqualFold(tj.TokenType, "bearer") {
		return nil, bad(fmt.Sprintf("token_type %q is not Bearer", truncate(tj.TokenType, 40)))
	}
	expiresIn, err := parseExpiresIn(tj.ExpiresIn)
	if err != nil {
		return nil, bad(err.Error())
	}
	tok := &oauth2.Token{
		AccessToken:  tj.AccessToken,
		TokenType:    "Bearer",
		RefreshToken: tj.RefreshToken,
		ExpiresIn:    expiresIn,
	}
	if expiresIn > 0 {
		tok.Expiry = e.now().Add(time.Duration(expiresIn) * time.Second)
	}
	return tok.WithExtra(extra), nil
}

// parseExpiresIn accepts a JSON number or a string holding one (some
// servers quote it); absent or null gives 0.
func parseExpiresIn(raw json.RawMessage) (int64, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return 0, nil
	}
	if strings.HasPrefix(s, `"`) {
		var q string
		if err := json.Unmarshal(raw, &q); err != nil {
			return 0, fmt.Errorf("expires_in is not a number")
		}
		s = strings.TrimSpace(q)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e10 {
		return 0, fmt.Errorf("expires_in %q is not a valid number of seconds", truncate(s, 20))
	}
	return int64(f), nil
}

func (e *Client) errorAnswer(grant string, resp *http.Response, body []byte) error {
	re := &oauth2.RetrieveError{Response: resp, Body: body}
	var ej errorJSON
	jsonOK := json.Unmarshal(body, &ej) == nil
	if jsonOK {
		re.ErrorCode = ej.Error
		re.ErrorDescription = ej.ErrorDescription
		re.ErrorURI = ej.ErrorURI
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return &UnavailableError{
			Endpoint:   e.redactedURL(),
			Grant:      grant,
			StatusCode: resp.StatusCode,
			RetryAfter: retry.RetryAfter(resp.Header.Get("Retry-After"), e.now()),
			Err:        re,
		}
	}
	if !jsonOK || ej.Error == "" {
		reason := "error answer without an OAuth error code"
		if !jsonOK {
			reason = "error answer is not JSON"
		}
		return &ResponseError{Endpoint: e.redactedURL(), Grant: grant, StatusCode: resp.StatusCode, Reason: reason, Err: re}
	}
	return &TokenError{Endpoint: e.redactedURL(), Grant: grant, StatusCode: resp.StatusCode, Err: re}
}

func jsonErrorReason(err error) string {
	// encoding/json's messages name types and offsets, never input bytes
	// beyond a single character; keep them short anyway.
	return truncate(err.Error(), 120)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// DeviceAuthorization is the answer to a device authorization request
// (RFC 8628 section 3.2).
type DeviceAuthorization struct {
	DeviceCode      string
	UserCode        string
	VerificationURI string // Google spells it verification_url; either is read
	// VerificationURIComplete embeds the user code, for a QR code; empty
	// when the server sends none.
	VerificationURIComplete string
	Message                 string        // Entra's ready sentence; empty elsewhere
	ExpiresIn               time.Duration // zero when the server named none
	Interval                time.Duration // zero when the server named none
}

// deviceAuthJSON is the device authorization answer.
type deviceAuthJSON struct {
	DeviceCode              string          `json:"device_code"`
	UserCode                string          `json:"user_code"`
	VerificationURI         string          `json:"verification_uri"`
	VerificationURL         string          `json:"verification_url"`
	VerificationURIComplete string          `json:"verification_uri_complete"`
	ExpiresIn               json.RawMessage `json:"expires_in"`
	Interval                json.RawMessage `json:"interval"`
	Message                 string          `json:"message"`
}

// DeviceAuth posts a device authorization request for scopes to deviceURL
// (client_id and scope; no client credential, as RFC 8628 section 3.1 and
// both providers ask) and returns the answer. Errors are typed as Do's.
func (e *Client) DeviceAuth(ctx context.Context, deviceURL string, scopes []string) (*DeviceAuthorization, error) {
	de := *e
	de.TokenURL = deviceURL
	_, body, err := de.post(ctx, url.Values{"scope": {strings.Join(scopes, " ")}}, false)
	if err != nil {
		return nil, err
	}
	var da deviceAuthJSON
	if err := json.Unmarshal(body, &da); err != nil {
		return nil, fmt.Errorf("oauth: device authorization: answer is not JSON: %s", jsonErrorReason(err))
	}
	if da.DeviceCode == "" || da.UserCode == "" || (da.VerificationURI == "" && da.VerificationURL == "") {
		return nil, errors.New("oauth: device authorization: answer lacks device_code, user_code or verification_uri")
	}
	out := &DeviceAuthorization{
		DeviceCode:              da.DeviceCode,
		UserCode:                da.UserCode,
		VerificationURI:         da.VerificationURI,
		VerificationURIComplete: da.VerificationURIComplete,
		Message:                 da.Message,
	}
	if out.VerificationURI == "" {
		out.VerificationURI = da.VerificationURL
	}
	if n, err := parseExpiresIn(da.ExpiresIn); err == nil && n > 0 {
		out.ExpiresIn = time.Duration(n) * time.Second
	}
	if n, err := parseExpiresIn(da.Interval); err == nil && n > 0 {
		out.Interval = time.Duration(n) * time.Second
	}
	return out, nil
}
