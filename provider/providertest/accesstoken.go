package providertest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mailoauth/mailoauth/internal/jwt"
)

// Errors of Verify and VerifySASL, wrapped; branch with errors.Is.
var (
	// ErrInvalidToken: not a token this Server signed (malformed, bad signature, another Server's).
	ErrInvalidToken = errors.New("providertest: invalid access token")
	// ErrTokenExpired: expired by the server clock.
	ErrTokenExpired = errors.New("providertest: access token expired")
	// ErrTokenRevoked: revoked by RevokeToken, RevokeGrant, RevokeUser or reuse detection.
	ErrTokenRevoked = errors.New("providertest: access token revoked")
	// ErrWrongAudience: the token is for another service than the one checking it: Microsoft Graph
	// when a mail server checks (a scope sent without its https://outlook.office.com/ prefix), a
	// mail server when VerifyGraph checks.
	ErrWrongAudience = errors.New("providertest: access token audience is not the service checking it")
	// ErrNotPermitted: the token is valid but may not open that mailbox.
	ErrNotPermitted = errors.New("providertest: token may not open this mailbox")
)

// tokenVersion1 and tokenVersion2 are the "ver" of Entra access tokens. Exchange Online accepts v1.0
// tokens, so tokens for its resources are v1.0 as real ones are.
const (
	tokenVersion1 = "1.0"
	tokenVersion2 = "2.0"
)

// TokenSpec chooses the claims of a token made by IssueToken. Zero fields get defaults.
type TokenSpec struct {
	Audience  string        // default: https://outlook.office.com with a UPN, else https://outlook.office365.com
	Tenant    string        // default: DefaultTenant
	AppID     string        // default: a fixed made-up client ID
	UPN       string        // delegated token for this user; empty: app-only token
	Scopes    []string      // scp (short names, e.g. "SMTP.Send") of a delegated token
	Roles     []string      // roles of an app-only token
	ExpiresIn time.Duration // default: the token lifetime; negative: already expired

	Version string         // "1.0" (default) or "2.0"
	Email   string         // a Google-style token for this mailbox (claims email, scope) instead of Entra's
	Claims  map[string]any // extra claims, set last (they override)
}

// defaultIssueAppID is the appid of IssueToken tokens without AppID.
const defaultIssueAppID = "11111111-2222-4333-8444-555555555555"

// issuedToken is what the server remembers about an access token it signed.
type issuedToken struct {
	family *family   // nil unless issued from a grant with a refresh token family
	exp    time.Time // after it the entry only costs memory
}

// pruneEvery is how many tokens are minted between sweeps of expired entries.
const pruneEvery = 1024

// atClaims are the claims Verify reads.
type atClaims struct {
	Aud   any      `json:"aud"`
	Iss   string   `json:"iss"`
	Exp   float64  `json:"exp"`
	Nbf   float64  `json:"nbf"`
	Iat   float64  `json:"iat"`
	Uti   string   `json:"uti"`
	Jti   string   `json:"jti"`
	UPN   string   `json:"upn"`
	Email string   `json:"email"`
	Scp   string   `json:"scp"`
	Scope string   `json:"scope"`
	Roles []string `json:"roles"`
	AppID string   `json:"appid"`
	Azp   string   `json:"azp"`
	Tid   string   `json:"tid"`
	Sub   string   `json:"sub"`
}

func (c *atClaims) id() string {
	if c.Uti != "" {
		return c.Uti
	}
	return c.Jti
}

func (c *atClaims) audience() string {
	switch v := c.Aud.(type) {
	case string:
		return v
	case []any:
		if len(v) > 0 {
			s, _ := v[0].(string)
			return s
		}
	}
	return ""
}

func (c *atClaims) client() string {
	if c.AppID != "" {
		return c.AppID
	}
	return c.Azp
}

// user is the delegated user (Entra upn or Google email), or "" for an app-only token.
func (c *atClaims) user() string {
	if c.UPN != "" {
		return c.UPN
	}
	return c.Email
}

