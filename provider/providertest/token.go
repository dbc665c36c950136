package providertest

import (
	"net/http"
	"slices"
	"strings"

	"github.com/mailoauth/mailoauth/internal/jwt"
)

// maxFormBytes bounds a request body.
const maxFormBytes = 1 << 20

// entraTokenResponse is Entra's success JSON, fields in Entra's order.
type entraTokenResponse struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope"`
	ExpiresIn    int    `json:"expires_in"`
	ExtExpiresIn int    `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

// googleTokenResponse is Google's success JSON.
type googleTokenResponse struct {
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
	TokenType    string `json:"token_type"`
	IDToken      string `json:"id_token,omitempty"`
}

// tokenResult is a successful grant, written in either format.
type tokenResult struct {
	access, refresh, idToken, scope string
	expiresIn                       int
}

func (s *Server) handleEntraToken(w http.ResponseWriter, r *http.Request) {
	s.handleToken(w, r, false)
}

func (s *Server) handleGoogleToken(w http.ResponseWriter, r *http.Request) {
	s.handleToken(w, r, true)
}

// handleToken is the token endpoint of both formats.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request, google bool) {
	s.count("token")
	if r.Method != http.MethodPost {
		s.writeTokenError(w, r, google, &tokenError{err: errInvalidRequest, code: 900561,
			desc:    "The endpoint only accepts POST requests. Received a " + r.Method + " request.",
			gStatus: http.StatusMethodNotAllowed, gDesc: "Method Not Allowed"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	formErr := r.ParseForm()
	gt := r.PostForm.Get("grant_type")
	s.mu.Lock()
	if gt != "" {
		s.grants[gt]++
	}
	f, fail := takeFailure(&s.failures)
	s.mu.Unlock()
	if fail && s.serveFailure(w, r, f) {
		return
	}
	if formErr != nil {
		s.writeTokenError(w, r, google, errMalformedGrant())
		return
	}
	var res *tokenResult
	var terr *tokenError
	s.mu.Lock()
	if google {
		res, terr = s.googleGrantLocked(r, gt)
	} else {
		res, terr = s.entraGrantLocked(r, r.PathValue("tenant"), gt)
	}
	s.mu.Unlock()
	if terr != nil {
		s.writeTokenError(w, r, google, terr)
		return
	}
	if google {
		writeJSON(w, http.StatusOK, googleTokenResponse{AccessToken: res.access, ExpiresIn: res.expiresIn,
			RefreshToken: res.refresh, Scope: res.scope, TokenType: "Bearer", IDToken: res.idToken})
		return
	}
	writeJSON(w, http.StatusOK, entraTokenResponse{TokenType: "Bearer", Scope: res.scope, ExpiresIn: res.expiresIn,
		ExtExpiresIn: res.expiresIn, AccessToken: res.access, RefreshToken: res.refresh, IDToken: res.idToken})
}

func (s *Server) writeTokenError(w http.ResponseWriter, r *http.Request, google bool, e *tokenError) {
	if google {
		writeGoogleError(w, e)
		return
	}
	s.writeEntraError(w, r, e)
}

// entraGrantLocked runs one Entra grant.
func (s *Server) entraGrantLocked(r *http.Request, tenant, gt string) (*tokenResult, *tokenError) {
	if err := s.checkTenantLocked(tenant); err != nil {
		return nil, err
	}
	if gt == "" {
		return nil, errMissingParam("grant_type")
	}
	switch gt {
	case GrantClientCredentials, GrantAuthorizationCode, GrantRefreshToken, GrantDeviceCode:
	default:
		return nil, errUnsupportedGrant(gt)
	}
	cred := readClientCred(r)
	a, terr := s.entraAppLocked(tenant, cred.id)
	if terr != nil {
		return nil, terr
	}
	acr, terr := s.authenticateEntraLocked(a, cred, s.tokenEndpoints(r))
	if terr != nil {
		return nil, terr
	}
	form := r.PostForm
	switch gt {
	case GrantClientCredentials:
		if a.Public {
			return nil, errNoCredential()
		}
		resource, terr := clientCredentialsScope(form.Get("scope"))
		if terr != nil {
			return nil, terr
		}
		tok, exp := s.mintLocked(mintParams{tenant: a.Tenant, clientID: a.ClientID, appidacr: acr,
			resource: resource, roles: a.Roles})
		return &tokenResult{access: tok, expiresIn: exp, scope: resource + "/" + scopeDefault}, nil
	case GrantAuthorizationCode:
		code, terr := s.redeemCodeLocked(form.Get("code"), a.ClientID, form.Get("redirect_uri"), form.Get("code_verifier"))
		if terr != nil {
			return nil, terr
		}
		scope := code.scope
		if sc := form.Get("scope"); sc != "" {
			scope = sc
		}
		return s.entraDelegatedLocked(a, acr, code.user, scope, code.nonce, nil)
	case GrantRefreshToken:
		e, terr := s.useRefreshLocked(form.Get("refresh_token"), a.ClientID, s.rotation)
		if terr != nil {
			return nil, terr
		}
		scope := e.fam.scope
		if sc := form.Get("scope"); sc != "" {
			scope = sc
		}
		return s.entraDelegatedLocked(a, acr, e.fam.user, scope, "", e)
	default: // GrantDeviceCode
		g, terr := s.pollDeviceLocked(form.Get("device_code"), a.ClientID)
		if terr != nil {
			return nil, terr
		}
		return s.entraDelegatedLocked(a, acr, g.user, g.scope, "", nil)
	}
}

// entraDelegatedLocked issues a delegated token for user; from is the refresh token being used, or
// nil for a new grant.
func (s *Server) entraDelegatedLocked(a App, acr, user, scope, nonce string, from *refreshEntry) (*tokenResult, *tokenError) {
	sc, terr := parseEntraScopes(scope)
	if terr != nil {
		return nil, terr
	}
	res := &tokenResult{scope: sc.granted()}
	var fam *family
	switch {
	case from != nil:
		fam = from.fam
		fam.refreshes++
		if s.rotation {
			res.refresh = s.newRefreshLocked(fam)
		} else {
			res.refresh = fam.chain[from.seq]
		}
	case sc.offline():
		fam, res.refresh = s.newFamilyLocked(a.ClientID, a.Tenant, user, scope, false)
	}
	res.access, res.expiresIn = s.mintLocked(mintParams{tenant: a.Tenant, clientID: a.ClientID, appidacr: acr,
		user: user, resource: sc.resource, scp: sc.scp(), fam: fam})
	if slices.Contains(sc.oidc, scopeOpenID) {
		res.idToken = s.idTokenLocked(false, a, user, nonce)
	}
	return res, nil
}

// googleGrantLocked runs one Google grant.
func (s *Server) googleGrantLocked(r *http.Request, gt string) (*tokenResult, *tokenError) {
	form := r.PostForm
	if gt == "" {
		return nil, errMissingParam("grant_type")
	}
	if gt == GrantJWTBearer {
		return s.jwtBearerLocked(form.Get("assertion"))
	}
	switch gt {
	case GrantAuthorizationCode, GrantRefreshToken, GrantDeviceCode:
	default:
		return nil, errUnsupportedGrant(gt)
	}
	cred := readClientCred(r)
	if cred.id == "" {
		return nil, errMissingParam("client_id")
	}
	a, ok := s.appLocked(cred.id)
	if !ok {
		return nil, errUnknownClient(cred.id, "")
	}
	if terr := authenticateGoogle(a, cred); terr != nil {
		return nil, terr
	}
	switch gt {
	case GrantAuthorizationCode:
		code, terr := s.redeemCodeLocked(form.Get("code"), a.ClientID, form.Get("redirect_uri"), form.Get("code_verifier"))
		if terr != nil {
			return nil, terr
		}
		key := a.ClientID + "|" + strings.ToLower(code.user)
		wantRefresh := code.offline && (!s.consents[key] || code.promptConsent)
		if code.offline {
			s.consents[key] = true
		}
		return s.googleDelegatedLocked(a, code.user, code.scope, wantRefresh, nil)
	case GrantRefreshToken:
		e, terr := s.useRefreshLocked(form.Get("refresh_token"), a.ClientID, false)
		if terr != nil {
			return nil, terr
		}
		return s.googleDelegatedLocked(a, e.fam.user, e.fam.scope, false, e)
	default: // GrantDeviceCode
		g, terr := s.pollDeviceLocked(form.Get("device_code"), a.ClientID)
		if terr != nil {
			return nil, terr
		}
		return s.googleDelegatedLocked(a, g.user, g.scope, true, nil)
	}
}

// googleDelegatedLocked issues a Google user token. Google does not rotate: a refresh answers with
// an access token only.
func (s *Server) googleDelegatedLocked(a App, user, scope string, wantRefresh bool, from *refreshEntry) (*tokenResult, *tokenError) {
	res := &tokenResult{scope: scope}
	var fam *family
	if from != nil {
		fam = from.fam
		fam.refreshes++
	} else if wantRefresh {
		fam, res.refresh = s.newFamilyLocked(a.ClientID, a.Tenant, user, scope, true)
	}
	res.access, res.expiresIn = s.mintLocked(mintParams{google: true, clientID: a.ClientID, user: user, gScope: scope, fam: fam})
	if slices.Contains(strings.Fields(scope), scopeOpenID) {
		res.idToken = s.idTokenLocked(true, a, user, "")
	}
	return res, nil
}

// jwtBearerLocked is Google's service-account grant with domain-wide delegation. The assertion is
// signed with the account's key (App.ServiceAccountKey) or, made by signJwt, with its Google-managed
// key.
func (s *Server) jwtBearerLocked(assertion string) (*tokenResult, *tokenError) {
	if assertion == "" {
		return nil, errMissingParam("assertion")
	}
	var unverified assertionClaims
	if err := decodeUnverified(assertion, &unverified); err != nil {
		return nil, &tokenError{err: errInvalidGrant, gDesc: "Invalid JWT: " + err.Error()}
	}
	a, ok := s.serviceAccountLocked(unverified.Iss)
	if !ok {
		return nil, &tokenError{err: errInvalidGrant, gDesc: "Invalid grant: account not found"}
	}
	// The account's own key (a key file) or its Google-managed key (signJwt) may sign.
	hdr := map[string]any{}
	_ = jwt.Decode(assertion, &hdr, nil)
	key := a.ServiceAccountKey
	if kid, _ := hdr["kid"].(string); kid == s.managedKeyID(a.ServiceAccountEmail) {
		key = &s.key.PublicKey
	}
	var cl assertionClaims
	if key == nil || verifyRS256(assertion, key, &cl) != nil {
		return nil, errAssertionSignature()
	}
	want := s.URL() + "/token"
	if !slices.Contains(cl.audiences(), want) {
		return nil, errAssertionAudience(strings.Join(cl.audiences(), " "), want)
	}
	now := s.nowLocked()
	iat, exp := unixTime(cl.Iat), unixTime(cl.Exp)
	if cl.Iat == 0 || cl.Exp == 0 || exp.Sub(iat) > maxServiceAssertionLife ||
		now.Add(assertionSkew).Before(iat) || !now.Before(exp) {
		return nil, errAssertionTime(now, iat, exp)
	}
	scopes := strings.Fields(cl.Scope)
	if len(scopes) == 0 {
		return nil, &tokenError{err: errInvalidScope, gDesc: "Invalid OAuth scope or ID token audience provided."}
	}
	for _, sc := range scopes {
		if !slices.Contains(a.DelegatedScopes, sc) {
			return nil, &tokenError{err: errUnauthorizedClient, gDesc: "Client is unauthorized to retrieve access " +
				"tokens using this method, or client not authorized for any of the scopes requested."}
		}
	}
	user := cl.Sub
	if user == "" {
		// No delegation: the service account acts as itself.
		user = a.ServiceAccountEmail
	} else if !a.mayOpen(user) {
		return nil, &tokenError{err: errInvalidGrant, gDesc: "Invalid email or User ID"}
	}
	clientID := a.ClientID
	if clientID == "" {
		clientID = numericID(a.ServiceAccountEmail)
	}
	tok, expIn := s.mintLocked(mintParams{google: true, clientID: clientID, user: user, gScope: cl.Scope})
	return &tokenResult{access: tok, expiresIn: expIn, scope: cl.Scope}, nil
}
