package providertest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// pkceChallengeLen is the length of a base64url SHA-256 code challenge (RFC 7636 section 4.2).
const pkceChallengeLen = 43

// authCode is an authorization code waiting to be redeemed.
type authCode struct {
	clientID      string
	redirect      string
	challenge     string // S256 code challenge; "" if none was sent
	scope         string
	user          string
	nonce         string
	exp           time.Time
	used          bool
	offline       bool // Google access_type=offline
	promptConsent bool // Google prompt=consent
}

// denial is the answer DenyConsent queued for the next authorization.
type denial struct{ err, desc string }

// DenyConsent makes the next authorization (authorize or adminconsent, either format) redirect back
// with ?error=errCode&error_description=description&state=... instead of a code, as when the user or
// admin declines consent (e.g. "consent_required", "AADSTS65004: User declined to consent ...").
func (s *Server) DenyConsent(errCode, description string) {
	s.mu.Lock()
	s.denial = &denial{err: errCode, desc: description}
	s.mu.Unlock()
}

func (s *Server) handleEntraAuthorize(w http.ResponseWriter, r *http.Request) {
	s.authorize(w, r, false, r.PathValue("tenant"))
}

func (s *Server) handleGoogleAuthorize(w http.ResponseWriter, r *http.Request) {
	s.authorize(w, r, true, "")
}

// authorize is the authorization endpoint: no UI, it decides at once for the signed-in user.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, google bool, tenant string) {
	s.count("authorize")
	_ = r.ParseForm()
	q := r.Form
	s.mu.Lock()
	a, redirect, terr := s.authorizeTargetLocked(google, tenant, q.Get("client_id"), q.Get("redirect_uri"))
	if terr != nil {
		s.mu.Unlock()
		if google {
			writeGooglePage(w, terr)
		} else {
			writeErrorPage(w, terr)
		}
		return
	}
	params := s.authorizeDecisionLocked(google, a, redirect, q)
	s.mu.Unlock()
	if st := q.Get("state"); st != "" {
		params.Set("state", st)
	}
	http.Redirect(w, r, withQuery(redirect, params), http.StatusFound)
}

// authorizeTargetLocked validates the client and redirect URI; its errors are shown on a page, never
// sent to an unchecked redirect URI.
func (s *Server) authorizeTargetLocked(google bool, tenant, clientID, redirect string) (App, string, *tokenError) {
	var a App
	if google {
		if clientID == "" {
			return a, "", errMissingParam("client_id")
		}
		var ok bool
		if a, ok = s.appLocked(clientID); !ok {
			return a, "", errUnknownClient(clientID, "")
		}
	} else {
		var terr *tokenError
		if a, terr = s.entraAppLocked(tenant, clientID); terr != nil {
			return a, "", terr
		}
	}
	if redirect == "" {
		if len(a.RedirectURIs) != 1 {
			return a, "", &tokenError{err: errInvalidRequest, code: 500113,
				desc: "No reply address is registered for the application.", gErr: "redirect_uri_mismatch",
				gDesc: "Missing required parameter: redirect_uri"}
		}
		redirect = a.RedirectURIs[0]
	}
	if !redirectAllowed(a.RedirectURIs, redirect) {
		return a, "", &tokenError{err: errInvalidRequest, code: 50011,
			desc: fmt.Sprintf("The redirect URI '%s' specified in the request does not match the redirect URIs "+
				"configured for the application '%s'. Make sure the redirect URI sent in the request matches one "+
				"added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError "+
				"to learn more about how to fix this.", redirect, a.ClientID),
			gErr: "redirect_uri_mismatch",
			gDesc: "You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy. " +
				"redirect_uri=" + redirect}
	}
	return a, redirect, nil
}

