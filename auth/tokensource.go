package auth

import (
	"context"

	"golang.org/x/oauth2"
)

// TokenSource hands out access tokens to the transports and learns from them
// which tokens a server refused.
//
// Implementations must be safe for concurrent use.
type TokenSource interface {
	// Token returns a token that is valid now.
	Token(ctx context.Context) (*oauth2.Token, error)
	// Invalidate reports that a server refused rejected. The next call to
	// Token fetches a new token unless rejected is no longer the current one.
	Invalidate(rejected *oauth2.Token)
}

// Refresher gets new tokens for a Source, from an identity provider or
// from a grant store that refreshes when it must. Source calls it one call
// at a time, when its cached token is due or was refused.
type Refresher interface {
	// Refresh returns a token that is valid now. stale is the token the
	// Source held (nil on the first call): it is due for renewal or a
	// server refused it, so Refresh must not hand it back.
	Refresh(ctx context.Context, stale *oauth2.Token) (*oauth2.Token, error)
}

// RefreshFunc adapts a function to a Refresher.
type RefreshFunc func(ctx context.Context, stale *oauth2.Token) (*oauth2.Token, error)

// Refresh calls f.
func (f RefreshFunc) Refresh(ctx context.Context, stale *oauth2.Token) (*oauth2.Token, error) {
	return f(ctx, stale)
}

// FromTokenSource adapts an oauth2.TokenSource of golang.org/x/oauth2 to
// a Refresher. Its Token method takes no context and cannot be told which
// token is stale, so ts must fetch a new token on each call: a caching
// source (oauth2.ReuseTokenSource) hands back the stale token, which
// defeats early refresh and the retry after a refusal.
func FromTokenSource(ts oauth2.TokenSource) Refresher {
	return RefreshFunc(func(context.Context, *oauth2.Token) (*oauth2.Token, error) { return ts.Token() })
}
