package entra_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/oauth"
	"github.com/mailoauth/mailoauth/tokenstore"
)

const day = 24 * time.Hour

func TestKeepAliveRefreshesOnlyIdleGrants(t *testing.T) {
	e := newEnv(t)
	cfg := e.publicApp()
	store, err := tokenstore.NewFile(t.TempDir()) // a Locker: the lock path is used
	require.NoError(t, err)
	first := e.authorize(t, cfg, store)
	ctx := context.Background()

	refreshed, err := entra.KeepAlive(ctx, cfg, store)
	require.NoError(t, err)
	assert.False(t, refreshed, "a fresh grant is left alone")
	e.srv.Advance(13 * day)
	refreshed, err = entra.KeepAlive(ctx, cfg, store)
	require.NoError(t, err)
	assert.False(t, refreshed, "13 days idle is under the default 14")
	assert.Equal(t, 0, e.srv.Requests("refresh_token"))

	e.srv.Advance(2 * day)
	refreshed, err = entra.KeepAlive(ctx, cfg, store)
	require.NoError(t, err)
	assert.True(t, refreshed)
	assert.Equal(t, 1, e.srv.Requests("refresh_token"))
	rec, err := store.Load(ctx, cfg.Key())
	require.NoError(t, err)
	assert.NotEqual(t, first.Token.RefreshToken, rec.Token.RefreshToken, "the rotated refresh token is saved")
	assert.WithinDuration(t, e.srv.Now(), rec.UpdatedAt, 2*time.Second, "stamped with the server clock")
	assert.Equal(t, testMailbox, rec.Account)

	refreshed, err = entra.KeepAlive(ctx, cfg, store)
	require.NoError(t, err)
	assert.False(t, refreshed, "just refreshed")
	assert.Contains(t, e.logs.String(), "refreshed an idle delegated grant")
}

func TestKeepAliveSavesAGrantFromInactivityExpiry(t *testing.T) {
	ctx := context.Background()
	run := func(t *testing.T, keepAlive bool) error {
		e := newEnv(t)
		cfg := e.publicApp()
		cfg.KeepAliveAfter = 7 * day
		store := tokenstore.NewMemory()
		e.authorize(t, cfg, store)
		// 120 quiet days, with the scheduler calling KeepAlive daily or not.
		for range 120 {
			e.srv.Advance(day)
			if keepAlive {
				if _, err := entra.KeepAlive(ctx, cfg, store); err != nil {
					return err
				}
			}
		}
		if keepAlive {
			assert.Equal(t, 17, e.srv.Requests("refresh_token"), "one refresh a week")
		}
		_, err := entra.Delegated(ctx, cfg, store)
		return err
	}
	t.Run("without keep-alive the grant dies after 90 days", func(t *testing.T) {
		err := run(t, false)
		var te *oauth.TokenError
		require.True(t, errors.As(err, &te), "got %v", err)
		assert.Equal(t, "invalid_grant", te.Code())
		assert.Contains(t, err.Error(), "AADSTS700082")
	})
	t.Run("with keep-alive it lives", func(t *testing.T) {
		require.NoError(t, run(t, true))
	})
}

func TestKeepAliveWithoutAGrant(t *testing.T) {
	e := newEnv(t)
	cfg := e.publicApp()
	refreshed, err := entra.KeepAlive(context.Background(), cfg, tokenstore.NewMemory())
	assert.False(t, refreshed)
	require.ErrorIs(t, err, tokenstore.ErrNotFound)
}
