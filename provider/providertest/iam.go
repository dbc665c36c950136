package providertest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mailoauth/mailoauth/internal/jwt"
)

// The IAM Service Account Credentials API's signJwt
// (https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/signJwt).
const (
	signJWTSuffix = ":signJwt"
	// maxSignedJWTLife is how far ahead a payload's exp may be.
	maxSignedJWTLife = 12 * time.Hour
	// signJWTPermission is the IAM permission signJwt needs, part of roles/iam.serviceAccountTokenCreator.
	signJWTPermission = "iam.serviceAccounts.signJwt"
	iamService        = "iamcredentials.googleapis.com"
)

// Scopes a caller's access token may carry to call signJwt.
var iamScopes = []string{"https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/iam"}

// AllowSignJWT grants caller (the email of the account whose access token calls signJwt: a user or
// a service account) roles/iam.serviceAccountTokenCreator on serviceAccount, so that it may have JWTs
// signed with the service account's Google-managed key. Without it signJwt answers 403
// PERMISSION_DENIED, as it does for an unknown service account.
func (s *Server) AllowSignJWT(caller, serviceAccount string) {
	s.mu.Lock()
	s.signers[strings.ToLower(caller)+"|"+strings.ToLower(serviceAccount)] = true
	s.mu.Unlock()
}

// SetIAMCredentialsAPI says whether the IAM Service Account Credentials API is enabled in the
// caller's project (default on). Off, signJwt answers 403 with reason SERVICE_DISABLED.
func (s *Server) SetIAMCredentialsAPI(enabled bool) {
	s.mu.Lock()
	s.iamOff = !enabled
	s.mu.Unlock()
}

// FailSignJWT makes the next n signJwt requests answer f (e.g. ServerError(503)).
func (s *Server) FailSignJWT(n int, f Failure) { s.queueFailure(&s.iamFailures, n, f) }

// managedKeyID is the keyId of the Google-managed key of a service account: signJwt signs with
// it, and the JWT-bearer grant accepts assertions signed with it as it accepts ones signed with the
// account's own key.
func (s *Server) managedKeyID(serviceAccount string) string {
	sum := sha256.Sum256([]byte(s.kid + "|" + strings.ToLower(serviceAccount)))
	return hex.EncodeToString(sum[:20])
}

// googleAPIError is the error body of Google's JSON APIs (https://cloud.google.com/apis/design/errors).
type googleAPIError struct {
	status  int
	code    string // PERMISSION_DENIED, UNAUTHENTICATED, INVALID_ARGUMENT
	message string
	reason  string // ErrorInfo reason; "" for none
	domain  string
	meta    map[string]string
}

func (e *googleAPIError) write(w http.ResponseWriter) {
	body := map[string]any{"code": e.status, "message": e.message, "status": e.code}
	if e.reason != "" {
		body["details"] = []map[string]any{{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
			"reason": e.reason, "domain": e.domain, "metadata": e.meta}}
	}
	writeJSON(w, e.status, map[string]any{"error": body})
}

// signJWTRequest is signJwt's JSON body.
type signJWTRequest struct {
	Payload   string   `json:"payload"`
	Delegates []string `json:"delegates"`
}

// handleIAM is POST /v1/projects/-/serviceAccounts/{email}:signJwt.
func (s *Server) handleIAM(w http.ResponseWriter, r *http.Request) {
	account, ok := strings.CutSuffix(r.PathValue("account"), signJWTSuffix)
	if !ok {
		(&googleAPIError{status: http.StatusNotFound, code: "NOT_FOUND", message: "Method not found."}).write(w)
		return
	}
	s.count("signjwt")
	if s.injected(w, r, &s.iamFailures) {
		return
	}
	if r.Method != http.MethodPost {
		(&googleAPIError{status: http.StatusMethodNotAllowed, code: "INVALID_ARGUMENT", message: "signJwt is POST only."}).write(w)
		return
	}
	var req signJWTRequest
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	decodeErr := json.NewDecoder(r.Body).Decode(&req)
	s.mu.Lock()
	signed, e := s.signJWTLocked(r, r.PathValue("project"), account, req, decodeErr)
	s.mu.Unlock()
	if e != nil {
		e.write(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"keyId": s.managedKeyID(account), "signedJwt": signed})
}

