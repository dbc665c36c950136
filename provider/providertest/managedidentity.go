package providertest

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Managed identity endpoints: the instance metadata service
// (https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token)
// and App Service's local endpoint
// (https://learn.microsoft.com/en-us/azure/app-service/overview-managed-identity#rest-endpoint-reference).
const (
	imdsPath             = "/metadata/identity/oauth2/token"
	appServicePath       = "/msi/token"
	appServiceAPIVersion = "2019-08-01"
	appServiceHeader     = "X-IDENTITY-HEADER"
	// systemIdentityName seeds the IDs of a system-assigned identity without any.
	systemIdentityName = "system-assigned"
)

// Error texts of the managed identity endpoints (the metadata service's as Microsoft documents and
// users report them; App Service's as reported in
// https://github.com/Azure-Samples/azure-search-openai-demo/issues/2148).
const (
	imdsNotFound      = "Identity not found"
	imdsMultiple      = "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request"
	imdsNoMetadata    = "Required metadata header not specified"
	appServiceUnknown = "No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId."
)

// knownResources are the resources a managed identity may ask tokens for without an app of the
// Server naming them (Microsoft's first-party applications, and the federation audiences).
var knownResources = []string{
	"https://outlook.office365.com", "https://outlook.office.com", graphResource, graphAppID,
	TokenExchangeAudience, "api://AzureADTokenExchangeUSGov", "api://AzureADTokenExchangeChina",
	"https://management.azure.com", "https://vault.azure.net", "https://storage.azure.com",
}

// ManagedIdentity is an Azure managed identity assigned to the machine the Server's managed
// identity endpoints stand for. Its tokens are app-only tokens (appid ClientID, oid and sub ObjectID,
// roles Roles) that Verify, VerifySASL and VerifyGraph check as they check an app's.
type ManagedIdentity struct {
	// ClientID and ObjectID identify the identity; empty: GUIDs derived from ResourceID.
	ClientID, ObjectID string
	// ResourceID is a user-assigned identity's Azure resource ID
	// ("/subscriptions/.../resourceGroups/.../providers/Microsoft.ManagedIdentity/userAssignedIdentities/NAME");
	// empty: the machine's system-assigned identity.
	ResourceID string
	Tenant     string   // DefaultTenant if empty
	Roles      []string // app roles granted to its service principal: "IMAP.AccessAsApp", "SMTP.SendAsApp", "Mail.Send"
	// Mailboxes lists the mailboxes its tokens may open (Exchange's Add-MailboxPermission for the
	// identity's service principal, or RBAC for Applications); empty: any.
	Mailboxes []string
}

func (m ManagedIdentity) systemAssigned() bool { return m.ResourceID == "" }

// app is the identity as the token checks see it.
func (m ManagedIdentity) app() App {
	return App{ClientID: m.ClientID, Tenant: m.Tenant, Roles: m.Roles, Mailboxes: m.Mailboxes}
}

// AddManagedIdentity assigns a (copied) identity to the machine, replacing one with the same client
// ID (or the earlier system-assigned one), and returns it with its IDs and tenant filled in. Its
// tenant becomes a known tenant.
func (s *Server) AddManagedIdentity(m ManagedIdentity) ManagedIdentity {
	seed := m.ResourceID
	if seed == "" {
		seed = systemIdentityName
	}
	if m.ClientID == "" {
		m.ClientID = objectID("mi-client|" + seed)
	}
	if m.ObjectID == "" {
		m.ObjectID = objectID("mi-object|" + seed)
	}
	if m.Tenant == "" {
		m.Tenant = DefaultTenant
	}
	m.Roles = slices.Clone(m.Roles)
	m.Mailboxes = slices.Clone(m.Mailboxes)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenants[strings.ToLower(m.Tenant)] = true
	s.identities = slices.DeleteFunc(s.identities, func(o ManagedIdentity) bool {
		return strings.EqualFold(o.ClientID, m.ClientID) || o.systemAssigned() && m.systemAssigned()
	})
	s.identities = append(s.identities, m)
	return m
}

// IMDSEndpoint is the token URL of the Server's instance metadata service, on the plain-HTTP
// listener of PlainURL (the real one is plain HTTP on a link-local address):
// "http://127.0.0.1:PORT/metadata/identity/oauth2/token". It checks the Metadata: true header,
// api-version, resource and the user-assigned selectors client_id, object_id and msi_res_id, and
// answers the documented errors; FailIdentity injects others.
func (s *Server) IMDSEndpoint() string { return s.PlainURL() + imdsPath }

