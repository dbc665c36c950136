// Package auth holds the SASL mechanisms that carry OAuth2 bearer tokens
// (XOAUTH2 and OAUTHBEARER) and the token cache that every transport uses.
//
// A transport asks a [TokenSource] for a token before it authenticates and
// tells it with Invalidate when the server refused that token:
//
//	src := auth.NewSource(base) // base: any oauth2.TokenSource
//	tok, err := src.Token(ctx)
//	c := auth.NewClient(auth.XOAUTH2, "alice@example.com", tok.AccessToken)
//	// ... authenticate with c; on a refusal:
//	src.Invalidate(tok)
package auth
