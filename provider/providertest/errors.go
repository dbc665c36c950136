package providertest

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// OAuth error strings (RFC 6749 section 5.2, RFC 8628 section 3.5).
const (
	errInvalidRequest        = "invalid_request"
	errInvalidClient         = "invalid_client"
	errInvalidGrant          = "invalid_grant"
	errUnauthorizedClient    = "unauthorized_client"
	errUnsupportedGrantType  = "unsupported_grant_type"
	errInvalidScope          = "invalid_scope"
	errAuthorizationPending  = "authorization_pending"
	errSlowDown              = "slow_down"
	errAuthorizationDeclined = "authorization_declined"
	errAccessDenied          = "access_denied"
	errExpiredToken          = "expired_token"
	errBadVerificationCode   = "bad_verification_code"
)

// entraTimestampLayout is the layout of Entra's "timestamp" field and description line.
const entraTimestampLayout = "2006-01-02 15:04:05Z"

// defaultErrorHost is the error_uri host of bodies built by AADSTS, which knows no server.
const defaultErrorHost = "https://login.microsoftonline.com"

// tokenError is one natural error of the server, in both wire formats.
type tokenError struct {
	err    string // OAuth "error"
	code   int    // AADSTS number
	desc   string // Entra description without the "AADSTSnnn: " prefix
	status int    // Entra HTTP status; 0: 400 (401 for invalid_client)

	gErr    string // Google "error"; "": err
	gDesc   string // Google "error_description"
	gStatus int    // Google HTTP status; 0: 400 (401 for invalid_client)
}

func (e *tokenError) entraStatus() int {
	if e.status != 0 {
		return e.status
	}
	if e.err == errInvalidClient {
		return http.StatusUnauthorized
	}
	return http.StatusBadRequest
}

func (e *tokenError) google() (status int, errName, desc string) {
	errName = e.gErr
	if errName == "" {
		errName = e.err
	}
	status = e.gStatus
	if status == 0 {
		status = http.StatusBadRequest
		if errName == errInvalidClient {
			status = http.StatusUnauthorized
		}
	}
	desc = e.gDesc
	if desc == "" {
		desc = "Bad Request"
	}
	return status, errName, desc
}

// entraErrorBody is Entra's token-endpoint error JSON, fields in Entra's order.
type entraErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	ErrorURI         string `json:"error_uri,omitempty"`
}

// buildEntraError returns an Entra error body. desc may already start with "AADSTSnnn: ".
func buildEntraError(base string, now time.Time, correlation string, code int, errName, desc string) []byte {
	prefix := "AADSTS" + strconv.Itoa(code) + ": "
	if !strings.HasPrefix(desc, "AADSTS") {
		desc = prefix + desc
	}
	if correlation == "" {
		correlation = newGUID()
	}
	trace := newGUID()
	ts := now.UTC().Format(entraTimestampLayout)
	body := entraErrorBody{
		Error:            errName,
		ErrorDescription: desc + "\r\nTrace ID: " + trace + "\r\nCorrelation ID: " + correlation + "\r\nTimestamp: " + ts,
		ErrorCodes:       []int{code},
		Timestamp:        ts,
		TraceID:          trace,
		CorrelationID:    correlation,
		ErrorURI:         base + "/error?code=" + strconv.Itoa(code),
	}
	b, err := json.Marshal(body)
	if err != nil {
		panic(err) // strings and ints only
	}
	return b
}

// correlationID is the client's "client-request-id" header when it is a GUID (Entra echoes it), or "".
func correlationID(r *http.Request) string {
	id := r.Header.Get("client-request-id")
	if len(id) == 36 && strings.Count(id, "-") == 4 {
		return strings.ToLower(id)
	}
	return ""
}

// writeEntraError answers e in Entra's format.
func (s *Server) writeEntraError(w http.ResponseWriter, r *http.Request, e *tokenError) {
	body := buildEntraError(s.URL(), s.Now(), correlationID(r), e.code, e.err, e.desc)
	writeJSONBytes(w, e.entraStatus(), body)
}

// writeGoogleError answers e in Google's format.
func writeGoogleError(w http.ResponseWriter, e *tokenError) {
	status, name, desc := e.google()
	writeJSON(w, status, map[string]string{"error": name, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "providertest: encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSONBytes(w, status, b)
}

func writeJSONBytes(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeErrorPage answers an error that Entra shows on its sign-in page instead of redirecting
// (unknown client, unregistered redirect URI): HTTP 400, HTML naming the AADSTS code.
func writeErrorPage(w http.ResponseWriter, e *tokenError) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, "<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body>"+
		"<h1>Sorry, but we're having trouble signing you in.</h1><p id=\"error\">AADSTS%d: %s</p>"+
		"<p>error: %s</p></body></html>\n", e.code, html.EscapeString(e.desc), html.EscapeString(e.err))
}

// writeGooglePage answers an error Google shows on its consent page (e.g. redirect_uri_mismatch).
func writeGooglePage(w http.ResponseWriter, e *tokenError) {
	_, name, desc := e.google()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, "<!DOCTYPE html><html><body><h1>Access blocked: authorization error</h1>"+
		"<p id=\"error\">Error 400: %s</p><p>%s</p></body></html>\n", html.EscapeString(name), html.EscapeString(desc))
}