func (c *atClaims) scopeString() string {
	if c.Scp != "" {
		return c.Scp
	}
	if c.Scope != "" {
		return c.Scope
	}
	return strings.Join(c.Roles, " ")
}

// mintParams describes an access token to sign.
type mintParams struct {
	google   bool
	tenant   string
	clientID string
	appidacr string // "0" public, "1" secret, "2" certificate
	user     string // "" for app-only
	resource string // Entra aud
	scp      string
	roles    []string
	gScope   string // Google scope string
	version  string
	lifetime time.Duration
	fam      *family
	extra    map[string]any
}

// mintLocked signs an access token and remembers it.
func (s *Server) mintLocked(p mintParams) (token string, expiresIn int) {
	now := s.nowLocked()
	if p.lifetime == 0 {
		p.lifetime = s.tokenLifetime
	}
	exp := now.Add(p.lifetime)
	id := randomB64(16)
	c := map[string]any{
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": exp.Unix(),
	}
	if p.google {
		c["iss"] = s.URL()
		c["aud"] = p.clientID
		c["azp"] = p.clientID
		c["sub"] = numericID(p.user)
		c["email"] = p.user
		c["email_verified"] = true
		c["scope"] = p.gScope
		c["jti"] = id
	} else {
		ver := p.version
		if ver == "" {
			ver = tokenVersion1
		}
		c["aud"] = p.resource
		c["tid"] = p.tenant
		c["ver"] = ver
		c["uti"] = id
		c["appid"] = p.clientID
		c["azp"] = p.clientID
		c["appidacr"] = p.appidacr
		c["azpacr"] = p.appidacr
		if ver == tokenVersion2 {
			c["iss"] = s.URL() + "/" + p.tenant + "/v2.0"
		} else {
			c["iss"] = "https://sts.windows.net/" + p.tenant + "/"
		}
		if p.user != "" {
			c["idtyp"] = "user"
			c["scp"] = p.scp
			c["upn"] = p.user
			c["unique_name"] = p.user
			c["name"] = strings.SplitN(p.user, "@", 2)[0]
			c["oid"] = objectID(p.user)
			c["sub"] = objectID(p.user + "|" + p.clientID)
			c["amr"] = []string{"pwd"}
		} else {
			c["idtyp"] = "app"
			oid := objectID("sp|" + p.clientID)
			c["oid"] = oid
			c["sub"] = oid
			if len(p.roles) > 0 {
				c["roles"] = p.roles
			}
		}
	}
	for k, v := range p.extra {
		c[k] = v
	}
	tok, err := jwt.Sign(s.key, jwt.RS256, map[string]any{"kid": s.kid}, c)
	if err != nil {
		panic("providertest: signing a token: " + err.Error()) // fixed key and plain claims: cannot happen
	}
	s.minted++
	if s.minted%pruneEvery == 0 {
		for k, it := range s.issued {
			if now.After(it.exp) {
				delete(s.issued, k) // Verify refuses it for its exp claim anyway
			}
		}
	}
	s.issued[id] = &issuedToken{family: p.fam, exp: exp}
	return tok, int(p.lifetime / time.Second)
}