// signJWTLocked checks a signJwt call as Google does and signs the payload.
func (s *Server) signJWTLocked(r *http.Request, project, account string, req signJWTRequest, decodeErr error) (string, *googleAPIError) {
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || bearer == "" {
		return "", &googleAPIError{status: http.StatusUnauthorized, code: "UNAUTHENTICATED",
			message: "Request is missing required authentication credential. Expected OAuth 2 access token, login " +
				"cookie or other valid authentication credential.", reason: "CREDENTIALS_MISSING", domain: "googleapis.com"}
	}
	c, err := s.verifyLocked(bearer)
	if err != nil {
		reason := "ACCESS_TOKEN_TYPE_UNSUPPORTED"
		if errors.Is(err, ErrTokenExpired) {
			reason = "ACCESS_TOKEN_EXPIRED"
		}
		return "", &googleAPIError{status: http.StatusUnauthorized, code: "UNAUTHENTICATED",
			message: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or " +
				"other valid authentication credential.", reason: reason, domain: "googleapis.com"}
	}
	caller := c.claims.Email
	if !slices.ContainsFunc(strings.Fields(c.claims.Scope), func(sc string) bool { return slices.Contains(iamScopes, sc) }) {
		return "", &googleAPIError{status: http.StatusForbidden, code: "PERMISSION_DENIED",
			message: "Request had insufficient authentication scopes.", reason: "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
			domain: "googleapis.com", meta: map[string]string{"service": iamService, "method": "google.iam.credentials.v1.IAMCredentials.SignJwt"}}
	}
	if s.iamOff {
		consumer := "projects/" + numericID("project|" + caller)[:12]
		return "", &googleAPIError{status: http.StatusForbidden, code: "PERMISSION_DENIED",
			message: "IAM Service Account Credentials API has not been used in project " + consumer[len("projects/"):] +
				" before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/" +
				iamService + "/overview then retry.",
			reason: "SERVICE_DISABLED", domain: "googleapis.com", meta: map[string]string{"consumer": consumer, "service": iamService}}
	}
	if project != "-" {
		return "", &googleAPIError{status: http.StatusBadRequest, code: "INVALID_ARGUMENT",
			message: "The project in the resource name must be the wildcard '-': projects/-/serviceAccounts/" + account}
	}
	principal := caller
	for _, next := range append(slices.Clone(req.Delegates), account) {
		next = next[strings.LastIndex(next, "/")+1:]
		if _, known := s.serviceAccountLocked(next); !known || !s.signers[strings.ToLower(principal)+"|"+strings.ToLower(next)] {
			return "", errSignJWTDenied(next)
		}
		principal = next
	}
	if decodeErr != nil || req.Payload == "" {
		return "", &googleAPIError{status: http.StatusBadRequest, code: "INVALID_ARGUMENT", message: "Invalid JSON payload received: a payload is required."}
	}
	var claims map[string]any
	if err := json.Unmarshal([]byte(req.Payload), &claims); err != nil {
		return "", &googleAPIError{status: http.StatusBadRequest, code: "INVALID_ARGUMENT", message: "The payload is not a JSON object."}
	}
	if v, has := claims["exp"]; has {
		exp, isNumber := v.(float64)
		now := s.nowLocked()
		if !isNumber || exp != float64(int64(exp)) || unixTime(exp).Before(now) || unixTime(exp).After(now.Add(maxSignedJWTLife)) {
			return "", &googleAPIError{status: http.StatusBadRequest, code: "INVALID_ARGUMENT",
				message: "The exp claim must be an integer, not in the past and at most 12 hours from now."}
		}
	}
	signed, err := jwt.Sign(s.key, jwt.RS256, map[string]any{"kid": s.managedKeyID(account)}, json.RawMessage(req.Payload))
	if err != nil {
		return "", &googleAPIError{status: http.StatusBadRequest, code: "INVALID_ARGUMENT", message: "The payload cannot be signed."}
	}
	return signed, nil
}

func errSignJWTDenied(account string) *googleAPIError {
	resource := "projects/-/serviceAccounts/" + account
	return &googleAPIError{status: http.StatusForbidden, code: "PERMISSION_DENIED",
		message: fmt.Sprintf("Permission '%s' denied on resource (or it may not exist).", signJWTPermission),
		reason:  "IAM_PERMISSION_DENIED", domain: "iam.googleapis.com",
		meta: map[string]string{"permission": signJWTPermission, "resource": resource}}
}
