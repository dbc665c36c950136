package entra

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/oauth"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// Delegated returns the Mailbox of a delegated grant: a user (or an admin
// with rights to a shared mailbox) authorized the app once, with
// AuthorizeDevice or the authorization-code handlers, and the grant's
// refresh token is in store under cfg.Key().
//
// Refresh tokens are redeemed through a tokenstore.Refresher, which saves a
// rotated refresh token before the access token it came with is used. The
// app may be confidential (ClientSecret or Certificate) or public (neither).
// A missing grant gives an error wrapping tokenstore.ErrNotFound. Unless
// cfg.Lazy is set, Delegated gets a valid access token before returning
// (refreshing only when the stored one has expired), so a revoked grant
// fails here.
//
// A grant that a quiet mailbox never refreshes expires after 90 days
// unused: run KeepAlive from a scheduler (daily is plenty).
func Delegated(ctx context.Context, cfg Config, store tokenstore.Store) (*provider.Mailbox, error) {
	if err := cfg.validate(false); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, &provider.ConfigError{Package: "entra", Field: "store", Reason: "the program passed no token store holding the grant (a programming error)"}
	}
	ep, err := cfg.tokenEndpoint()
	if err != nil {
		return nil, err
	}
	d := &delegatedGrant{cfg: cfg, store: store, key: cfg.Key(), endpoint: ep, watcher: newExpiryWatcher(cfg)}
	if !cfg.Lazy {
		if _, err := d.load(ctx); err != nil {
			return nil, err
		}
	}
	refresher := tokenstore.NewRefresher(store, d.key, d.refresh, &tokenstore.RefresherOptions{Logger: cfg.Logger, Clock: cfg.Clock})
	if !cfg.Lazy {
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
	cfg      Config
	store    tokenstore.Store
	key      string
	endpoint *oauth.Client
	watcher  *expiryWatcher // nil when the credential's expiry is unknown
}

// load reads the grant, turning "not found" into advice.
func (d *delegatedGrant) load(ctx context.Context) (*tokenstore.Record, error) {
	rec, err := d.store.Load(ctx, d.key)
	if errors.Is(err, tokenstore.ErrNotFound) {
		return nil, fmt.Errorf("entra: no delegated grant for %s under key %q: authorize the mailbox first (with a device code, or in a browser): %w",
			d.cfg.Mailbox, d.key, err)
	}
	if err != nil {
		return nil, fmt.Errorf("entra: load delegated grant for %s: %w", d.cfg.Mailbox, err)
	}
	return rec, nil
}

// refresh redeems rec's refresh token for the configured scopes. It is the
// refresh function of the tokenstore.Refresher, which saves the result.
func (d *delegatedGrant) refresh(ctx context.Context, rec *tokenstore.Record) (*oauth2.Token, error) {
	if rec == nil || rec.Token == nil || rec.Token.RefreshToken == "" {
		return nil, fmt.Errorf("entra: the grant stored for %s under key %q has no refresh token: authorize the mailbox again (with offline_access)",
			d.cfg.Mailbox, d.key)
	}
	d.watcher.check(ctx)
	tok, err := d.endpoint.Refresh(ctx, rec.Token.RefreshToken)
	if err != nil {
		return nil, fmt.Errorf("entra: refresh delegated grant for %s: %w", d.cfg.Mailbox, wrapExpired(d.cfg, err))
	}
	return tok, nil
}
