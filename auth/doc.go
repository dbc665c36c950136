// Package auth holds the SASL mechanisms that carry OAuth2 bearer tokens
// (XOAUTH2 and OAUTHBEARER) and the token cache that every transport uses.
//
// A transport asks a [TokenSource] for a token before it authenticates and
// tells it with Invalidate when the server refused that token:
//
//	src := auth.NewSource(base, nil) // base: an auth.Refresher (auth.FromTokenSource adapts an oauth2.TokenSource)
//	tok, err := src.Token(ctx)
//	c := auth.NewClient(auth.XOAUTH2, "alice@example.com", tok.AccessToken)
//	// ... authenticate with c; on a refusal:
//	src.Invalidate(tok)
//
// # SASL clients
//
// [NewClient] returns a go-sasl client for go-smtp's Client.Auth and
// go-imap's Client.Authenticate. When a server refuses the token it may send
// a JSON error challenge before its final failure reply; the client answers
// it as its mechanism requires (XOAUTH2: an empty response, OAUTHBEARER:
// "\x01") rather than aborting, and keeps it: after the exchange failed,
// [Challenge] returns it as a [*ChallengeError] for the transport to wrap in
// its error. Servers that fail at once (Exchange Online) send none.
//
// [TwoStep] holds the initial response back until the server asks for it
// with an empty challenge, for SMTP commands that would be too long.
//
// # Test servers
//
// [NewXOAUTH2Server] and [NewOAuthBearerServer] are the server side, for
// test doubles: strict parsers that never panic, and the error challenge
// (with its required completion) when the verify function refuses.
//
// # Token cache
//
// [Source] hands out one token to any number of goroutines, refreshes it
// once however many ask, starts refreshing a margin before expiry while
// callers keep the valid token, and spaces attempts with backoff when the
// provider fails.
package auth