// AppServiceEnvironment returns what App Service puts in IDENTITY_ENDPOINT and IDENTITY_HEADER for
// the Server's App Service endpoint (plain HTTP on loopback, as the real one). Requests must carry
// the header value in X-IDENTITY-HEADER and api-version 2019-08-01; client_id, principal_id (or
// object_id) and mi_res_id select a user-assigned identity, none the system-assigned one.
func (s *Server) AppServiceEnvironment() (endpoint, header string) {
	endpoint = s.PlainURL() + appServicePath
	s.mu.Lock()
	defer s.mu.Unlock()
	return endpoint, s.idHeader
}

// RotateIdentityHeader gives App Service's IDENTITY_HEADER a new value, as the platform does from
// time to time, and returns it: requests with the old value are refused.
func (s *Server) RotateIdentityHeader() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.idHeader = randomHex(16)
	return s.idHeader
}

// FailIdentity makes the next n requests to either managed identity endpoint answer f (e.g.
// TooManyRequests, ServerError, or Failure{Status: 410} while the metadata service updates).
func (s *Server) FailIdentity(n int, f Failure) { s.queueFailure(&s.idFailures, n, f) }

// identityRequest is a managed-identity token request, parsed.
type identityRequest struct {
	resource, apiVersion string
	selectors            map[string]string // parameter -> value, only those given
}

// handleIMDS is the instance metadata service's token endpoint.
func (s *Server) handleIMDS(w http.ResponseWriter, r *http.Request) {
	s.count("imds")
	if s.injected(w, r, &s.idFailures) {
		return
	}
	fail := func(status int, code, desc string) {
		writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
	}
	if r.Method != http.MethodGet {
		fail(http.StatusMethodNotAllowed, errInvalidRequest, "The request method is not allowed; use GET.")
		return
	}
	if r.Header.Get("Metadata") != "true" {
		fail(http.StatusBadRequest, "bad_request_102", imdsNoMetadata)
		return
	}
	req := readIdentityRequest(r, "client_id", "object_id", "msi_res_id")
	switch {
	case req.apiVersion == "":
		fail(http.StatusBadRequest, errInvalidRequest, "Required query variable 'api-version' is missing")
		return
	case req.resource == "":
		fail(http.StatusBadRequest, errInvalidRequest, "Required query variable 'resource' is missing")
		return
	case len(req.selectors) > 1:
		fail(http.StatusBadRequest, errInvalidRequest, "Only one of client_id, object_id and msi_res_id may be given")
		return
	}
	s.mu.Lock()
	m, status := s.pickIdentityLocked(req, true)
	known := status == http.StatusOK && s.knownResourceLocked(req.resource)
	var tok string
	var exp int
	if known {
		tok, exp = s.mintIdentityLocked(m, req.resource)
	}
	now := s.nowLocked().Unix()
	s.mu.Unlock()
	switch {
	case status == http.StatusConflict:
		fail(http.StatusBadRequest, errInvalidRequest, imdsMultiple)
		return
	case status == http.StatusNotFound:
		fail(http.StatusBadRequest, errInvalidRequest, imdsNotFound)
		return
	case !known:
		fail(http.StatusBadRequest, "invalid_resource", unknownResource(req.resource, m.Tenant))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token": tok, "client_id": m.ClientID, "expires_in": strconv.Itoa(exp),
		"expires_on": strconv.FormatInt(now+int64(exp), 10), "ext_expires_in": strconv.Itoa(exp),
		"not_before": strconv.FormatInt(now, 10), "resource": req.resource, "token_type": "Bearer",
	})
}

