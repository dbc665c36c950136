package providertest

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"slices"
	"strings"
	"time"
)

// DefaultTenant is the Entra tenant ID an App is registered in when its Tenant is empty. It is a
// made-up GUID that belongs to no real directory.
const DefaultTenant = "7d3c1c51-6f1e-4c7a-9a53-2d1f0b6e8a10"

// Tenant aliases Entra accepts in the path instead of a tenant ID; the app's own tenant is used.
var tenantAliases = []string{"common", "organizations", "consumers"}

// App is an application registration (Entra) or OAuth client / service account (Google). The same
// App serves both wire formats: the route a request arrives on decides the format.
type App struct {
	ClientID        string
	Tenant          string    // Entra tenant the app is registered in (DefaultTenant if empty)
	Secret          string    // client secret value; empty: none
	SecretID        string    // the secret's ID (sending it instead of the value gives AADSTS7000215)
	SecretExpiresAt time.Time // zero: never; after it (server clock): AADSTS7000222
	// Certificate is the certificate registered for client assertions: an assertion must be signed
	// by its key and name it by thumbprint (x5t#S256, or x5t).
	Certificate *x509.Certificate
	// Public marks a public client ("allow public client flows"): it must send no credential
	// (AADSTS700025 if it does). A confidential app must send one (AADSTS7000218).
	Public       bool
	RedirectURIs []string // exact match, except that a loopback http URI matches any port
	Roles        []string // app-only roles granted by admin consent, e.g. "SMTP.SendAsApp", "IMAP.AccessAsApp"
	// Mailboxes lists the mailboxes app-only tokens may open (Exchange's Add-MailboxPermission);
	// empty: any. With exactly one, introspection and Verify name it as the app token's user.
	Mailboxes []string
	// FederatedCredentials are the external tokens the app accepts as its client assertion
	// instead of a secret or certificate (workload identity federation).
	FederatedCredentials []FederatedCredential

	// Google service account (JWT bearer grant, domain-wide delegation).
	ServiceAccountEmail string
	ServiceAccountKey   *rsa.PublicKey
	DelegatedScopes     []string // scopes the Workspace admin allowed; others give unauthorized_client
}

// AddApp registers a (copied) App, replacing an earlier one with the same ClientID, or for a service
// account without ClientID, the same ServiceAccountEmail. Its tenant becomes a known tenant.
func (s *Server) AddApp(a App) {
	if a.Tenant == "" {
		a.Tenant = DefaultTenant
	}
	a.RedirectURIs = slices.Clone(a.RedirectURIs)
	a.Roles = slices.Clone(a.Roles)
	a.Mailboxes = slices.Clone(a.Mailboxes)
	a.DelegatedScopes = slices.Clone(a.DelegatedScopes)
	a.FederatedCredentials = slices.Clone(a.FederatedCredentials)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenants[strings.ToLower(a.Tenant)] = true
	for i, old := range s.apps {
		if (a.ClientID != "" && old.ClientID == a.ClientID) ||
			(a.ClientID == "" && a.ServiceAccountEmail != "" && strings.EqualFold(old.ServiceAccountEmail, a.ServiceAccountEmail)) {
			s.apps[i] = a
			return
		}
	}
	s.apps = append(s.apps, a)
}

// AddTenant makes a tenant known without registering an app in it (requests naming an unknown
// tenant get AADSTS90002).
func (s *Server) AddTenant(tenant string) {
	s.mu.Lock()
	s.tenants[strings.ToLower(tenant)] = true
	s.mu.Unlock()
}

// SignIn sets the user the authorize endpoint and device approvals act as. Until it is called the
// authorize endpoint answers login_required.
func (s *Server) SignIn(email string) {
	s.mu.Lock()
	s.user = email
	s.mu.Unlock()
}

// GrantMailbox lets user open mailbox with a delegated token (Exchange FullAccess on a shared
// mailbox): VerifySASL(mailbox, token-of-user) then succeeds.
func (s *Server) GrantMailbox(mailbox, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := strings.ToLower(mailbox)
	if s.shared[m] == nil {
		s.shared[m] = map[string]bool{}
	}
	s.shared[m][strings.ToLower(user)] = true
}

// appLocked finds an app by client ID.
func (s *Server) appLocked(clientID string) (App, bool) {
	for _, a := range s.apps {
		if a.ClientID != "" && a.ClientID == clientID {
			return a, true
		}
	}
	return App{}, false
}

// serviceAccountLocked finds a service account by its email.
func (s *Server) serviceAccountLocked(email string) (App, bool) {
	for _, a := range s.apps {
		if a.ServiceAccountEmail != "" && strings.EqualFold(a.ServiceAccountEmail, email) {
			return a, true
		}
	}
	return App{}, false
}

// entraAppLocked resolves the tenant of an Entra path and the app, with Entra's errors.
func (s *Server) entraAppLocked(pathTenant, clientID string) (App, *tokenError) {
	if err := s.checkTenantLocked(pathTenant); err != nil {
		return App{}, err
	}
	if clientID == "" {
		return App{}, errMissingParam("client_id")
	}
	a, ok := s.appLocked(clientID)
	if !ok || (!isTenantAlias(pathTenant) && !strings.EqualFold(a.Tenant, pathTenant)) {
		return App{}, errUnknownClient(clientID, pathTenant)
	}
	return a, nil
}

func (s *Server) checkTenantLocked(tenant string) *tokenError {
	if isTenantAlias(tenant) || s.tenants[strings.ToLower(tenant)] {
		return nil
	}
	return errUnknownTenant(tenant)
}

func isTenantAlias(t string) bool {
	return slices.Contains(tenantAliases, strings.ToLower(t))
}

// mayOpen reports whether app-only tokens of a may open mailbox.
func (a App) mayOpen(mailbox string) bool {
	if len(a.Mailboxes) == 0 {
		return true
	}
	return slices.ContainsFunc(a.Mailboxes, func(m string) bool { return strings.EqualFold(m, mailbox) })
}

// soleMailbox is the app's only mailbox, or "".
func (a App) soleMailbox() string {
	if len(a.Mailboxes) == 1 {
		return a.Mailboxes[0]
	}
	return ""
}

// objectID derives a stable GUID-shaped object ID for a user or app name.
func objectID(name string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(name)))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
