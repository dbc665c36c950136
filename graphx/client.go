package graphx

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/internal/neterr"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/retry"
)

// Client makes Graph requests for one mailbox: it gets the bearer token
// from the mailbox's TokenSource, replaces a refused token once, keeps the
// mailbox's requests within Graph's limits, and retries what is safe to
// retry. Sending (Sender) and the receiving primitives (Delta, Open,
// MarkRead, Move, Delete) of one mailbox share its limits. It is safe for
// concurrent use.
type Client struct {
	mb         *provider.Mailbox
	userPath   string // root + "/users/" + the escaped user
	origin     string // scheme://host[:port] of the base URL
	http       *http.Client
	own        *http.Transport // nil when the caller gave the HTTP client
	log        *slog.Logger
	clock      retry.Clock
	backoff    retry.Backoff
	maxRetries int
	lim        *limiter
	messages   *window // nil: no cap on messages per minute
	maxRcpt    int
	addBcc     bool
	sendLimit  int64
	chunk      int64
	pageSize   int
	tempDir    string

	mu      sync.Mutex        // guards the fields below
	folders map[string]string // folder name (lower case) -> id, resolved once
	closed  bool
	calls   sync.WaitGroup
}

// New returns a Client for mb; a nil opts means the defaults. It sends no
// request. It fails when mb or opts cannot work: no token source, a bad
// address, a base URL that is not https.
func New(mb *provider.Mailbox, opts *Options) (*Client, error) {
	if opts == nil {
		opts = &Options{}
	}
	switch {
	case mb == nil:
		return nil, errors.New("graphx: nil Mailbox")
	case mb.Tokens == nil:
		return nil, errors.New("graphx: Mailbox.Tokens is nil")
	}
	if err := provider.CheckAddress("mailbox", mb.Address); err != nil {
		return nil, fmt.Errorf("graphx: %w", err)
	}
	base := opts.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(strings.TrimRight(base, "/"))
	switch {
	case err != nil:
		return nil, fmt.Errorf("graphx: Options.BaseURL: %w", err)
	case u.Scheme != "https" || u.Host == "":
		return nil, fmt.Errorf("graphx: Options.BaseURL %q: must be an https URL: the bearer token travels with every request", base)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return nil, fmt.Errorf("graphx: Options.BaseURL %q: no query, fragment or user info", base)
	}
	user := opts.User
	if user == "" {
		user = mb.Address
	}
	if strings.ContainsAny(user, "\r\n\x00/") {
		return nil, fmt.Errorf("graphx: Options.User %q is not a user id or principal name", user)
	}
	if opts.ChunkSize > maxChunkSize || opts.ChunkSize < 0 {
		return nil, fmt.Errorf("graphx: Options.ChunkSize %d: at most %d", opts.ChunkSize, maxChunkSize)
	}
	c := &Client{
		mb:         mb,
		origin:     u.Scheme + "://" + u.Host,
		log:        opts.Logger,
		clock:      retry.Or(opts.Clock),
		backoff:    opts.Backoff.Or(DefaultBackoff),
		maxRetries: opts.MaxRetries,
		maxRcpt:    firstPositive(opts.MaxRecipients, mb.Limits.MaxRecipients),
		addBcc:     opts.AddBcc,
		sendLimit:  opts.SendMailLimit,
		chunk:      opts.ChunkSize,
		pageSize:   opts.PageSize,
		tempDir:    opts.TempDir,
		folders:    make(map[string]string),
	}
	c.userPath = u.Scheme + "://" + u.Host + u.EscapedPath() + apiVersion + "/users/" + url.PathEscape(user)
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.sendLimit <= 0 {
		c.sendLimit = DefaultSendMailLimit
	}
	if c.chunk == 0 {
		c.chunk = DefaultChunkSize
	}
	if c.pageSize <= 0 {
		c.pageSize = DefaultPageSize
	}
	concurrent := opts.MaxConcurrent
	if concurrent == 0 {
		concurrent = mb.Limits.MaxConns
	}
	if concurrent == 0 {
		concurrent = DefaultMaxConcurrent
	}
	requests := opts.MaxRequests
	if requests == 0 {
		requests = DefaultMaxRequests
	}
	c.lim = newLimiter(c.clock, concurrent, requests, RequestWindow)
	if n := firstPositive(opts.MessagesPerMinute, mb.Limits.MessagesPerMinute); n > 0 {
		c.messages = newWindow(n, messageWindow)
	}
	if err := c.setHTTP(opts, max(concurrent, 1)); err != nil {
		return nil, err
	}
	return c, nil
}

// messageWindow is the span MessagesPerMinute is counted in.
const messageWindow = time.Minute

