package providertest

import (
	"net/http"
	"strings"
)

// handleIntrospect is the RFC 7662 token introspection endpoint, for mail servers that check tokens
// with it (Dovecot's oauth2 passdb). The token comes as form "token" (POST), query "token" (GET), or
// an "Authorization: Bearer" header (Dovecot's introspection_mode = post, get and auth). Client
// authentication is accepted but not required.
//
// An active token answers 200 {"active":true,"email":...,"username":...,"scope":...,"client_id":...,
// "sub":...,"aud":...,"iss":...,"exp":...,"iat":...,"token_type":"Bearer"}; anything else (malformed,
// another server's, expired by the server clock, revoked) answers 200 {"active":false}, never 4xx,
// because Dovecot reads a 4xx without a user as a temporary failure. "email" is the delegated user
// (upn or Google email); an app-only token has no user of its own, so it carries the app's only
// mailbox when App.Mailboxes has exactly one entry, and no email otherwise (Dovecot then refuses it).
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	s.count("introspect")
	if s.injected(w, r, &s.introFailures) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	_ = r.ParseForm()
	token := r.Form.Get("token")
	if token == "" {
		if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			token = strings.TrimSpace(h[7:])
		}
	}
	if token == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": errInvalidRequest,
			"error_description": "missing parameter: token"})
		return
	}
	s.mu.Lock()
	c, err := s.checkLocked(token)
	s.mu.Unlock()
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	}
	resp := map[string]any{
		"active":     true,
		"scope":      c.claims.scopeString(),
		"client_id":  c.claims.client(),
		"sub":        c.claims.Sub,
		"aud":        c.claims.audience(),
		"iss":        c.claims.Iss,
		"exp":        int64(c.claims.Exp),
		"iat":        int64(c.claims.Iat),
		"token_type": "Bearer",
	}
	if u := c.username(); u != "" {
		resp["email"] = u
		resp["username"] = u
	}
	writeJSON(w, http.StatusOK, resp)
}
