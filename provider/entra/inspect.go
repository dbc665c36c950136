package entra

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mailoauth/mailoauth/internal/jwt"
)

// Permissions a mail token must carry (https://learn.microsoft.com/en-us/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth): delegated
// scopes in scp, application permissions in roles.
const (
	ScopeSMTPSend       = "SMTP.Send"
	ScopeIMAPAccessUser = "IMAP.AccessAsUser.All"
	RoleSMTPSendAsApp   = "SMTP.SendAsApp"
	RoleIMAPAccessAsApp = "IMAP.AccessAsApp"
)

// exchangeAudiences are the aud values of Exchange Online tokens in every
// cloud: the resources of delegated and app-only scopes, the legacy
// ps.outlook.com resource of admin consent, and Exchange's application ID.
var exchangeAudiences = []string{
	"https://outlook.office.com",
	"https://outlook.office365.com",
	"https://outlook.office365.us",
	"https://outlook-dod.office365.us",
	"https://partner.outlook.cn",
	"https://ps.outlook.com",
	"00000002-0000-0ff1-ce00-000000000000",
}

// graphAudiences are the aud values of Microsoft Graph tokens, the usual
// mistake: a scope without the Outlook resource prefix is a Graph scope.
var graphAudiences = []string{
	"https://graph.microsoft.com",
	"https://graph.microsoft.us",
	"https://dod-graph.microsoft.us",
	"https://microsoftgraph.chinacloudapi.cn",
	"00000003-0000-0000-c000-000000000000",
}

// Claims are the claims of an Entra access token that matter for mail,
// read without verifying the signature: use them to explain a refusal,
// never to trust a token.
type Claims struct {
	// Opaque is set when the token is not a JWT (Microsoft issues opaque
	// tokens for personal Microsoft accounts): nothing else can be read,
	// and nothing is known to be wrong.
	Opaque bool

	Audience  string    // aud: the resource the token is for
	Tenant    string    // tid: the tenant that issued it
	Issuer    string    // iss
	AppID     string    // appid (v1.0 tokens) or azp (v2.0)
	Scopes    []string  // scp, split: delegated permissions
	Roles     []string  // roles: application permissions
	UPN       string    // upn, else unique_name: the signed-in user of a delegated token
	ExpiresAt time.Time // exp; zero when absent
	Version   string    // ver: "1.0" or "2.0"
}

// rawClaims is the JSON of the claims Inspect reads.
type rawClaims struct {
	Aud        json.RawMessage `json:"aud"`
	Tid        string          `json:"tid"`
	Iss        string          `json:"iss"`
	AppID      string          `json:"appid"`
	Azp        string          `json:"azp"`
	Scp        string          `json:"scp"`
	Roles      []string        `json:"roles"`
	UPN        string          `json:"upn"`
	UniqueName string          `json:"unique_name"`
	Exp        json.Number     `json:"exp"`
	Ver        string          `json:"ver"`
}

// Inspect decodes accessToken's claims without verifying it. A token that
// is not a JWT gives Claims with Opaque set and no error; an empty token or
// a JWT that does not decode gives an error. The token itself is never part
// of an error.
func Inspect(accessToken string) (*Claims, error) {
	accessToken = strings.TrimSpace(accessToken)
	if accessToken == "" {
		return nil, errors.New("entra: inspect: the access token is empty")
	}
	if strings.Count(accessToken, ".") != 2 {
		return &Claims{Opaque: true}, nil
	}
	var raw rawClaims
	if err := jwt.Decode(accessToken, nil, &raw); err != nil {
		return nil, fmt.Errorf("entra: inspect: the access token looks like a JWT but does not decode: %w", err)
	}
	c := &Claims{
		Audience: audience(raw.Aud),
		Tenant:   raw.Tid,
		Issuer:   raw.Iss,
		AppID:    raw.AppID,
		Scopes:   strings.Fields(raw.Scp),
		Roles:    raw.Roles,
		UPN:      raw.UPN,
		Version:  raw.Ver,
	}
	if c.AppID == "" {
		c.AppID = raw.Azp
	}
	if c.UPN == "" {
		c.UPN = raw.UniqueName
	}
	if raw.Exp != "" {
		if f, err := raw.Exp.Float64(); err == nil && f > 0 && f < 1e11 {
			c.ExpiresAt = time.Unix(int64(f), 0)
		}
	}
	return c, nil
}