// authorizeDecisionLocked returns the parameters to send back: a code, or an error.
func (s *Server) authorizeDecisionLocked(google bool, a App, redirect string, q url.Values) url.Values {
	fail := func(e *tokenError) url.Values {
		if google {
			_, name, desc := e.google()
			return url.Values{"error": {name}, "error_description": {desc}}
		}
		return url.Values{"error": {e.err}, "error_description": {fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\n"+
			"Correlation ID: %s\r\nTimestamp: %s", e.code, e.desc, newGUID(), newGUID(),
			s.nowLocked().UTC().Format(entraTimestampLayout))},
			"error_uri": {fmt.Sprintf("%s/error?code=%d", s.URL(), e.code)}}
	}
	if d := s.denial; d != nil {
		s.denial = nil
		return url.Values{"error": {d.err}, "error_description": {d.desc}}
	}
	if rt := q.Get("response_type"); rt != "code" {
		if rt == "" {
			return fail(errMissingParam("response_type"))
		}
		return fail(&tokenError{err: "unsupported_response_type", code: 70005,
			desc: fmt.Sprintf("response_type '%s' is not enabled for the application.", rt)})
	}
	scope := q.Get("scope")
	if scope == "" {
		return fail(errMissingParam("scope"))
	}
	if !google {
		if _, terr := parseEntraScopes(scope); terr != nil {
			return fail(terr)
		}
	}
	challenge := q.Get("code_challenge")
	if challenge != "" || q.Get("code_challenge_method") != "" {
		if q.Get("code_challenge_method") != "S256" {
			return fail(&tokenError{err: errInvalidRequest, code: 90014,
				desc:  "The required field 'code_challenge_method' is missing or is not 'S256'.",
				gDesc: "Invalid code_challenge_method"})
		}
		if len(challenge) != pkceChallengeLen {
			return fail(&tokenError{err: errInvalidRequest, code: 501491,
				desc: "Invalid size of Code_Challenge parameter.", gDesc: "Invalid code_challenge"})
		}
	}
	if s.user == "" {
		return fail(&tokenError{err: "login_required", code: 50058,
			desc: "A silent sign-in request was sent but no user is signed in.", gDesc: "No user is signed in."})
	}
	code := randomB64(32)
	if !google {
		code = "1.AXcA" + code
	} else {
		code = "4/0A" + code
	}
	s.codes[code] = &authCode{clientID: a.ClientID, redirect: redirect, challenge: challenge, scope: scope,
		user: s.user, nonce: q.Get("nonce"), exp: s.nowLocked().Add(authCodeLifetime),
		offline: q.Get("access_type") == "offline", promptConsent: slices.Contains(strings.Fields(q.Get("prompt")), "consent")}
	out := url.Values{"code": {code}}
	if google {
		out.Set("scope", scope)
	} else {
		out.Set("session_state", newGUID())
	}
	return out
}

// redeemCodeLocked checks an authorization code for the code grant.
func (s *Server) redeemCodeLocked(code, clientID, redirect, verifier string) (*authCode, *tokenError) {
	if code == "" {
		return nil, errMissingParam("code")
	}
	c := s.codes[code]
	if c == nil {
		return nil, &tokenError{err: errInvalidGrant, code: 9002313,
			desc: "Invalid request. Request is malformed or invalid.", gDesc: "Malformed auth code."}
	}
	if c.used {
		return nil, errCodeRedeemed()
	}
	if c.clientID != clientID {
		return nil, errGrantOtherClient()
	}
	if s.nowLocked().After(c.exp) {
		return nil, errGrantInactive()
	}
	if redirect == "" {
		return nil, errMissingParam("redirect_uri")
	}
	if redirect != c.redirect {
		return nil, errCodeRedirect(redirect, c.redirect)
	}
	if c.challenge != "" {
		if verifier == "" {
			return nil, errPKCE(true)
		}
		sum := sha256.Sum256([]byte(verifier))
		if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(c.challenge)) != 1 {
			return nil, errPKCE(false)
		}
	}
	c.used = true
	return c, nil
}

// handleAdminConsent is Entra's /{tenant}/v2.0/adminconsent: it redirects back with
// admin_consent=True (or DenyConsent's error).
func (s *Server) handleAdminConsent(w http.ResponseWriter, r *http.Request) {
	s.count("adminconsent")
	_ = r.ParseForm()
	q := r.Form
	tenant := r.PathValue("tenant")
	s.mu.Lock()
	a, redirect, terr := s.authorizeTargetLocked(false, tenant, q.Get("client_id"), q.Get("redirect_uri"))
	if terr != nil {
		s.mu.Unlock()
		writeErrorPage(w, terr)
		return
	}
	params := url.Values{}
	if d := s.denial; d != nil {
		s.denial = nil
		params.Set("error", d.err)
		params.Set("error_description", d.desc)
	} else {
		t := tenant
		if isTenantAlias(t) {
			t = a.Tenant
		}
		params.Set("admin_consent", "True")
		params.Set("tenant", t)
		if sc := q.Get("scope"); sc != "" {
			params.Set("scope", sc)
		}
	}
	s.mu.Unlock()
	if st := q.Get("state"); st != "" {
		params.Set("state", st)
	}
	http.Redirect(w, r, withQuery(redirect, params), http.StatusFound)
}

// redirectAllowed matches a redirect URI against the registered ones: exactly, or for an http
// loopback URI (127.0.0.1, [::1], localhost) with any port, as RFC 8252 section 7.3 asks.
func redirectAllowed(registered []string, got string) bool {
	if slices.Contains(registered, got) {
		return true
	}
	g, err := url.Parse(got)
	if err != nil || !isLoopbackHTTP(g) {
		return false
	}
	for _, reg := range registered {
		u, err := url.Parse(reg)
		if err == nil && isLoopbackHTTP(u) && u.Hostname() == g.Hostname() && cleanPath(u.Path) == cleanPath(g.Path) {
			return true
		}
	}
	return false
}

func isLoopbackHTTP(u *url.URL) bool {
	h := u.Hostname()
	return u.Scheme == "http" && (h == "127.0.0.1" || h == "::1" || h == "localhost")
}

func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// withQuery adds params to a URL's query.
func withQuery(raw string, params url.Values) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String()
}
