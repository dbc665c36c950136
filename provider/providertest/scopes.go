package providertest

import (
	"slices"
	"strings"
)

// Scope names with a fixed meaning.
const (
	scopeOfflineAccess = "offline_access"
	scopeOpenID        = "openid"
	scopeDefault       = ".default"
	// graphResource is where Entra sends a scope given without a resource (e.g. a bare
	// "IMAP.AccessAsUser.All"): such a token is useless for Exchange.
	graphResource = "https://graph.microsoft.com"
	// graphAppID is Microsoft Graph's application ID, the aud of some Graph tokens.
	graphAppID = "00000003-0000-0000-c000-000000000000"
)

// oidcScopes may accompany the scopes of any one resource.
var oidcScopes = []string{scopeOpenID, "profile", "email", scopeOfflineAccess}

// defaultDelegated is what a delegated "<resource>/.default" grants: the Exchange mail permissions.
var defaultDelegated = []string{"IMAP.AccessAsUser.All", "SMTP.Send"}

// googleDeviceScopes are the only scopes Google's device flow grants (so never the mail scope).
var googleDeviceScopes = []string{"openid", "email", "profile",
	"https://www.googleapis.com/auth/userinfo.email", "https://www.googleapis.com/auth/userinfo.profile",
	"https://www.googleapis.com/auth/drive.appdata", "https://www.googleapis.com/auth/drive.file",
	"https://www.googleapis.com/auth/youtube", "https://www.googleapis.com/auth/youtube.readonly"}

// entraScopes is a parsed Entra scope parameter.
type entraScopes struct {
	raw      []string // as requested
	resource string   // e.g. https://outlook.office.com
	short    []string // permission names for scp, e.g. SMTP.Send
	oidc     []string // openid, profile, email, offline_access as requested
	isDflt   bool     // "<resource>/.default"
}

func (e entraScopes) offline() bool { return slices.Contains(e.oidc, scopeOfflineAccess) }

// granted is the "scope" of a token response: the resource scopes as full URIs, then the OIDC ones.
func (e entraScopes) granted() string {
	var out []string
	if e.isDflt {
		out = append(out, e.resource+"/"+scopeDefault)
	} else {
		for _, s := range e.short {
			out = append(out, e.resource+"/"+s)
		}
	}
	out = append(out, e.oidc...)
	return strings.Join(out, " ")
}

// scp is the access token's scp claim for a delegated token.
func (e entraScopes) scp() string {
	if e.isDflt {
		return strings.Join(defaultDelegated, " ")
	}
	return strings.Join(e.short, " ")
}

// parseEntraScopes splits a scope parameter, as Entra does: every non-OIDC scope must belong to one
// resource; a scope without a resource means Microsoft Graph.
func parseEntraScopes(raw string) (entraScopes, *tokenError) {
	var e entraScopes
	e.raw = strings.Fields(raw)
	if len(e.raw) == 0 {
		return e, errMissingParam("scope")
	}
	for _, sc := range e.raw {
		if slices.Contains(oidcScopes, strings.ToLower(sc)) {
			e.oidc = append(e.oidc, strings.ToLower(sc))
			continue
		}
		resource, name := graphResource, sc
		if strings.Contains(sc, "://") {
			i := strings.LastIndex(sc, "/")
			if i > strings.Index(sc, "://")+2 {
				resource, name = sc[:i], sc[i+1:]
			}
		}
		if e.resource != "" && !strings.EqualFold(e.resource, resource) {
			return e, errScopeResources()
		}
		e.resource = resource
		if name == scopeDefault {
			e.isDflt = true
		} else {
			e.short = append(e.short, name)
		}
	}
	if e.resource == "" {
		// Only OIDC scopes: Entra issues a Graph token.
		e.resource, e.short = graphResource, []string{"User.Read"}
	}
	return e, nil
}

// clientCredentialsScope checks the scope of a client_credentials request: exactly one
// "<resource>/.default". It returns the resource.
func clientCredentialsScope(raw string) (string, *tokenError) {
	fields := strings.Fields(raw)
	if len(fields) == 0 {
		return "", errMissingParam("scope")
	}
	for _, f := range fields {
		if !strings.HasSuffix(f, "/"+scopeDefault) {
			return "", errClientCredentialsScope(f)
		}
	}
	if len(fields) > 1 {
		return "", errScopeResources()
	}
	return strings.TrimSuffix(fields[0], "/"+scopeDefault), nil
}