// setHTTP sets the client that sends the requests: a copy of the
// caller's that follows no redirect, or one of the Client's own.
func (c *Client) setHTTP(opts *Options, conns int) error {
	if opts.HTTPClient != nil {
		hc := *opts.HTTPClient
		hc.CheckRedirect = noRedirects
		c.http = &hc
		return nil
	}
	cfg := &tls.Config{}
	if opts.TLSConfig != nil {
		cfg = opts.TLSConfig.Clone()
	}
	if cfg.InsecureSkipVerify {
		return errors.New("graphx: TLSConfig.InsecureSkipVerify is refused: a token must only go to a verified server")
	}
	cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS12)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = cfg
	t.MaxIdleConnsPerHost = conns
	t.ForceAttemptHTTP2 = true
	t.Proxy = nil // the token goes to Graph and nowhere else
	c.own = t
	c.http = &http.Client{Transport: t, CheckRedirect: noRedirects}
	return nil
}

// noRedirects keeps the answer of a redirect: a bearer token is never
// replayed to where a redirect points.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func firstPositive(a, b int) int {
	if a > 0 {
		return a
	}
	return max(b, 0)
}

// Close stops new operations, waits for those in flight and closes the
// idle connections of the Client's own transport. Bodies from Open that
// are still unread keep their requests in flight: close them first.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.calls.Wait()
	if c.own != nil {
		c.own.CloseIdleConnections()
	}
	return nil
}

// enter registers an operation in flight, unless the Client is closed.
func (c *Client) enter() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	c.calls.Add(1)
	return nil
}

// Mailbox returns the mailbox the Client acts for.
func (c *Client) Mailbox() *provider.Mailbox { return c.mb }

// request is one Graph operation as do runs it.
type request struct {
	phase  Phase
	method string
	url    string // absolute
	// body returns a fresh body for each attempt; nil: none.
	body   func() (io.Reader, error)
	length int64  // the body's length
	ctype  string // the body's Content-Type
	accept []int  // the statuses that succeed
	// safe: repeating the request after its answer was lost changes
	// nothing that matters (GET, PATCH, DELETE, a move by immutable id,
	// a draft nobody sends). Only safe requests are retried after they
	// reached Graph.
	safe bool
	// sends: the request sends mail; when it reached Graph whole and the
	// answer was lost, the error is Uncertain.
	sends bool
	// upload: a pre-authenticated upload URL, which never gets the
	// bearer token (nor the Prefer header of Graph).
	upload bool
	// prefer holds Prefer values beyond IdType="ImmutableId".
	prefer []string
	// header holds more header fields.
	header http.Header
	// secrets are scrubbed from the answer's text besides the token.
	secrets []string
	// noRetry leaves every retry to the caller.
	noRetry bool
}

// preferImmutableID makes Graph use immutable message ids, which survive a
// move between folders (https://learn.microsoft.com/en-us/graph/outlook-immutable-id).
// The header applies to the request that carries it, so every request
// carries it.
const preferImmutableID = `IdType="ImmutableId"`

// staleTokenCode is Graph's code for an expired or invalid token.
const staleTokenCode = "InvalidAuthenticationToken"

// do runs r: it waits for the mailbox's limits, sends the request with
// the bearer token, replaces a refused token once, and retries temporary
// failures within MaxRetries while that cannot do anything twice. On
// success the caller must close the response's body, which ends the
// request for the limits.
func (c *Client) do(ctx context.Context, r *request) (*http.Response, error) {
	var (
		tok       *oauth2.Token
		refreshed bool // a refused token was invalidated already
		retries   int
	)
	maxRetries := c.maxRetries
	if r.noRetry {
		maxRetries = 0
	}
	for {
		release, err := c.lim.acquire(ctx)
		if err != nil {
			return nil, &Error{Phase: r.phase, Message: "interrupted", Err: err}
		}
		var e *Error
		if !r.upload && tok == nil {
			tok, err = c.mb.Tokens.Token(ctx)
			if err == nil && (tok == nil || tok.AccessToken == "") {
				err = errors.New("the token source returned no access token")
			}
			if err != nil {
				release()
				tok = nil
				e = tokenError(ctx, err)
			}
		}
		var reached bool
		if e == nil {
			var resp *http.Response
			resp, reached, err = c.roundTrip(ctx, r, tok)
			switch {
			case err != nil:
				release()
				e = c.transportError(ctx, r, reached, err)
			case accepts(r.accept, resp.StatusCode):
				resp.Body = &releaseBody{ReadCloser: resp.Body, release: release}
				return resp, nil
			default:
				e = answerError(r.phase, resp.StatusCode, resp.Header, resp.Body, append(secretsOf(tok), r.secrets...)...)
				resp.Body.Close()
				release()
				reached = c.classify(e, r, resp)
				// Graph's wait holds for every request of the mailbox,
				// whether or not this one is tried again.
				c.lim.pause(e.Wait)
				if e.Status == http.StatusUnauthorized && !r.upload && staleToken(e, resp.Header) {
					if !refreshed {
						refreshed = true
						c.log.InfoContext(ctx, "graphx: Graph refused the access token; retrying with a fresh one",
							"phase", string(r.phase), "mailbox", c.mb.Address)
						c.mb.Tokens.Invalidate(tok)
						tok = nil
						continue
					}
					e.Retried = true
				}
			}
		}
		if !e.Temporary || reached && !r.safe || retries >= maxRetries || ctx.Err() != nil {
			return nil, e
		}
		retries++
		tok = nil // the source's current one: a wait may have outlived it
		c.log.DebugContext(ctx, "graphx: retrying after a temporary failure",
			"phase", string(r.phase), "attempt", retries, "error", e.Error())
		if err := c.waitRetry(ctx, e, retries); err != nil {
			return nil, e
		}
	}
}

