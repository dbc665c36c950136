package providertest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mailoauth/mailoauth/internal/jwt"
)

// Workload identity federation
// (https://learn.microsoft.com/en-us/entra/workload-id/workload-identity-federation).
const (
	// TokenExchangeAudience is the audience Entra requires of a federated token (global cloud), and
	// the Audience of a FederatedCredential that names none.
	TokenExchangeAudience = "api://AzureADTokenExchange"
	// GitHubIssuer is the iss of GitHub Actions' OIDC tokens.
	GitHubIssuer = "https://token.actions.githubusercontent.com"
	// DefaultFederatedLifetime is the lifetime of Issuer tokens minted without one.
	DefaultFederatedLifetime = time.Hour
	// gitHubTokenLifetime is how long GitHub Actions' OIDC tokens live: about five minutes.
	gitHubTokenLifetime = 5 * time.Minute
	// federationDocs is the page Entra's federation errors point to.
	federationDocs = "https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
)

// FederatedCredential is a federated identity credential of an app registration: a token whose
// iss, sub and aud are exactly these (case-sensitive, as Entra compares them) is accepted as the
// app's client assertion.
type FederatedCredential struct {
	Issuer  string // the token's iss: a Kubernetes cluster's OIDC issuer, GitHubIssuer, EntraIssuer(tenant)
	Subject string // the token's sub: "system:serviceaccount:NS:NAME", "repo:OWNER/REPO:environment:ENV", a managed identity's object ID
	// Audience is the token's aud; empty: TokenExchangeAudience.
	Audience string
}

func (f FederatedCredential) audience() string {
	if f.Audience == "" {
		return TokenExchangeAudience
	}
	return f.Audience
}

// Issuer is an external OpenID Connect issuer of workload tokens: a Kubernetes cluster's
// service-account issuer, GitHub Actions, any identity provider an app registration can trust.
// Its tokens are signed with a key the Server's Entra endpoint knows (as Entra would fetch it from
// the issuer's published keys); tokens of another issuer or Server do not verify as its own. Create
// one with NewIssuer.
type Issuer struct {
	s   *Server
	url string
	kid string
}

// NewIssuer makes an issuer whose tokens carry iss issuerURL, e.g. an AKS cluster's OIDC issuer URL
// or GitHubIssuer (the URL is a name here: nothing is fetched from it). A second call with the same
// URL returns the same Issuer.
func (s *Server) NewIssuer(issuerURL string) *Issuer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.issuers[issuerURL]; i != nil {
		return i
	}
	i := &Issuer{s: s, url: issuerURL, kid: randomHex(10)}
	s.issuers[issuerURL] = i
	return i
}

// URL is the issuer's iss.
func (i *Issuer) URL() string { return i.url }