// audience reads aud, a string or (rarely) an array of them.
func audience(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
		return list[0]
	}
	return ""
}

// Delegated reports whether the token acts for a signed-in user (it has
// scopes or a user) rather than for the app alone.
func (c *Claims) Delegated() bool {
	return len(c.Scopes) > 0 || c.UPN != ""
}

// ForExchange reports whether the token's audience is Exchange Online, in
// any cloud.
func (c *Claims) ForExchange() bool {
	return audienceIn(c.Audience, exchangeAudiences)
}

// Allows reports whether the token carries the permission for protocol p
// (SMTP or IMAP; zero means both): SMTP.Send or IMAP.AccessAsUser.All in
// scp for a delegated token, SMTP.SendAsApp or IMAP.AccessAsApp in roles
// for an app-only one. It does not look at the audience.
func (c *Claims) Allows(p Protocols) bool {
	if c.Opaque {
		return false
	}
	if p.has(SMTP) && !c.has(ScopeSMTPSend, RoleSMTPSendAsApp) {
		return false
	}
	if p.has(IMAP) && !c.has(ScopeIMAPAccessUser, RoleIMAPAccessAsApp) {
		return false
	}
	return true
}

// has reports whether the delegated scope or the app role is present, as
// fits the kind of token. Scopes may come as short names or as full URIs.
func (c *Claims) has(scope, role string) bool {
	if c.Delegated() {
		return slices.ContainsFunc(c.Scopes, func(s string) bool {
			return strings.EqualFold(s[strings.LastIndexByte(s, '/')+1:], scope)
		})
	}
	return slices.ContainsFunc(c.Roles, func(r string) bool { return strings.EqualFold(r, role) })
}

// Problems says in words what is wrong with the token for mail, at time
// now, as the SASL user name mailbox of tenant: an audience that is not
// Exchange Online, no mail permission at all, another tenant, expiry, a
// signed-in user that is not the mailbox. mailbox and tenant may be empty
// to skip their checks; tenant is compared only when it is a tenant ID
// (a GUID), not a domain. Nil means nothing is known to be wrong, which is
// always the case for an opaque token. To require a given protocol, use
// Check.
func (c *Claims) Problems(mailbox, tenant string, now time.Time) []string {
	return c.problems(0, false, mailbox, tenant, now)
}

// Check is Problems that also requires the permission of each protocol in
// p (zero means both SMTP and IMAP, as in Config).
func (c *Claims) Check(p Protocols, mailbox, tenant string, now time.Time) []string {
	return c.problems(p, true, mailbox, tenant, now)
}

