package oauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// exchange is one call into golang.org/x/oauth2 (a grant, a device
// authorization, a device polling run). x/oauth2 builds each request and
// reads each answer; it sends them through the exchange, which it gets as
// the Transport of the http.Client under the oauth2.HTTPClient context key.
// The exchange adds the Client's credential to each request (x/oauth2 can
// send a client secret but not a client assertion signed anew for each
// request, golang/oauth2#744), keeps every secret the request carries so
// that nothing derived from the answer repeats one, and keeps the answer
// itself, which the typed errors are made from.
//
// An exchange posts to one URL: a request anywhere else, a redirect
// included, is refused, so that no secret is sent where it was not meant
// to go.
type exchange struct {
	c        *Client
	ctx      context.Context // the caller's; requests x/oauth2 makes without one get it
	grant    string
	endpoint string // the URL the requests go to
	base     http.RoundTripper

	mu        sync.Mutex // guards the fields below (written by RoundTrip, read once x/oauth2 returns)
	secrets   []string   // every secret sent, in every request of the call
	ans       *answer    // the last answer, or nil
	netErr    error      // the last request's transport failure, or nil
	credErr   error      // the credential could not be made, or Params are wrong: nothing was sent
	slowDowns int        // slow_down answers seen (device polling)
}

// answer is what a token endpoint answered, read in full (up to
// MaxTokenResponse bytes and one more, to tell an oversized answer).
type answer struct {
	status int
	proto  string
	header http.Header
	body   []byte
}

func (a *answer) ok() bool        { return a.status >= 200 && a.status <= 299 }
func (a *answer) oversized() bool { return len(a.body) > MaxTokenResponse }

// newExchange prepares a call of grant to endpoint.
func (c *Client) newExchange(ctx context.Context, grant, endpoint string) *exchange {
	base := http.DefaultTransport
	if c.HTTPClient != nil && c.HTTPClient.Transport != nil {
		base = c.HTTPClient.Transport
	}
	if u, err := url.Parse(endpoint); err == nil {
		endpoint = u.String() // as x/oauth2's request will show it
	}
	return &exchange{c: c, ctx: ctx, grant: grant, endpoint: endpoint, base: base}
}

// context returns the caller's context carrying the exchange's http.Client
// for x/oauth2. The client follows no redirect: a token endpoint that
// redirects gets a *ResponseError, and the form is not posted again. The
// Client's HTTPClient.Timeout is applied by RoundTrip, on the caller's
// context.
func (x *exchange) context() context.Context {
	hc := &http.Client{
		Transport:     x,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return context.WithValue(x.ctx, oauth2.HTTPClient, hc)
}

// RoundTrip adds the credential to x/oauth2's request, sends it and keeps
// the answer.
func (x *exchange) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.String() != x.endpoint {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("oauth: refused to send a %s request to %s: it goes to %s only", x.grant, redactURL(req.URL.String()), redactURL(x.endpoint))
	}
	form, err := readForm(req)
	if err != nil {
		return nil, x.failed(fmt.Errorf("oauth: read the %s request: %w", x.grant, err))
	}
	if err := CheckParams(x.c.Params); err != nil {
		return nil, x.refuseCredential(err)
	}
	for k, vs := range x.c.Params {
		form[k] = append([]string(nil), vs...)
	}
	header := http.Header{}
	if x.c.Auth != nil {
		// The assertion's audience is the token endpoint, also on the
		// device authorization endpoint (RFC 8628 section 3.1 asks
		// confidential clients to authenticate there as at the token
		// endpoint).
		if err := x.c.Auth.Apply(x.ctx, x.c.TokenURL, form, header); err != nil {
			return nil, x.refuseCredential(err)
		}
	}
	x.keepSecrets(form, header)

	ctx := req.Context()
	if ctx.Done() == nil {
		ctx = x.ctx // x/oauth2 builds the device authorization and JWT requests without the caller's context
	}
	if x.c.HTTPClient != nil && x.c.HTTPClient.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, x.c.HTTPClient.Timeout)
		defer cancel() // the answer is read in full before RoundTrip returns
	}
	body := form.Encode()
	out := req.Clone(ctx)
	out.Body = io.NopCloser(strings.NewReader(body))
	out.GetBody = nil
	out.ContentLength = int64(len(body))
	out.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	out.Header.Set("Accept", "application/json")
	out.Header.Del("Authorization") // x/oauth2's, if any: the credential is ours alone
	for k, vs := range header {
		out.Header[k] = vs
	}

	start := time.Now()
	resp, err := x.base.RoundTrip(out)
	if err != nil {
		x.c.logger().DebugContext(ctx, "token request failed", "endpoint", redactURL(x.endpoint), "grant", x.grant, "err", x.scrubber().text(err.Error()))
		return nil, x.failed(err)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxTokenResponse+1))
	resp.Body.Close()
	if err != nil {
		return nil, x.failed(err)
	}
	x.c.logger().DebugContext(ctx, "token request", "endpoint", redactURL(x.endpoint), "grant", x.grant,
		"status", resp.StatusCode, "bytes", len(b), "duration", time.Since(start))
	a := &answer{status: resp.StatusCode, proto: resp.Proto, header: resp.Header.Clone(), body: b}
	x.mu.Lock()
	x.ans, x.netErr = a, nil
	if x.grant == GrantDeviceCode && errorCode(a) == deviceSlowDown {
		x.slowDowns++
	}
	x.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// failed records a transport failure of the last request.
