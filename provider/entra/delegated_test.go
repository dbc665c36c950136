package entra_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mailoauth/mailoauth/internal/jwt"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/oauth"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/tokenstore"
)

type delegatedClaims struct {
	Aud string `json:"aud"`
	Scp string `json:"scp"`
	UPN string `json:"upn"`
}

func TestDelegatedRefreshWithRotation(t *testing.T) {
	e := newEnv(t)
	e.srv.SetRotation(true)
	e.srv.SetReuseDetection(true) // presenting a rotated-away token would revoke the grant
	cfg := e.publicApp()
	store := tokenstore.NewMemory()
	first := e.authorize(t, cfg, store)
	require.NotEmpty(t, first.Token.RefreshToken)
	assert.Equal(t, testMailbox, first.Account)

	ctx := context.Background()
	mb, err := entra.Delegated(ctx, cfg, store)
	require.NoError(t, err)
	assert.Equal(t, 0, e.srv.Requests("refresh_token"), "the stored access token is still good")
	tok, err := mb.Tokens.Token(ctx)
	require.NoError(t, err)
	assert.Equal(t, first.Token.AccessToken, tok.AccessToken)

	seen := map[string]bool{first.Token.RefreshToken: true}
	for i := 1; i <= 3; i++ {
		e.srv.Advance(2 * time.Hour)
		tok, err = mb.Tokens.Token(ctx)
		require.NoError(t, err, "refresh %d", i)
		require.NoError(t, e.srv.VerifySASL(testMailbox, tok.AccessToken))
		assert.Equal(t, i, e.srv.Requests("refresh_token"))

		rec, err := store.Load(ctx, cfg.Key())
		require.NoError(t, err)
		assert.Equal(t, tok.AccessToken, rec.Token.AccessToken, "the new grant is saved")
		assert.False(t, seen[rec.Token.RefreshToken], "the rotated refresh token is saved")
		seen[rec.Token.RefreshToken] = true
		assert.Equal(t, e.srv.Now().Unix(), rec.UpdatedAt.Unix())
	}

	var claims delegatedClaims
	require.NoError(t, jwt.Decode(tok.AccessToken, nil, &claims))
	assert.Equal(t, "https://outlook.office.com", claims.Aud)
	assert.ElementsMatch(t, []string{"SMTP.Send", "IMAP.AccessAsUser.All"}, strings.Fields(claims.Scp))
	assert.Equal(t, testUser, claims.UPN)
}

func TestDelegatedRefreshWithoutRotation(t *testing.T) {
	e := newEnv(t)
	e.srv.SetRotation(false)
	cfg := e.publicApp()
	store := tokenstore.NewMemory()
	first := e.authorize(t, cfg, store)

	ctx := context.Background()
	mb, err := entra.Delegated(ctx, cfg, store)
	require.NoError(t, err)
	e.srv.Advance(2 * time.Hour)
	tok, err := mb.Tokens.Token(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, first.Token.AccessToken, tok.AccessToken)
	assert.Equal(t, 1, e.srv.Requests("refresh_token"))

	rec, err := store.Load(ctx, cfg.Key())
	require.NoError(t, err)
	assert.Equal(t, first.Token.RefreshToken, rec.Token.RefreshToken, "the refresh token is kept")
	assert.Equal(t, tok.AccessToken, rec.Token.AccessToken)
	assert.Greater(t, rec.Version, first.Version)
}

