package providertest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/mailoauth/mailoauth/internal/jwt"
)

// maxServiceAssertionLife is the longest exp - iat Google accepts in a service-account assertion.
const maxServiceAssertionLife = time.Hour

// idTokenLocked signs an OpenID Connect ID token for user (audience: the client).
func (s *Server) idTokenLocked(google bool, a App, user, nonce string) string {
	now := s.nowLocked()
	c := map[string]any{
		"aud":   a.ClientID,
		"iat":   now.Unix(),
		"nbf":   now.Unix(),
		"exp":   now.Add(s.tokenLifetime).Unix(),
		"email": user,
	}
	if google {
		c["iss"] = s.URL()
		c["sub"] = numericID(user)
		c["azp"] = a.ClientID
		c["email_verified"] = true
	} else {
		c["iss"] = s.URL() + "/" + a.Tenant + "/v2.0"
		c["sub"] = objectID(user + "|" + a.ClientID)
		c["oid"] = objectID(user)
		c["tid"] = a.Tenant
		c["ver"] = tokenVersion2
		c["preferred_username"] = user
		c["name"] = strings.SplitN(user, "@", 2)[0]
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	tok, err := jwt.Sign(s.key, jwt.RS256, map[string]any{"kid": s.kid}, c)
	if err != nil {
		panic("providertest: signing an ID token: " + err.Error())
	}
	return tok
}

// decodeUnverified reads claims without checking the signature (to find the key).
func decodeUnverified(token string, claims any) error {
	if err := jwt.Decode(token, nil, claims); err != nil {
		return fmt.Errorf("the assertion could not be decoded")
	}
	return nil
}

// verifyRS256 checks an RS256 signature (Google accepts no other algorithm) and decodes claims.
func verifyRS256(token string, pub *rsa.PublicKey, claims any) error {
	hdr, err := jwt.Verify(token, pub, claims)
	if err != nil {
		return err
	}
	if hdr["alg"] != jwt.RS256 {
		return fmt.Errorf("alg %v is not RS256", hdr["alg"])
	}
	return nil
}

func unixTime(f float64) time.Time { return time.Unix(int64(f), 0) }

// randomB64 returns n random bytes in base64url.
func randomB64(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
