package imapxtest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/auth"
)

// tokenPrefix marks tokens from IssueToken.
const tokenPrefix = "imapxtest."

// IssueToken returns a new access token for user, valid for the server's
// token lifetime (Options.TokenLifetime) until RevokeToken. Without Options.Verify
// these are the only tokens the server accepts.
func (s *Server) IssueToken(user string) *oauth2.Token {
	tok := tokenPrefix + randomString()
	expiry := time.Now().Add(s.tokenLifetime)
	s.mu.Lock()
	s.tokens[tok] = issuedToken{user: user, expiry: expiry}
	s.mu.Unlock()
	return &oauth2.Token{AccessToken: tok, TokenType: "Bearer", Expiry: expiry}
}

// RevokeToken makes the server refuse token from now on.
func (s *Server) RevokeToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[token]; ok {
		t.revoked = true
		s.tokens[token] = t
	}
}

// VerifyIssued is the server's default verify function: it accepts a token
// from IssueToken for the user it was issued for, before it expires and
// unless it was revoked.
func (s *Server) VerifyIssued(username, token string) error {
	s.mu.Lock()
	t, ok := s.tokens[token]
	s.mu.Unlock()
	switch {
	case !ok:
		return errors.New("unknown token")
	case t.user != username:
		return errors.New("token issued for another user")
	case t.revoked:
		return errors.New("token revoked")
	case !time.Now().Before(t.expiry):
		return errors.New("token expired")
	}
	return nil
}

// issuedExpiry returns the expiry of a token from IssueToken, or zero.
func (s *Server) issuedExpiry(token string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[token].expiry
}

// TokenSource is an auth.TokenSource whose tokens the server issues: it
// keeps one token until it is invalidated or expires, then asks the server
// for a new one. It counts its requests.
type TokenSource struct {
	s        *Server
	user     string
	requests atomic.Int64

	mu  sync.Mutex // guards tok
	tok *oauth2.Token
}

var _ auth.TokenSource = (*TokenSource)(nil)

// TokenSource returns a token source for user.
func (s *Server) TokenSource(user string) *TokenSource {
	return &TokenSource{s: s, user: user}
}

// Token returns the current token, or a new one.
func (ts *TokenSource) Token(ctx context.Context) (*oauth2.Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.tok == nil || !time.Now().Before(ts.tok.Expiry) {
		ts.tok = ts.s.IssueToken(ts.user)
		ts.requests.Add(1)
	}
	return ts.tok, nil
}

// Invalidate drops rejected if it is the current token.
func (ts *TokenSource) Invalidate(rejected *oauth2.Token) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.tok != nil && rejected != nil && ts.tok.AccessToken == rejected.AccessToken {
		ts.tok = nil
	}
}

// Requests returns how many tokens the source obtained from the server.
func (ts *TokenSource) Requests() int { return int(ts.requests.Load()) }
