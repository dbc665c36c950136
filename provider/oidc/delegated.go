package oidc

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// Delegated returns the Mailbox of a delegated grant: a user authorized
// the client once for the mailbox (NewDeviceFlow or
// NewAuthCodeFlow), and the grant's refresh token is in store under
// cfg.Key().
//
// Refresh tokens are redeemed through a tokenstore.Refresher under an
// auth.Source: a rotated refresh token is saved before the access token
// it came with is used, and one refresh runs at a time per grant, across
// processes when store is a Locker (tokenstore.File, sqlstore), so a
// server's reuse detection never fires. Each refresh carries
// cfg.Resources and cfg.Params, and no scope: the grant's come back.
// A missing grant gives an error wrapping tokenstore.ErrNotFound. Unless
// cfg.Lazy is set, Delegated gets a valid access token before returning,
// so a revoked grant fails here.
func Delegated(ctx context.Context, cfg Config, store tokenstore.Store) (*provider.Mailbox, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, &provider.ConfigError{Package: "oidc", Field: "store", Reason: "the program passed no token store holding the grant (a programming error)"}
	}
	g := &delegatedGrant{srv: &server{cfg: cfg}, key: cfg.Key()}
	refresher := tokenstore.NewRefresher(store, g.key, g.refresh, &tokenstore.RefresherOptions{Logger: cfg.Logger, Clock: cfg.Clock})
	if !cfg.Lazy {
		if _, _, err := g.srv.resolve(ctx); err != nil {
			return nil, provider.Annotate(err)
		}
		if _, err := store.Load(ctx, g.key); err != nil {
			if errors.Is(err, tokenstore.ErrNotFound) {
				return nil, fmt.Errorf("oidc: no delegated grant for %s under key %q: authorize the mailbox first (with a device code, or in a browser): %w", cfg.Mailbox, g.key, err)
			}
			return nil, fmt.Errorf("oidc: load delegated grant for %s: %w", cfg.Mailbox, err)
		}
		// The refresher keeps the token for the Source's first call; asked
		// directly, a failure is this call's one report.
		if _, err := refresher.Refresh(ctx, nil); err != nil {
			return nil, provider.Annotate(err)
		}
	}
	return cfg.mailbox(auth.NewSource(refresher, cfg.sourceOptions())), nil
}

// delegatedGrant is the refresh side of one delegated Mailbox.
type delegatedGrant struct {
	srv *server
	key string
}

// refresh redeems rec's refresh token; the tokenstore.Refresher saves the
// result.
func (g *delegatedGrant) refresh(ctx context.Context, rec *tokenstore.Record) (*oauth2.Token, error) {
	mailbox := g.srv.cfg.Mailbox
	if rec == nil || rec.Token == nil || rec.Token.RefreshToken == "" {
		return nil, fmt.Errorf("oidc: the grant stored for %s under key %q has no refresh token: authorize the mailbox again, asking for offline access (the offline_access scope)", mailbox, g.key)
	}
	_, client, err := g.srv.resolve(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := client.Refresh(ctx, rec.Token.RefreshToken)
	if err != nil {
		return nil, fmt.Errorf("oidc: refresh delegated grant for %s: %w", mailbox, err)
	}
	return tok, nil
}