func (c *Claims) problems(p Protocols, strict bool, mailbox, tenant string, now time.Time) []string {
	if c == nil || c.Opaque {
		return nil
	}
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }

	switch {
	case c.Audience == "":
		add("the token has no audience (aud), so Exchange Online cannot accept it: request https://outlook.office.com/SMTP.Send or IMAP.AccessAsUser.All (delegated) or https://outlook.office365.com/.default (app-only)")
	case audienceIn(c.Audience, graphAudiences):
		add("the token is for Microsoft Graph (aud %s), not Exchange Online: request the scopes with their Outlook resource, https://outlook.office.com/SMTP.Send and https://outlook.office.com/IMAP.AccessAsUser.All (delegated) or https://outlook.office365.com/.default (app-only); a bare SMTP.Send is a Graph scope", c.Audience)
	case !c.ForExchange():
		add("the token's audience %s is not Exchange Online: request https://outlook.office.com/... scopes (delegated) or https://outlook.office365.com/.default (app-only), or your cloud's Exchange resource", c.Audience)
	}

	if c.Delegated() {
		smtp, imap := c.has(ScopeSMTPSend, ""), c.has(ScopeIMAPAccessUser, "")
		switch {
		case !smtp && !imap:
			add("the delegated token has neither SMTP.Send nor IMAP.AccessAsUser.All in its scopes (scp: %q): request https://outlook.office.com/SMTP.Send and/or https://outlook.office.com/IMAP.AccessAsUser.All and have the user consent again", strings.Join(c.Scopes, " "))
		case strict && p.has(SMTP) && !smtp:
			add("the delegated token lacks SMTP.Send in its scopes (scp: %q): request https://outlook.office.com/SMTP.Send and have the user consent again", strings.Join(c.Scopes, " "))
		case strict && p.has(IMAP) && !imap:
			add("the delegated token lacks IMAP.AccessAsUser.All in its scopes (scp: %q): request https://outlook.office.com/IMAP.AccessAsUser.All and have the user consent again", strings.Join(c.Scopes, " "))
		}
	} else {
		smtp, imap := c.has("", RoleSMTPSendAsApp), c.has("", RoleIMAPAccessAsApp)
		const addRole = "add it under App registrations → <app> → API permissions → Office 365 Exchange Online → Application permissions and grant admin consent"
		switch {
		case !smtp && !imap:
			add("the app-only token has neither SMTP.SendAsApp nor IMAP.AccessAsApp in its roles (roles: %q): %s (SMTP granted through Exchange RBAC with New-ManagementRoleAssignment -Role 'Application SMTP.SendAsApp' carries no role, and is the one exception)", strings.Join(c.Roles, " "), addRole)
		case strict && p.has(SMTP) && !smtp:
			add("the app-only token lacks SMTP.SendAsApp in its roles (roles: %q): %s, unless SMTP is granted through Exchange RBAC", strings.Join(c.Roles, " "), addRole)
		case strict && p.has(IMAP) && !imap:
			add("the app-only token lacks IMAP.AccessAsApp in its roles (roles: %q): %s", strings.Join(c.Roles, " "), addRole)
		}
	}

	if tenant = strings.TrimSpace(tenant); isGUID(tenant) && c.Tenant != "" && !strings.EqualFold(tenant, c.Tenant) {
		add("the token was issued by tenant %s, not %s: use the token endpoint of tenant %s (the program's directory (tenant) ID) and an app registered or consented there", c.Tenant, tenant, tenant)
	}

	if !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt) {
		add("the token expired at %s, %s ago: get a fresh one (the program's token cache renews a token before it expires)",
			c.ExpiresAt.UTC().Format(time.RFC3339), now.Sub(c.ExpiresAt).Round(time.Second))
	}

	if mailbox = strings.TrimSpace(mailbox); mailbox != "" && c.Delegated() && c.UPN != "" && !strings.EqualFold(mailbox, c.UPN) {
		add("the token belongs to %s but the SASL user name is %s: Exchange opens %s only if %s has FullAccess to it (Add-MailboxPermission -Identity %s -User %s -AccessRights FullAccess); otherwise authorize as %s",
			c.UPN, mailbox, mailbox, c.UPN, mailbox, c.UPN, mailbox)
	}
	return out
}

// String describes the claims on one line, for logs and a doctor's report.
func (c *Claims) String() string {
	if c == nil {
		return "no claims"
	}
	if c.Opaque {
		return "opaque access token (not a JWT): cannot inspect"
	}
	kind := "app-only"
	perms := "roles " + quoteList(c.Roles)
	if c.Delegated() {
		kind = "delegated (" + c.UPN + ")"
		perms = "scp " + quoteList(c.Scopes)
	}
	exp := "no expiry"
	if !c.ExpiresAt.IsZero() {
		exp = "expires " + c.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("%s token: aud %s, tenant %s, app %s, %s, %s", kind, c.Audience, c.Tenant, c.AppID, perms, exp)
}

func quoteList(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, " ")
}

// audienceIn reports whether aud is one of list, ignoring case and a
// trailing slash.
func audienceIn(aud string, list []string) bool {
	aud = strings.TrimSuffix(strings.TrimSpace(aud), "/")
	return slices.ContainsFunc(list, func(a string) bool { return strings.EqualFold(a, aud) })
}

// isGUID reports whether s has the 8-4-4-4-12 hexadecimal form of a tenant
// or client ID (and of a client secret's ID).
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			ch := s[i]
			if !('0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f' || 'A' <= ch && ch <= 'F') {
				return false
			}
		}
	}
	return true
}
