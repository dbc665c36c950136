package providertest

import (
	"encoding/base64"
	"math/big"
	"net/http"
	"strings"

	"github.com/mailoauth/mailoauth/internal/jwt"
)

// handleOpenIDConfiguration serves Entra's /{tenant}/v2.0/.well-known/openid-configuration.
func (s *Server) handleOpenIDConfiguration(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	s.mu.Lock()
	terr := s.checkTenantLocked(tenant)
	s.mu.Unlock()
	if terr != nil {
		s.writeEntraError(w, r, terr)
		return
	}
	base := s.URL() + "/" + tenant
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base + "/v2.0",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"introspection_endpoint":                s.URL() + "/introspect",
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantDeviceCode},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic", "private_key_jwt"},
		"id_token_signing_alg_values_supported": []string{jwt.RS256},
		"tenant_region_scope":                   "WW",
	})
}

// handleKeys serves the JSON Web Key Set holding the token signing key.
func (s *Server) handleKeys(w http.ResponseWriter, _ *http.Request) {
	pub := s.key.PublicKey
	enc := base64.RawURLEncoding
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "use": "sig", "alg": jwt.RS256, "kid": s.kid,
		"n": enc.EncodeToString(pub.N.Bytes()),
		"e": enc.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// handleGoogleRevoke is Google's /revoke: a refresh token revokes its grant, an access token itself.
func (s *Server) handleGoogleRevoke(w http.ResponseWriter, r *http.Request) {
	s.count("revoke")
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	_ = r.ParseForm()
	token := r.Form.Get("token")
	s.mu.Lock()
	e := s.refresh[token]
	if e != nil {
		s.revokeFamilyLocked(e.fam, errGrantRevoked(e.fam.issuedAt, s.nowLocked()))
	}
	s.mu.Unlock()
	if e != nil {
		writeJSON(w, http.StatusOK, map[string]any{})
		return
	}
	if strings.Count(token, ".") == 2 {
		if _, err := s.Verify(token); err == nil {
			s.RevokeToken(token)
			writeJSON(w, http.StatusOK, map[string]any{})
			return
		}
	}
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_token", "error_description": "Token expired or revoked"})
}
