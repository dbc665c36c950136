// Package fetch sends one request to a platform's token service (an Azure
// managed identity endpoint, GitHub Actions' OIDC endpoint, Google's IAM
// Credentials API) and repeats it while the service says it is busy or
// failing: network failures, 429 and 5xx by default, spaced with
// retry.Backoff or the server's Retry-After when that is longer. It reads
// a bounded answer and leaves its meaning to the caller.
//
//	ans, err := fetch.Do(ctx, client, build, fetch.Policy{Clock: clock})
//	if err != nil { ... } // no answer: the network error of the last attempt
//	if ans.Status != http.StatusOK { ... } // the last answer, retried or not
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/mailoauth/mailoauth/retry"
)

// Defaults of a Policy. Microsoft's guidance for the instance metadata
// service is five attempts with exponential backoff reaching about 30 s
// (https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token#retry-guidance);
// the other services get the same.
const (
	DefaultAttempts = 5
	// MaxBody bounds an answer: token answers are a few kilobytes.
	MaxBody = 1 << 20
)

// DefaultBackoff spaces the attempts of a Policy without Backoff.
var DefaultBackoff = retry.Backoff{Min: 2 * time.Second, Max: 30 * time.Second}

// Policy says how often to try and what is worth another attempt.
type Policy struct {
	// Attempts is the most requests sent; zero: DefaultAttempts.
	Attempts int
	// Backoff spaces attempts; zero fields: DefaultBackoff's.
	Backoff retry.Backoff
	// Retry reports whether an answer with this status deserves another
	// attempt; nil: 429 and 5xx.
	Retry func(status int) bool
	// Clock tells the time and waits; nil: retry.System.
	Clock retry.Clock
	// Logger gets one debug line per retry; nil: none.
	Logger *slog.Logger
	// Service names the service in log lines ("managed identity endpoint").
	Service string
}

// Answer is what the service said last.
type Answer struct {
	Status int
	Header http.Header
	// Body is at most MaxBody bytes; TooLarge says the answer was longer.
	Body     []byte
	TooLarge bool
	// Wait is the Retry-After the service asked for; zero when none.
	Wait time.Duration
	// Attempts is the number of requests sent.
	Attempts int
}

// Do sends the request build makes (a new one per attempt, so that a
// header the platform rotates is read afresh) until an answer that is not
// worth retrying, or Attempts are used up, and returns the last answer.
// An answer whose Retry-After is longer than the backoff's Max is returned
// at once, with Wait set: the caller decides whether to wait that long. When
// no attempt got an answer, err is the last network error; a ctx that ends
// stops the attempts and its error is returned.
func Do(ctx context.Context, client *http.Client, build func(context.Context) (*http.Request, error), p Policy) (*Answer, error) {
	if client == nil {
		client = http.DefaultClient
	}
	attempts := p.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	backoff := p.Backoff.Or(DefaultBackoff)
	again := p.Retry
	if again == nil {
		again = func(status int) bool { return status == http.StatusTooManyRequests || status >= 500 }
	}
	clock := retry.Or(p.Clock)
	for n := 1; ; n++ {
		req, err := build(ctx)
		if err != nil {
			return nil, err
		}
		ans, err := send(client, req, clock)
		if ans != nil {
			ans.Attempts = n
		}
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil && n >= attempts:
			return nil, err
		case err == nil && (!again(ans.Status) || n >= attempts || ans.Wait > backoff.Max):
			return ans, nil
		}
		wait := backoff.Delay(n)
		if ans != nil && ans.Wait > wait {
			wait = ans.Wait
		}
		if p.Logger != nil {
			why := "no answer"
			if ans != nil {
				why = fmt.Sprintf("HTTP %d", ans.Status)
			}
			p.Logger.LogAttrs(ctx, slog.LevelDebug, "retrying", slog.String("service", p.Service),
				slog.String("endpoint", Redacted(req.URL)), slog.String("after", why), slog.Int("attempt", n),
				slog.Duration("wait", wait))
		}
		if err := clock.Sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// send makes one request and reads its answer.
func send(client *http.Client, req *http.Request, clock retry.Clock) (*Answer, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	ans := &Answer{Status: resp.StatusCode, Header: resp.Header, Body: body,
		Wait: retry.RetryAfter(resp.Header.Get("Retry-After"), clock.Now())}
	if len(body) > MaxBody {
		ans.Body, ans.TooLarge = body[:MaxBody], true
	}
	return ans, nil
}

// Redacted is u without its query and user information: what a log line
// or an error may show of an endpoint.
func Redacted(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User, c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = nil, "", false, "", ""
	return c.String()
}

// ErrInsecure is returned (wrapped) by CheckURL for a plain-HTTP URL whose
// host is neither loopback nor link-local.
var ErrInsecure = errors.New("plain http only to a loopback or link-local address")