func TestDelegatedWithConfidentialClients(t *testing.T) {
	p := getPKI(t)
	cert, err := entra.ParseCertificatePEM(concat(pemCert(p.leaf), pemPKCS8(t, p.leafKey)))
	require.NoError(t, err)
	cases := map[string]struct {
		app providertest.App
		set func(*entra.Config)
	}{
		"secret":      {providertest.App{Secret: testSecret}, func(c *entra.Config) { c.ClientSecret = testSecret }},
		"certificate": {providertest.App{Certificate: p.leaf}, func(c *entra.Config) { c.Certificate = cert }},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			tc.app.ClientID = testClientID
			e.srv.AddApp(tc.app)
			cfg := e.cfg
			tc.set(&cfg)
			store := tokenstore.NewMemory()
			e.authorize(t, cfg, store)

			ctx := context.Background()
			mb, err := entra.Delegated(ctx, cfg, store)
			require.NoError(t, err)
			e.srv.Advance(2 * time.Hour)
			tok, err := mb.Tokens.Token(ctx)
			require.NoError(t, err)
			require.NoError(t, e.srv.VerifySASL(testMailbox, tok.AccessToken))
			assert.Equal(t, 1, e.srv.Requests("refresh_token"))
		})
	}
}

func TestDelegatedAsksForOneProtocol(t *testing.T) {
	e := newEnv(t)
	cfg := e.publicApp()
	cfg.Protocols = entra.IMAP
	store := tokenstore.NewMemory()
	rec := e.authorize(t, cfg, store)
	e.srv.Advance(2 * time.Hour)
	mb, err := entra.Delegated(context.Background(), cfg, store)
	require.NoError(t, err)
	tok, err := mb.Tokens.Token(context.Background())
	require.NoError(t, err)
	for _, s := range []string{rec.Token.AccessToken, tok.AccessToken} {
		var claims delegatedClaims
		require.NoError(t, jwt.Decode(s, nil, &claims))
		assert.Equal(t, []string{"IMAP.AccessAsUser.All"}, strings.Fields(claims.Scp))
	}
}

func TestDelegatedWithoutAGrant(t *testing.T) {
	e := newEnv(t)
	cfg := e.publicApp()
	_, err := entra.Delegated(context.Background(), cfg, tokenstore.NewMemory())
	require.ErrorIs(t, err, tokenstore.ErrNotFound)
	assert.Contains(t, err.Error(), "authorize the mailbox first")
	assert.Contains(t, err.Error(), cfg.Key())
	assert.Equal(t, 0, e.srv.Hits("token"))
}

func TestDelegatedRevokedGrant(t *testing.T) {
	e := newEnv(t)
	cfg := e.publicApp()
	store := tokenstore.NewMemory()
	rec := e.authorize(t, cfg, store)
	e.srv.RevokeGrant(rec.Token.RefreshToken)
	e.srv.Advance(2 * time.Hour)

	_, err := entra.Delegated(context.Background(), cfg, store)
	var te *oauth.TokenError
	require.True(t, errors.As(err, &te), "got %v", err)
	assert.Equal(t, "invalid_grant", te.Code())
	assert.NotContains(t, err.Error(), rec.Token.RefreshToken)
	after, err := store.Load(context.Background(), cfg.Key())
	require.NoError(t, err)
	assert.Equal(t, rec.Version, after.Version, "a failed refresh leaves the grant as it was")
}

func TestDelegatedReplacesARefusedToken(t *testing.T) {
	e := newEnv(t)
	cfg := e.publicApp()
	store := tokenstore.NewMemory()
	first := e.authorize(t, cfg, store)
	ctx := context.Background()
	mb, err := entra.Delegated(ctx, cfg, store)
	require.NoError(t, err)
	tok, err := mb.Tokens.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, first.Token.AccessToken, tok.AccessToken)

	// The server refuses the still-unexpired token (revoked, say): the
	// transport reports it and gets a refreshed one.
	e.srv.RevokeToken(tok.AccessToken)
	require.Error(t, e.srv.VerifySASL(testMailbox, tok.AccessToken))
	mb.Tokens.Invalidate(tok)
	tok2, err := mb.Tokens.Token(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, tok.AccessToken, tok2.AccessToken)
	assert.Equal(t, 1, e.srv.Requests("refresh_token"))
	require.NoError(t, e.srv.VerifySASL(testMailbox, tok2.AccessToken))
	rec, err := store.Load(ctx, cfg.Key())
	require.NoError(t, err)
	assert.Equal(t, tok2.AccessToken, rec.Token.AccessToken)
}