// handleAppService is App Service's and Azure Functions' local token endpoint.
func (s *Server) handleAppService(w http.ResponseWriter, r *http.Request) {
	s.count("appservice")
	if s.injected(w, r, &s.idFailures) {
		return
	}
	fail := func(status int, msg string) {
		writeJSON(w, status, map[string]any{"statusCode": status, "message": msg, "correlationId": newGUID()})
	}
	if r.Method != http.MethodGet {
		fail(http.StatusMethodNotAllowed, "The request method is not allowed; use GET.")
		return
	}
	req := readIdentityRequest(r, "client_id", "principal_id", "mi_res_id", "object_id")
	s.mu.Lock()
	want := s.idHeader
	s.mu.Unlock()
	if h := r.Header.Get(appServiceHeader); h == "" || subtle.ConstantTimeCompare([]byte(h), []byte(want)) != 1 {
		fail(http.StatusUnauthorized, "The "+appServiceHeader+" header is missing or does not match IDENTITY_HEADER.")
		return
	}
	switch {
	case req.apiVersion != appServiceAPIVersion:
		fail(http.StatusBadRequest, "Unsupported api-version "+strconv.Quote(req.apiVersion)+"; use "+appServiceAPIVersion+".")
		return
	case req.resource == "":
		fail(http.StatusBadRequest, "The resource parameter is missing.")
		return
	case len(req.selectors) > 1:
		fail(http.StatusBadRequest, "Only one of client_id, principal_id and mi_res_id may be given.")
		return
	}
	s.mu.Lock()
	m, status := s.pickIdentityLocked(req, false)
	known := status == http.StatusOK && s.knownResourceLocked(req.resource)
	var tok string
	var exp int
	if known {
		tok, exp = s.mintIdentityLocked(m, req.resource)
	}
	now := s.nowLocked().Unix()
	s.mu.Unlock()
	switch {
	case status != http.StatusOK:
		fail(http.StatusBadRequest, appServiceUnknown)
		return
	case !known:
		fail(http.StatusBadRequest, unknownResource(req.resource, m.Tenant))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token": tok, "client_id": m.ClientID, "expires_on": strconv.FormatInt(now+int64(exp), 10),
		"not_before": strconv.FormatInt(now, 10), "resource": req.resource, "token_type": "Bearer",
	})
}

func readIdentityRequest(r *http.Request, selectors ...string) identityRequest {
	q := r.URL.Query()
	req := identityRequest{resource: q.Get("resource"), apiVersion: q.Get("api-version"), selectors: map[string]string{}}
	for _, name := range selectors {
		if v := q.Get(name); v != "" {
			req.selectors[name] = v
		}
	}
	return req
}

// pickIdentityLocked finds the identity a request names: StatusOK, StatusNotFound, or
// StatusConflict when none is named and several user-assigned ones could be meant. The metadata
// service (imds) falls back to the only user-assigned identity when there is no system-assigned
// one; App Service does not.
func (s *Server) pickIdentityLocked(req identityRequest, imds bool) (ManagedIdentity, int) {
	for name, v := range req.selectors {
		for _, m := range s.identities {
			var id string
			switch name {
			case "client_id":
				id = m.ClientID
			case "object_id", "principal_id":
				id = m.ObjectID
			default:
				id = m.ResourceID
			}
			if id != "" && strings.EqualFold(id, v) {
				return m, http.StatusOK
			}
		}
		return ManagedIdentity{}, http.StatusNotFound
	}
	var user []ManagedIdentity
	for _, m := range s.identities {
		if m.systemAssigned() {
			return m, http.StatusOK
		}
		user = append(user, m)
	}
	switch {
	case imds && len(user) == 1:
		return user[0], http.StatusOK
	case imds && len(user) > 1:
		return ManagedIdentity{}, http.StatusConflict
	}
	return ManagedIdentity{}, http.StatusNotFound
}

// knownResourceLocked reports whether the tenant knows a resource: a Microsoft one, or an app of the
// Server by client ID or api://CLIENT_ID.
func (s *Server) knownResourceLocked(resource string) bool {
	res := strings.TrimSuffix(resource, "/")
	if slices.ContainsFunc(knownResources, func(k string) bool { return strings.EqualFold(k, res) }) {
		return true
	}
	id := strings.TrimPrefix(res, "api://")
	_, ok := s.appLocked(id)
	return ok
}

func unknownResource(resource, tenant string) string {
	return fmt.Sprintf("AADSTS500011: The resource principal named %s was not found in the tenant named %s. This can "+
		"happen if the application has not been installed by the administrator of the tenant or consented to by any "+
		"user in the tenant. You might have sent your authentication request to the wrong tenant.", resource, tenant)
}

// mintIdentityLocked signs an identity's app-only token for resource: a v2.0 token for the
// federation audiences (an app registration trusts it as issued by EntraIssuer), else v1.0.
func (s *Server) mintIdentityLocked(m ManagedIdentity, resource string) (string, int) {
	version := tokenVersion1
	if strings.HasPrefix(resource, TokenExchangeAudience) {
		version = tokenVersion2
	}
	extra := map[string]any{"oid": m.ObjectID, "sub": m.ObjectID}
	if !m.systemAssigned() {
		extra["xms_mirid"] = m.ResourceID
	}
	return s.mintLocked(mintParams{tenant: m.Tenant, clientID: m.ClientID, appidacr: acrCertificate,
		resource: resource, roles: m.Roles, version: version, extra: extra})
}

// identityLocked finds an identity by client ID.
func (s *Server) identityLocked(clientID string) (ManagedIdentity, bool) {
	for _, m := range s.identities {
		if strings.EqualFold(m.ClientID, clientID) {
			return m, true
		}
	}
	return ManagedIdentity{}, false
}
