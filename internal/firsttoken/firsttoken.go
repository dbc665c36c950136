// Package firsttoken lets a constructor that checks its configuration by
// fetching a token hand that token to the cache it builds, so that the
// check costs no second request and its failure is reported once, by the
// constructor, rather than by the cache's log and retry schedule too.
package firsttoken

import (
	"context"
	"sync"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/retry"
)

// Refresher hands out a token fetched beforehand on its first call, while
// that token has not expired, and asks its base for every other.
type Refresher struct {
	base  auth.Refresher
	clock retry.Clock

	mu    sync.Mutex    // guards first
	first *oauth2.Token // handed out once, then nil
}

// New returns a Refresher over base that hands out first once; clock
// judges its expiry (nil: retry.System). A nil first gives base itself.
func New(base auth.Refresher, first *oauth2.Token, clock retry.Clock) auth.Refresher {
	if first == nil {
		return base
	}
	return &Refresher{base: base, clock: retry.Or(clock), first: first}
}

// Refresh implements auth.Refresher: the first token when the caller
// holds none and it is still valid, else a token from the base.
func (r *Refresher) Refresh(ctx context.Context, stale *oauth2.Token) (*oauth2.Token, error) {
	r.mu.Lock()
	t := r.first
	r.first = nil
	r.mu.Unlock()
	if t != nil && stale == nil && (t.Expiry.IsZero() || r.clock.Now().Before(t.Expiry)) {
		return t, nil
	}
	return r.base.Refresh(ctx, stale)
}
