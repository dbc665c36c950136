// Package oauth is the OAuth 2.0 client under every provider package: a
// Client posts the token requests of each grant (client credentials,
// refresh token, authorization code, device code, JWT bearer) to one
// authorization server, authenticates the app on each of them, and turns
// every answer that is not a token into a typed error that
// provider.Diagnose explains: TokenError, UnavailableError, ResponseError,
// NetworkError. No secret of a request ever appears in an error.
//
//	c := &oauth.Client{
//		ID:       "helpdesk",
//		TokenURL: "https://idp.example.com/token",
//		Auth:     oauth.ClientSecretPost(secret),
//	}
//	tok, err := c.Refresh(ctx, refreshToken, nil)
package oauth