// handleErrorLookup is the target of error_uri: a page naming the code.
func (s *Server) handleErrorLookup(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("code")
	if _, err := strconv.Atoi(code); err != nil {
		http.Error(w, "providertest: give ?code=<AADSTS number>", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!DOCTYPE html><html><body><h1>AADSTS%s</h1><p>See https://login.microsoftonline.com/error?code=%[1]s for its meaning.</p></body></html>\n", code)
}

// Natural errors. Entra descriptions follow the texts seen from login.microsoftonline.com; the
// numbers for slow_down (70016, as pending) and authorization_declined (70000) are not published by
// Microsoft and are our choice.

func errMissingParam(name string) *tokenError {
	return &tokenError{err: errInvalidRequest, code: 900144,
		desc:  fmt.Sprintf("The request body must contain the following parameter: '%s'.", name),
		gDesc: "Missing required parameter: " + name}
}

func errUnknownTenant(tenant string) *tokenError {
	return &tokenError{err: errInvalidRequest, code: 90002,
		desc: fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing "+
			"into the correct cloud. Check with your subscription administrator, this may happen if there are no "+
			"active subscriptions for the tenant.", tenant)}
}

func errUnknownClient(clientID, tenant string) *tokenError {
	return &tokenError{err: errUnauthorizedClient, code: 700016,
		desc: fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if "+
			"the application has not been installed by the administrator of the tenant or consented to by any user "+
			"in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, tenant),
		gErr: errInvalidClient, gDesc: "The OAuth client was not found."}
}

func errBadSecret(clientID string) *tokenError {
	return &tokenError{err: errInvalidClient, code: 7000215,
		desc: fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client "+
			"secret value, not the client secret ID, for a secret added to app '%s'.", clientID),
		gDesc: "Unauthorized"}
}

func errSecretExpired(clientID string) *tokenError {
	return &tokenError{err: errInvalidClient, code: 7000222,
		desc: fmt.Sprintf("The provided client secret keys for app '%s' are expired. Visit the Azure portal to create "+
			"new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for "+
			"added security: https://aka.ms/certCreds.", clientID),
		gDesc: "Unauthorized"}
}

func errNoCredential() *tokenError {
	return &tokenError{err: errInvalidClient, code: 7000218,
		desc:  "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
		gErr:  errInvalidRequest,
		gDesc: "client_secret is missing."}
}

func errPublicCredential() *tokenError {
	return &tokenError{err: errInvalidClient, code: 700025,
		desc:  "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
		gDesc: "Unauthorized"}
}

func errAssertionMalformed(why string) *tokenError {
	return &tokenError{err: errInvalidClient, code: 50027, desc: "JWT token is invalid or malformed. " + why,
		gErr: errInvalidGrant, gDesc: "Invalid JWT: " + why}
}

func errAssertionSignature() *tokenError {
	return &tokenError{err: errInvalidClient, code: 700027, desc: "Client assertion failed signature validation.",
		gErr: errInvalidGrant, gDesc: "Invalid JWT Signature."}
}

func errAssertionKeyUnknown(thumbprint string) *tokenError {
	return &tokenError{err: errInvalidClient, code: 700027,
		desc: fmt.Sprintf("The certificate with identifier used to sign the client assertion is not registered on "+
			"application. [Reason - The key was not found., Thumbprint of key used by client: '%s']", thumbprint)}
}

func errAssertionTime(now, nbf, exp time.Time) *tokenError {
	const layout = "01/02/2006 15:04:05"
	return &tokenError{err: errInvalidClient, code: 700024,
		desc: fmt.Sprintf("Client assertion is not within its valid time range. Current time: %s, assertion valid "+
			"from %s, expiry time of assertion %s.", now.UTC().Format(layout), nbf.UTC().Format(layout), exp.UTC().Format(layout)),
		gErr:  errInvalidGrant,
		gDesc: "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."}
}

func errAssertionReplayed() *tokenError {
	return &tokenError{err: errInvalidClient, code: 700024,
		desc: "Client assertion is not within its valid time range. The assertion's jti has already been used; " +
			"create a new assertion for every request."}
}

func errAssertionAudience(got, want string) *tokenError {
	return &tokenError{err: errInvalidClient, code: 50013,
		desc: fmt.Sprintf("Assertion audience claim does not match the required value. The audience in the "+
			"assertion was '%s' and the expected audience is '%s'.", got, want),
		gErr: errInvalidGrant, gDesc: "Invalid JWT: Failed audience check."}
}

