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
// (S256, RFC 7636 section 4.2), the extra params with every value each
// has (resource indicators repeat, RFC 8707 section 2) and, unless params
// name one, account as login_hint.
func authCodeURL(authURL, clientID, redirectURL string, scopes []string, state, verifier string, params url.Values, account string) string {
	conf := &oauth2.Config{ClientID: clientID, Endpoint: oauth2.Endpoint{AuthURL: authURL}, RedirectURL: redirectURL, Scopes: scopes}
	to := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
	u, err := url.Parse(to)
	if err != nil {
		return to // AuthURL was checked to be absolute; x/oauth2 only appended to it
	}
	q := u.Query()
	for k, vs := range params {
		if !reservedParams[k] && len(vs) > 0 {
			q[k] = append([]string(nil), vs...)
		}
	}
	if account != "" && params.Get("login_hint") == "" {
		q.Set("login_hint", account)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// checkIssuer returns why an authorization response with query q must be
// refused by a client expecting issuer, or "": RFC 9207 section 2.4 has
// the client compare an iss it receives with the issuer identifier of the
// server it sent the request to, and refuse an answer without iss from a
// server that announces it sends one (required). An empty issuer checks
// nothing.
func checkIssuer(q url.Values, issuer string, required bool) string {
	if issuer == "" {
		return ""
	}
	iss, present := q["iss"]
	switch {
	case !present && required:
		return "The answer carries no iss parameter, although the identity provider announces that it always sends one: it may come from another server."
	case present && (len(iss) != 1 || iss[0] != issuer):
		return "The answer names another identity provider (its iss parameter is not " + issuer + "): it may come from another server."
	}
	return ""
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