// waitRetry waits before the next attempt after the n-th failure e in a
// row: the backoff, unless Graph said how long to wait, which the mailbox's
// limiter enforces on every request (do set the pause).
func (c *Client) waitRetry(ctx context.Context, e *Error, n int) error {
	if e.Wait > 0 {
		return ctx.Err()
	}
	return c.clock.Sleep(ctx, c.backoff.Delay(n))
}

// roundTrip sends one attempt of r and reports whether the whole request
// was written.
func (c *Client) roundTrip(ctx context.Context, r *request, tok *oauth2.Token) (*http.Response, bool, error) {
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			wrote.Store(true)
		}
	}}
	var body io.Reader
	if r.body != nil {
		b, err := r.body()
		if err != nil {
			return nil, false, err
		}
		body = b
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), r.method, r.url, body)
	if err != nil {
		return nil, false, err
	}
	if r.body != nil {
		req.ContentLength = r.length
		if r.length == 0 {
			req.Body = http.NoBody
		}
		req.GetBody = func() (io.ReadCloser, error) {
			b, err := r.body()
			if err != nil {
				return nil, err
			}
			return io.NopCloser(b), nil
		}
		if r.ctype != "" {
			req.Header.Set("Content-Type", r.ctype)
		}
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if !r.upload {
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Add("Prefer", preferImmutableID)
		for _, p := range r.prefer {
			req.Header.Add("Prefer", p)
		}
	}
	resp, err := c.http.Do(req)
	return resp, wrote.Load(), err
}

// transportError classifies a request that got no answer.
func (c *Client) transportError(ctx context.Context, r *request, wrote bool, err error) *Error {
	cause := transportCause(err)
	what := "no answer"
	if !wrote {
		what = "request failed"
	}
	e := &Error{Phase: r.phase, Message: what, Err: cause}
	switch {
	case wrote && r.sends:
		e.Uncertain = true
		e.Message = "the answer was lost"
	case ctx.Err() != nil:
		e.Message, e.Err = "interrupted", errors.Join(ctx.Err(), cause)
	default:
		e.Temporary = neterr.IsNetwork(cause) || wrote
	}
	return e
}

// classify sets Temporary, Uncertain and Wait on an answer that is not a
// success, and reports whether Graph may have acted on the request.
func (c *Client) classify(e *Error, r *request, resp *http.Response) (reached bool) {
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests || s == http.StatusServiceUnavailable:
		// Refused before it was handled; come back later.
		e.Temporary = true
		e.Wait = retry.RetryAfter(resp.Header.Get("Retry-After"), c.clock.Now())
	case s >= 500 || s >= 200 && s < 300:
		// A 500, 502 or 504 may come after the work was done (a gateway
		// that gave up waiting); so may a success Graph should not give.
		reached = true
		if r.sends {
			e.Uncertain = true
		} else {
			e.Temporary = s >= 500
		}
	case s >= 300 && s < 400:
		e.Message = "redirect refused: " + e.Message
	}
	return reached
}

// staleToken reports a 401 that a fresh token may cure: Graph's
// InvalidAuthenticationToken, or the invalid_token of RFC 6750 §3.1.
func staleToken(e *Error, h http.Header) bool {
	if e.Code == staleTokenCode {
		return true
	}
	for _, v := range h.Values("WWW-Authenticate") {
		if strings.Contains(v, `error="invalid_token"`) {
			return true
		}
	}
	return false
}

func accepts(statuses []int, s int) bool {
	for _, a := range statuses {
		if a == s {
			return true
		}
	}
	return false
}

func secretsOf(tok *oauth2.Token) []string {
	if tok == nil {
		return nil
	}
	return []string{tok.AccessToken}
}

// releaseBody ends a request for the limits when its body is first
// closed.
type releaseBody struct {
	io.ReadCloser
	release func()
	closed  atomic.Bool
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	if !b.closed.Swap(true) {
		b.release()
	}
	return err
}