func errAssertionIssuer() *tokenError {
	return &tokenError{err: errInvalidClient, code: 700021,
		desc: "Client assertion application identifier doesn't match 'client_id' parameter."}
}

func errClientCredentialsScope(scope string) *tokenError {
	return &tokenError{err: errInvalidScope, code: 1002012,
		desc: fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope "+
			"value with /.default suffixed to the resource identifier (application ID URI).", scope)}
}

func errScopeResources() *tokenError {
	return &tokenError{err: errInvalidScope, code: 700022,
		desc: "The provided value for the input parameter scope is not valid because it contains more than one resource."}
}

func errUnsupportedGrant(gt string) *tokenError {
	return &tokenError{err: errUnsupportedGrantType, code: 70003,
		desc:  fmt.Sprintf("The app requested an unsupported grant type '%s'.", gt),
		gDesc: "Invalid grant_type: " + gt}
}

func errMalformedGrant() *tokenError {
	return &tokenError{err: errInvalidGrant, code: 9002313,
		desc: "Invalid request. Request is malformed or invalid.", gDesc: "Bad Request"}
}

func errGrantInactive() *tokenError {
	return &tokenError{err: errInvalidGrant, code: 70008,
		desc: "The provided authorization code or refresh token has expired due to inactivity. Send a new " +
			"interactive authorization request for this user and resource.",
		gDesc: "Token has been expired or revoked."}
}

func errGrantRevoked(issued, validFrom time.Time) *tokenError {
	return &tokenError{err: errInvalidGrant, code: 50173,
		desc: fmt.Sprintf("The provided grant has expired due to it being revoked, a fresh auth token is needed. The "+
			"user might have changed or reset their password. The grant was issued on '%s' and the TokensValidFrom "+
			"date (before which tokens are not valid) for this user is '%s'.",
			issued.UTC().Format(time.RFC3339Nano), validFrom.UTC().Format(time.RFC3339Nano)),
		gDesc: "Token has been expired or revoked."}
}

func errRefreshExpired(issued time.Time, idle time.Duration) *tokenError {
	return &tokenError{err: errInvalidGrant, code: 700082,
		desc: fmt.Sprintf("The refresh token has expired due to inactivity. The token was issued on %s and was "+
			"inactive for %s.", issued.UTC().Format(time.RFC3339Nano), idle.Round(time.Second)),
		gDesc: "Token has been expired or revoked."}
}

func errGrantOtherClient() *tokenError {
	return &tokenError{err: errInvalidGrant, code: 70000,
		desc: "Provided grant is invalid or malformed.", gErr: errUnauthorizedClient, gDesc: "Unauthorized"}
}

func errCodeRedeemed() *tokenError {
	return &tokenError{err: errInvalidGrant, code: 54005,
		desc: "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an " +
			"existing refresh token."}
}

func errPKCE(missing bool) *tokenError {
	g := "Invalid code verifier."
	if missing {
		g = "Missing code verifier."
	}
	return &tokenError{err: errInvalidGrant, code: 501481,
		desc: "The Code_Verifier does not match the code_challenge supplied in the authorization request.", gDesc: g}
}

func errCodeRedirect(got, want string) *tokenError {
	return &tokenError{err: errInvalidGrant, code: 500112,
		desc: fmt.Sprintf("The reply address '%s' does not match the reply address '%s' provided when requesting "+
			"Authorization code.", got, want),
		gErr: "redirect_uri_mismatch", gDesc: "Bad Request"}
}

func errDevicePending() *tokenError {
	return &tokenError{err: errAuthorizationPending, code: 70016,
		desc:    "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
		gStatus: http.StatusPreconditionRequired, gDesc: "Precondition Required"}
}

func errDeviceSlowDown() *tokenError {
	return &tokenError{err: errSlowDown, code: 70016,
		desc:    "OAuth 2.0 device flow error. Polling too frequently; wait at least the interval between requests.",
		gStatus: http.StatusForbidden, gDesc: "Forbidden"}
}

func errDeviceDeclined() *tokenError {
	return &tokenError{err: errAuthorizationDeclined, code: 70000,
		desc: "The end user denied the authorization request.", gErr: errAccessDenied,
		gStatus: http.StatusForbidden, gDesc: "Forbidden"}
}

func errDeviceExpired() *tokenError {
	return &tokenError{err: errExpiredToken, code: 70019, desc: "Verification code expired.",
		gDesc: "Bad Request"}
}

func errDeviceUnknown() *tokenError {
	return &tokenError{err: errBadVerificationCode, code: 70018,
		desc: "Invalid verification code. The device_code sent is not recognized.",
		gErr: errInvalidGrant, gDesc: "Malformed auth code."}
}

func errDeviceRedeemed() *tokenError {
	return &tokenError{err: errInvalidGrant, code: 90120,
		desc: "The device code was already redeemed; start a new device authorization request."}
}
