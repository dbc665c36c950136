// Package oauth is the OAuth 2.0 client under every provider package: a
// Client runs each grant (client credentials, refresh token, authorization
// code with PKCE, device code, JWT bearer) at one authorization server
// through golang.org/x/oauth2, and adds the two things x/oauth2 cannot do:
//
//   - the client's credential on every request, the same way for every
//     grant and for the device authorization request: client_secret_basic,
//     client_secret_post, or private_key_jwt with a client assertion signed
//     anew for each request (x/oauth2 takes only a fixed secret,
//     golang/oauth2#744), and the Client's Params (resource indicators);
//   - answers that are not a token turned into typed errors that
//     provider.Diagnose explains (TokenError, UnavailableError with
//     Retry-After, ResponseError, NetworkError), with every secret of the
//     request scrubbed from everything derived from the answer.
//
// Both live in one place: x/oauth2 gets, under the oauth2.HTTPClient
// context key, an http.Client whose transport adds the credential to the
// request x/oauth2 built, keeps the secrets it carries, and keeps the
// answer, from which the token's Expiry is counted on the Client's Clock
// and the typed errors are made.
//
//	c := &oauth.Client{
//		ID:       "helpdesk",
//		TokenURL: "https://idp.example.com/token",
//		Auth:     oauth.ClientSecretBasic(secret),
//	}
//	tok, err := c.Refresh(ctx, refreshToken)
package oauth