func (x *exchange) failed(err error) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.ans, x.netErr = nil, err
	return err
}

// refuseCredential records that the request could not be made: the
// credential or the parameters are wrong, and nothing was sent.
func (x *exchange) refuseCredential(err error) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.credErr = err
	return err
}

// keepSecrets keeps the secrets a request carries: the form's, and an
// HTTP Basic credential in header (the header as sent, and the secret
// after the colon, encoded and decoded).
func (x *exchange) keepSecrets(form url.Values, header http.Header) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, p := range secretParams {
		x.secrets = append(x.secrets, form[p]...)
	}
	if enc, ok := strings.CutPrefix(header.Get("Authorization"), "Basic "); ok {
		x.secrets = append(x.secrets, enc)
		if b, err := base64.StdEncoding.DecodeString(enc); err == nil {
			if _, pass, ok := strings.Cut(string(b), ":"); ok {
				x.secrets = append(x.secrets, pass)
				if v, err := url.QueryUnescape(pass); err == nil {
					x.secrets = append(x.secrets, v)
				}
			}
		}
	}
}

func (x *exchange) scrubber() scrubber {
	x.mu.Lock()
	defer x.mu.Unlock()
	return newScrubber(x.secrets)
}

// outcome returns what the requests produced: the last answer, or nil with
// the error that stands for the call (a credential that could not be made,
// a transport failure, or x/oauth2's own error when nothing was sent).
func (x *exchange) outcome(xerr error) (*answer, error) {
	x.mu.Lock()
	a, netErr, credErr := x.ans, x.netErr, x.credErr
	x.mu.Unlock()
	switch {
	case credErr != nil:
		return nil, fmt.Errorf("oauth: %s request not sent: %w", x.grant, credErr)
	case netErr != nil:
		return nil, &NetworkError{Endpoint: redactURL(x.endpoint), Grant: x.grant, Err: netErr, text: x.scrubber().text(netErr.Error())}
	case a != nil:
		return a, nil
	case xerr == nil:
		return nil, fmt.Errorf("oauth: %s: golang.org/x/oauth2 sent no request and reported no error", x.grant)
	case x.ctx.Err() != nil:
		return nil, &NetworkError{Endpoint: redactURL(x.endpoint), Grant: x.grant, Err: xerr}
	}
	return nil, fmt.Errorf("oauth: %s grant: %w", x.grant, xerr)
}

// readForm reads and closes req's form body.
func readForm(req *http.Request) (url.Values, error) {
	if req.Body == nil {
		return url.Values{}, nil
	}
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	return url.ParseQuery(string(b))
}

// errorCode reads the OAuth error code of an answer, if it has one.
func errorCode(a *answer) string {
	var ej struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(a.body, &ej) != nil {
		return ""
	}
	return ej.Error
}

// redactURL is u without query, fragment or user info, for messages.
func redactURL(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	pu.User = nil
	pu.RawQuery = ""
	pu.Fragment = ""
	return pu.String()
}