// IssueToken signs an access token with the claims spec chooses, without any grant: for tests of
// token inspection and of servers. It verifies with Verify like any token of this Server.
func (s *Server) IssueToken(spec TokenSpec) string {
	p := mintParams{
		tenant:   spec.Tenant,
		clientID: spec.AppID,
		appidacr: "1",
		user:     spec.UPN,
		resource: spec.Audience,
		scp:      strings.Join(spec.Scopes, " "),
		roles:    spec.Roles,
		version:  spec.Version,
		lifetime: spec.ExpiresIn,
		extra:    spec.Claims,
	}
	if p.tenant == "" {
		p.tenant = DefaultTenant
	}
	if p.clientID == "" {
		p.clientID = defaultIssueAppID
	}
	if spec.Email != "" {
		p.google, p.user, p.gScope = true, spec.Email, strings.Join(spec.Scopes, " ")
		if p.gScope == "" {
			p.gScope = "https://mail.google.com/"
		}
	}
	if p.resource == "" {
		p.resource = "https://outlook.office365.com"
		if spec.UPN != "" {
			p.resource = "https://outlook.office.com"
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if spec.ExpiresIn == 0 {
		p.lifetime = s.tokenLifetime
	}
	tok, _ := s.mintLocked(p)
	return tok
}

// checked is a verified token.
type checked struct {
	claims atClaims
	app    App
	hasApp bool
}

// username is what Verify returns: the delegated user, or for an app-only token the app's only
// mailbox (App.Mailboxes with one entry), else "".
func (c *checked) username() string {
	if u := c.claims.user(); u != "" {
		return u
	}
	if c.hasApp {
		return c.app.soleMailbox()
	}
	return ""
}

// checkLocked verifies a token's signature, expiry and revocation, and that it is not for Microsoft
// Graph: the check of a mail server.
func (s *Server) checkLocked(token string) (*checked, error) {
	c, err := s.verifyLocked(token)
	if err != nil {
		return nil, err
	}
	if aud := c.claims.audience(); isGraph(aud) {
		return nil, fmt.Errorf("%w: aud is %s", ErrWrongAudience, aud)
	}
	return c, nil
}

// isGraph reports whether aud names Microsoft Graph.
func isGraph(aud string) bool {
	return aud == graphResource || aud == graphAppID || strings.HasPrefix(aud, graphResource+"/")
}

// verifyLocked verifies a token's signature, expiry and revocation, and finds its app (or managed
// identity).
func (s *Server) verifyLocked(token string) (*checked, error) {
	var c checked
	hdr, err := jwt.Verify(token, &s.key.PublicKey, &c.claims)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if kid, _ := hdr["kid"].(string); kid != s.kid {
		return nil, fmt.Errorf("%w: signed by another providertest server", ErrInvalidToken)
	}
	now := s.nowLocked()
	if c.claims.Exp == 0 || now.Unix() >= int64(c.claims.Exp) {
		return nil, fmt.Errorf("%w at %s (server clock %s)", ErrTokenExpired,
			time.Unix(int64(c.claims.Exp), 0).UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if c.claims.Nbf != 0 && now.Add(assertionSkew).Unix() < int64(c.claims.Nbf) {
		return nil, fmt.Errorf("%w: not valid before %s", ErrInvalidToken, time.Unix(int64(c.claims.Nbf), 0).UTC())
	}
	id := c.claims.id()
	if s.revoked[id] {
		return nil, ErrTokenRevoked
	}
	if it := s.issued[id]; it != nil && it.family != nil && it.family.revoked {
		return nil, fmt.Errorf("%w: its grant was revoked", ErrTokenRevoked)
	}
	c.app, c.hasApp = s.appLocked(c.claims.client())
	if !c.hasApp {
		if m, ok := s.identityLocked(c.claims.client()); ok {
			c.app, c.hasApp = m.app(), true
		}
	}
	return &c, nil
}

// Verify checks an access token as a mail server would: signature by this Server, expiry by the
// server clock, revocation, and an audience that is not Microsoft Graph. It returns the token's user:
// upn (Entra delegated) or email (Google); for an app-only token, the app's only mailbox when its
// Mailboxes has exactly one entry, else "" (use VerifySASL to check a mailbox).
func (s *Server) Verify(token string) (username string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.checkLocked(token)
	if err != nil {
		return "", err
	}
	return c.username(), nil
}

// VerifySASL is the check an SMTP or IMAP test server makes for SASL user username with token:
// Verify, then whether the token may open that mailbox. A delegated token opens its own user's
// mailbox (case-insensitive) and mailboxes granted by GrantMailbox; an app-only token needs at
// least one role and, when its App lists Mailboxes, username among them.
func (s *Server) VerifySASL(username, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.checkLocked(token)
	if err != nil {
		return err
	}
	if u := c.claims.user(); u != "" {
		return s.userMayOpenLocked(u, username)
	}
	return s.appMayOpenLocked(c, username, "")
}

// userMayOpenLocked checks a delegated token of user against mailbox: its own, or one GrantMailbox
// lets user open.
func (s *Server) userMayOpenLocked(user, mailbox string) error {
	if strings.EqualFold(user, mailbox) || s.shared[strings.ToLower(mailbox)][strings.ToLower(user)] {
		return nil
	}
	return fmt.Errorf("%w: token of %q for mailbox %q", ErrNotPermitted, user, mailbox)
}

// appMayOpenLocked checks an app-only token against mailbox: at least one role (with prefix, one
// that starts with it) and the app's or identity's mailbox permission.
func (s *Server) appMayOpenLocked(c *checked, mailbox, prefix string) error {
	if !slices.ContainsFunc(c.claims.Roles, func(r string) bool { return strings.HasPrefix(r, prefix) }) {
		return fmt.Errorf("%w: app-only token without roles%s (admin consent missing)", ErrNotPermitted, rolesLike(prefix))
	}
	if c.hasApp && !c.app.mayOpen(mailbox) {
		return fmt.Errorf("%w: app %s has no permission on mailbox %q", ErrNotPermitted, c.claims.client(), mailbox)
	}
	return nil
}

func rolesLike(prefix string) string {
	if prefix == "" {
		return ""
	}
	return " " + prefix + "*"
}

// graphMailPrefix starts the names of Microsoft Graph's mail permissions (Mail.Send, Mail.Read,
// Mail.ReadWrite).
const graphMailPrefix = "Mail."

// VerifyGraph is the check Microsoft Graph makes of a token used on mailbox's mail: signature,
// expiry and revocation as Verify, an audience of Microsoft Graph, and a permission: a delegated
// token with a Mail.* scope of mailbox's own user (or of one GrantMailbox lets open it); an app-only
// token with a Mail.* role whose app or managed identity may open mailbox (App.Mailboxes,
// ManagedIdentity.Mailboxes, as an application access policy or RBAC for Applications scopes it).
func (s *Server) VerifyGraph(mailbox, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.verifyLocked(token)
	if err != nil {
		return err
	}
	if aud := c.claims.audience(); !isGraph(aud) {
		return fmt.Errorf("%w: aud is %s, not Microsoft Graph", ErrWrongAudience, aud)
	}
	if u := c.claims.user(); u != "" {
		if !slices.ContainsFunc(strings.Fields(c.claims.Scp), func(sc string) bool { return strings.HasPrefix(sc, graphMailPrefix) }) {
			return fmt.Errorf("%w: delegated token without a Mail.* scope", ErrNotPermitted)
		}
		return s.userMayOpenLocked(u, mailbox)
	}
	return s.appMayOpenLocked(c, mailbox, graphMailPrefix)
}

// RevokeToken revokes one access token: Verify and introspection refuse it from now on. A string
// that is not a token of this Server is ignored.
func (s *Server) RevokeToken(accessToken string) {
	var c atClaims
	if err := jwt.Decode(accessToken, nil, &c); err != nil || c.id() == "" {
		return
	}
	s.mu.Lock()
	s.revoked[c.id()] = true
	s.mu.Unlock()
}

// numericID derives a Google-style numeric subject ID from a name.
func numericID(name string) string {
	h := objectID(name)
	var b strings.Builder
	b.WriteString("1")
	for _, r := range h {
		if b.Len() >= 21 {
			break
		}
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else if r >= 'a' && r <= 'f' {
			b.WriteRune('0' + (r-'a')%10)
		}
	}
	return b.String()
}
