package providertest

import (
	"slices"
	"strings"
	"time"
)

// family is one grant: the refresh tokens issued from one authorization, in order.
type family struct {
	clientID  string
	tenant    string
	user      string
	scope     string // scope of the original request, used when a refresh names none
	google    bool
	issuedAt  time.Time
	chain     []string // refresh tokens in issue order
	refreshes int      // successful refresh_token grants
	revoked   bool
	revokeErr *tokenError
}

// refreshEntry is one refresh token.
type refreshEntry struct {
	fam      *family
	seq      int       // index in fam.chain
	lastUsed time.Time // issue time, or last use when the same token comes back (no rotation)
}

// newRefreshLocked appends a new refresh token to fam.
func (s *Server) newRefreshLocked(fam *family) string {
	prefix := "0.AXcA" // the shape of Entra refresh tokens
	if fam.google {
		prefix = "1//0g" // the shape of Google refresh tokens
	}
	rt := prefix + randomB64(48)
	s.refresh[rt] = &refreshEntry{fam: fam, seq: len(fam.chain), lastUsed: s.nowLocked()}
	fam.chain = append(fam.chain, rt)
	return rt
}

// newFamilyLocked starts a grant and returns its first refresh token.
func (s *Server) newFamilyLocked(clientID, tenant, user, scope string, google bool) (*family, string) {
	fam := &family{clientID: clientID, tenant: tenant, user: user, scope: scope, google: google, issuedAt: s.nowLocked()}
	return fam, s.newRefreshLocked(fam)
}

// IssueRefreshToken creates a grant as if user had authorized clientID for scopes (space-separated
// scope strings as a client sends them, e.g. "offline_access https://outlook.office.com/SMTP.Send")
// and returns its first refresh token: a quick start for tests of refresh logic and token stores. The
// app's tenant is used; a Google-format grant is made when the scopes hold no Entra resource but a
// Google one (https://mail.google.com/ or a googleapis.com scope).
func (s *Server) IssueRefreshToken(clientID, user, scopes string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	tenant := DefaultTenant
	if a, ok := s.appLocked(clientID); ok {
		tenant = a.Tenant
	}
	google := strings.Contains(scopes, "mail.google.com") || strings.Contains(scopes, "googleapis.com")
	_, rt := s.newFamilyLocked(clientID, tenant, user, scopes, google)
	return rt
}

// useRefreshLocked applies the refresh_token grant's rules to rt presented by clientID and returns
// the entry. rotate says whether this answer will rotate.
func (s *Server) useRefreshLocked(rt, clientID string, rotate bool) (*refreshEntry, *tokenError) {
	if rt == "" {
		return nil, errMissingParam("refresh_token")
	}
	e := s.refresh[rt]
	if e == nil {
		return nil, errMalformedGrant()
	}
	fam := e.fam
	if fam.revoked {
		return nil, fam.revokeErr
	}
	if fam.clientID != clientID {
		return nil, errGrantOtherClient()
	}
	now := s.nowLocked()
	if idle := now.Sub(e.lastUsed); idle > s.refreshTTL {
		return nil, errRefreshExpired(e.lastUsed, idle)
	}
	if e.seq < len(fam.chain)-1 && s.rotation && s.reuseDetection && !fam.google {
		// A rotated-away token came back: someone holds a stale copy, or it was stolen. Strict
		// servers end the whole grant.
		s.revokeFamilyLocked(fam, errGrantInactive())
		return nil, fam.revokeErr
	}
	if !rotate {
		e.lastUsed = now
	}
	return e, nil
}

func (s *Server) revokeFamilyLocked(fam *family, why *tokenError) {
	if fam.revoked {
		return
	}
	fam.revoked = true
	fam.revokeErr = why
}

// RevokeGrant revokes the whole family of refreshToken: every refresh token of it, and every access
// token issued from it, fail from now on (invalid_grant AADSTS50173, Google "Token has been expired or
// revoked."). An unknown token is ignored.
func (s *Server) RevokeGrant(refreshToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.refresh[refreshToken]; e != nil {
		s.revokeFamilyLocked(e.fam, errGrantRevoked(e.fam.issuedAt, s.nowLocked()))
	}
}

// RevokeUser revokes every grant of user (an admin's "revoke sessions", or a password reset).
func (s *Server) RevokeUser(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowLocked()
	for _, e := range s.refresh {
		if strings.EqualFold(e.fam.user, user) {
			s.revokeFamilyLocked(e.fam, errGrantRevoked(e.fam.issuedAt, now))
		}
	}
}

// RefreshChain returns the refresh tokens of refreshToken's family in the order they were issued
// (the first from the authorization, then one per rotating refresh), or nil for an unknown token.
// With rotation and a single writer, each refresh adds exactly one: a store holding the last
// element has an unbroken chain.
func (s *Server) RefreshChain(refreshToken string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.refresh[refreshToken]; e != nil {
		return slices.Clone(e.fam.chain)
	}
	return nil
}

// RefreshCount returns how many refresh_token grants succeeded in refreshToken's family.
func (s *Server) RefreshCount(refreshToken string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.refresh[refreshToken]; e != nil {
		return e.fam.refreshes
	}
	return 0
}

// GrantRevoked reports whether refreshToken's family is revoked (by RevokeGrant, RevokeUser or reuse
// detection).
func (s *Server) GrantRevoked(refreshToken string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.refresh[refreshToken]
	return e != nil && e.fam.revoked
}
