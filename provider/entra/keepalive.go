package entra

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/tokenstore"
)

const (
	// DefaultKeepAliveAfter is the idle time after which a delegated grant
	// is refreshed to keep it alive. Entra expires a refresh token unused
	// for 90 days (AADSTS700082); 14 days leaves room for weeks of outage.
	DefaultKeepAliveAfter = 14 * day
)

// KeepAlive refreshes the delegated grant of cfg in store when it has not
// been refreshed (Record.UpdatedAt) for cfg.KeepAliveAfter (zero: 14 days),
// and saves the new refresh token. It reports whether it refreshed. Call it
// from a scheduler (daily is plenty) for mailboxes a program only opens
// now and then. Where store is a tokenstore.Locker the grant is locked
// while it is refreshed; a grant another process refreshed meanwhile is
// left alone.
func KeepAlive(ctx context.Context, cfg Config, store tokenstore.Store) (refreshed bool, err error) {
	if err := cfg.validate(false); err != nil {
		return false, err
	}
	if store == nil {
		return false, &provider.ConfigError{Package: "entra", Field: "store", Reason: "the program passed no token store holding the grant (a programming error)"}
	}
	ep, err := cfg.tokenEndpoint()
	if err != nil {
		return false, err
	}
	d := &delegatedGrant{cfg: cfg, store: store, key: cfg.Key(), endpoint: ep, watcher: newExpiryWatcher(cfg)}
	return d.keepAlive(ctx)
}

func (c Config) keepAliveAfter() time.Duration {
	if c.KeepAliveAfter > 0 {
		return c.KeepAliveAfter
	}
	return DefaultKeepAliveAfter
}

// keepAlive refreshes the grant if it is idle for too long.
func (d *delegatedGrant) keepAlive(ctx context.Context) (bool, error) {
	if l, ok := d.store.(tokenstore.Locker); ok {
		unlock, err := l.Lock(ctx, d.key)
		if err != nil {
			return false, fmt.Errorf("entra: keep-alive: lock grant of %s: %w", d.cfg.Mailbox, err)
		}
		defer func() { _ = unlock() }()
	}
	rec, err := d.load(ctx)
	if err != nil {
		return false, fmt.Errorf("entra: keep-alive: %w", err)
	}
	now := d.cfg.now()
	idle := now.Sub(rec.UpdatedAt)
	if idle < d.cfg.keepAliveAfter() {
		return false, nil
	}
	tok, err := d.refresh(ctx, rec)
	if err != nil {
		return false, fmt.Errorf("entra: keep-alive: %w", err)
	}
	next := &tokenstore.Record{
		Token:     tok,
		Account:   rec.Account,
		Scopes:    rec.Scopes,
		UpdatedAt: now,
		Version:   rec.Version,
	}
	if err := d.store.Save(ctx, d.key, next); err != nil {
		if errors.Is(err, tokenstore.ErrConflict) {
			// Another process saved the grant since we read it: it was
			// refreshed, which is all keep-alive wants.
			return false, nil
		}
		return false, fmt.Errorf("entra: keep-alive: save refreshed grant of %s: %w", d.cfg.Mailbox, err)
	}
	d.cfg.logger().InfoContext(ctx, "entra: refreshed an idle delegated grant to keep it alive",
		"mailbox", d.cfg.Mailbox, "idle", idle.Round(time.Minute).String())
	return true, nil
}