// Token signs a token with sub subject and aud audience, valid from now (server clock) for lifetime:
// zero means DefaultFederatedLifetime, a negative lifetime makes a token that has already expired.
func (i *Issuer) Token(subject, audience string, lifetime time.Duration) string {
	now := i.s.Now()
	if lifetime == 0 {
		lifetime = DefaultFederatedLifetime
	}
	return i.sign(map[string]any{"sub": subject, "aud": audience, "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(lifetime).Unix(), "jti": randomB64(12)})
}

func (i *Issuer) sign(claims map[string]any) string {
	claims["iss"] = i.url
	tok, err := jwt.Sign(i.s.key, jwt.RS256, map[string]any{"kid": i.kid}, claims)
	if err != nil {
		panic("providertest: signing a federated token: " + err.Error()) // fixed key, plain claims
	}
	return tok
}

// EntraIssuer is the iss of the Server's v2.0 tokens in tenant (empty: DefaultTenant): the Issuer of a
// FederatedCredential that trusts a managed identity, whose Subject is the identity's ObjectID.
func (s *Server) EntraIssuer(tenant string) string {
	if tenant == "" {
		tenant = DefaultTenant
	}
	return s.URL() + "/" + tenant + "/v2.0"
}

// isFederated reports whether an assertion presented for a is an external token rather than a
// certificate assertion the app signed itself: its iss is not the client ID, and the app has
// federated credentials or no certificate.
func isFederated(a App, assertion string) bool {
	var cl assertionClaims
	if jwt.Decode(assertion, nil, &cl) != nil {
		return false // the certificate path answers a malformed assertion
	}
	return cl.Iss != a.ClientID && (len(a.FederatedCredentials) > 0 || a.Certificate == nil)
}

// checkFederatedLocked verifies a federated token as Entra does: a credential with its issuer, a
// signature by that issuer, the time window, then subject and audience, each with its own AADSTS
// code. External tokens may be presented more than once while valid (a projected token is read
// again for every request), so there is no replay check.
func (s *Server) checkFederatedLocked(a App, c clientCred) *tokenError {
	if len(a.FederatedCredentials) == 0 {
		return errNoFederatedCredentials(a.ClientID)
	}
	hdr := map[string]any{}
	var cl assertionClaims
	if err := jwt.Decode(c.assertion, &hdr, &cl); err != nil {
		return errAssertionMalformed("The client assertion could not be decoded.")
	}
	byIssuer := slices.DeleteFunc(slices.Clone(a.FederatedCredentials), func(f FederatedCredential) bool { return f.Issuer != cl.Iss })
	if len(byIssuer) == 0 {
		return errFederatedIssuer(cl.Iss)
	}
	kid, _ := hdr["kid"].(string)
	var idtyp struct {
		Idtyp string `json:"idtyp"`
	}
	wantKid, entra := s.federatedKidLocked(cl.Iss)
	if wantKid == "" || kid != wantKid {
		return errFederatedKey(kid, cl.Iss)
	}
	if _, err := jwt.Verify(c.assertion, &s.key.PublicKey, &idtyp); err != nil {
		return errFederatedKey(kid, cl.Iss)
	}
	if entra && idtyp.Idtyp != "app" {
		return errFederatedNotAppOnly()
	}
	now := s.nowLocked()
	if cl.Exp == 0 {
		return errAssertionMalformed("The client assertion has no 'exp' claim.")
	}
	exp, nbf := unixTime(cl.Exp), unixTime(cl.Exp).Add(-DefaultFederatedLifetime)
	if cl.Nbf != 0 {
		nbf = unixTime(cl.Nbf)
	} else if cl.Iat != 0 {
		nbf = unixTime(cl.Iat)
	}
	if !now.Before(exp) || now.Add(assertionSkew).Before(nbf) {
		return errAssertionTime(now, nbf, exp)
	}
	bySubject := slices.DeleteFunc(slices.Clone(byIssuer), func(f FederatedCredential) bool { return f.Subject != cl.Sub })
	if len(bySubject) == 0 {
		for _, f := range byIssuer {
			if strings.EqualFold(f.Subject, cl.Sub) {
				return errFederatedSubjectCase(cl.Sub)
			}
		}
		return errFederatedSubject(cl.Sub)
	}
	auds := cl.audiences()
	if !slices.ContainsFunc(bySubject, func(f FederatedCredential) bool { return slices.Contains(auds, f.audience()) }) {
		return errFederatedAudience(strings.Join(auds, " "))
	}
	return nil
}

// federatedKidLocked returns the key ID that signs iss's tokens, and whether iss is this Server's
// own v2.0 issuer of a known tenant (whose tokens must be app-only); "" for an unknown issuer.
func (s *Server) federatedKidLocked(iss string) (kid string, entra bool) {
	if tenant, ok := strings.CutPrefix(iss, s.URL()+"/"); ok {
		if tenant, ok = strings.CutSuffix(tenant, "/v2.0"); ok && s.tenants[strings.ToLower(tenant)] {
			return s.kid, true
		}
	}
	if i := s.issuers[iss]; i != nil {
		return i.kid, false
	}
	return "", false
}

// gitHubJob is a GitHub Actions job whose OIDC tokens an Issuer signs.
type gitHubJob struct {
	issuer  *Issuer
	subject string
}

// GitHubActions starts a GitHub Actions job with the permission id-token: write whose OIDC tokens
// come from i with sub subject ("repo:OWNER/REPO:ref:refs/heads/main"); it returns what the runner
// puts in ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN. The endpoint answers
// GET requestURL&audience=AUD with Authorization: Bearer requestToken as GitHub does: {"count",
// "value"}, a token of five minutes (server clock) whose aud is AUD, or https://github.com/OWNER
// without an audience.
func (i *Issuer) GitHubActions(subject string) (requestURL, requestToken string) {
	requestToken = randomB64(24)
	i.s.mu.Lock()
	i.s.jobs[requestToken] = gitHubJob{issuer: i, subject: subject}
	i.s.mu.Unlock()
	return i.s.URL() + "/github/idtoken?api-version=2.0", requestToken
}

// handleGitHub is the runner's OIDC token endpoint.
func (s *Server) handleGitHub(w http.ResponseWriter, r *http.Request) {
	s.count("github")
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"message": "Method Not Allowed"})
		return
	}
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	job, known := s.jobs[bearer]
	s.mu.Unlock()
	if !ok || !known {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Unauthorized"})
		return
	}
	aud := r.URL.Query().Get("audience")
	if aud == "" {
		aud = "https://github.com"
		if owner, _, found := strings.Cut(strings.TrimPrefix(job.subject, "repo:"), "/"); found {
			aud += "/" + owner
		}
	}
	now := s.Now()
	tok := job.issuer.sign(map[string]any{"sub": job.subject, "aud": aud, "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(gitHubTokenLifetime).Unix(), "jti": newGUID()})
	writeJSON(w, http.StatusOK, map[string]any{"count": 1, "value": tok})
}

// Entra's answers to federated tokens, in the words login.microsoftonline.com uses (as reported in
// https://github.com/Azure/login/issues/482, /515, https://github.com/Azure/azure-workload-identity/issues/1200,
// /1232 and Microsoft's error reference).

func errNoFederatedCredentials(clientID string) *tokenError {
	return &tokenError{err: errInvalidClient, code: 70025,
		desc: fmt.Sprintf("The client '%s'(app) has no configured federated identity credentials.", clientID)}
}

func errFederatedIssuer(iss string) *tokenError {
	return &tokenError{err: errInvalidClient, code: 700211,
		desc: fmt.Sprintf("No matching federated identity record found for presented assertion issuer '%s'. Check your "+
			"federated identity credential Subject, Audience and Issuer against the presented assertion. %s", iss, federationDocs)}
}

func errFederatedSubject(sub string) *tokenError {
	return &tokenError{err: errInvalidClient, code: 700213,
		desc: fmt.Sprintf("No matching federated identity record found for presented assertion subject '%s'. Check your "+
			"federated identity credential Subject, Audience and Issuer against the presented assertion. %s", sub, federationDocs)}
}

func errFederatedSubjectCase(sub string) *tokenError {
	return &tokenError{err: errInvalidClient, code: 7002138,
		desc: fmt.Sprintf("No matching federated identity record found for presented assertion subject '%s'. The subject "+
			"matches with case-insensitive comparison, but not with case-sensitive comparison. Check your federated identity "+
			"credential Subject, Audience and Issuer against the presented assertion. %s", sub, federationDocs)}
}

func errFederatedAudience(aud string) *tokenError {
	return &tokenError{err: errInvalidClient, code: 700212,
		desc: fmt.Sprintf("No matching federated identity record found for presented assertion audience '%s'. Check your "+
			"federated identity credential Subject, Audience and Issuer against the presented assertion. %s", aud, federationDocs)}
}

func errFederatedKey(kid, iss string) *tokenError {
	return &tokenError{err: errInvalidClient, code: 7000272,
		desc: fmt.Sprintf("The certificate with identifier %s used to sign the federated credential could not be found in "+
			"the metadata of identity provider %s. Please validate that your Identity Provider's metadata exposes the key "+
			"used to sign the incoming token.", kid, iss)}
}

func errFederatedNotAppOnly() *tokenError {
	return &tokenError{err: errInvalidClient, code: 700229,
		desc: "Only app-only tokens can be used as Federated Identity Credentials for Microsoft Entra issuer."}
}
