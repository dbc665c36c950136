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

// ContextTokenSource is an optional interface of an oauth2.TokenSource given
// to NewSource: when the base implements it, the cache calls TokenContext
// instead of Token, so the refresh honours a context.
type ContextTokenSource interface {
	TokenContext(ctx context.Context) (*oauth2.Token, error)
}
