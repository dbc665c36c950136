package authorize

import (
	"crypto/rand"
	"encoding/base64"
	"net/url"

	"golang.org/x/oauth2"
)

// stateBytes of randomness: 256 bits, twice the 128 bits RFC 6749 section
// 10.10 asks of a value an attacker must not guess.
const stateBytes = 32

// reservedParams are the authorization request's own parameters, which a
// flow's Params cannot replace.
var reservedParams = map[string]bool{
	"response_type": true, "client_id": true, "redirect_uri": true, "scope": true, "state": true,
	"code_challenge": true, "code_challenge_method": true,
}

// authCodeURL is the authorization request (RFC 6749 section 4.1.1) that
// oauth2.Config.AuthCodeURL builds, with the PKCE challenge of verifier
// (S256, RFC 7636 section 4.2), the extra params and, unless params name
// one, account as login_hint.
func authCodeURL(authURL, clientID, redirectURL string, scopes []string, state, verifier string, params url.Values, account string) string {
	conf := &oauth2.Config{ClientID: clientID, Endpoint: oauth2.Endpoint{AuthURL: authURL}, RedirectURL: redirectURL, Scopes: scopes}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	for k, vs := range params {
		if !reservedParams[k] && len(vs) > 0 {
			opts = append(opts, oauth2.SetAuthURLParam(k, vs[0]))
		}
	}
	if account != "" && params.Get("login_hint") == "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", account))
	}
	return conf.AuthCodeURL(state, opts...)
}

// randomString returns n bytes from crypto/rand, base64url without padding.
// crypto/rand.Read never fails (Go 1.24+: it crashes the program instead of
// returning an error), so there is no error to handle.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newState returns a random state value of 256 bits.
func newState() string { return randomString(stateBytes) }
