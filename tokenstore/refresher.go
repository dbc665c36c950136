package tokenstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/retry"
)

// Refresher internals.
const (
	// maxRefreshAttempts bounds the refreshes one call makes when other
	// writers keep saving records that are not usable.
	maxRefreshAttempts = 3
	// saveTimeout bounds the save of a refreshed grant, which goes on after
	// the caller's context ends so that a rotated refresh token is not lost.
	saveTimeout = 30 * time.Second
)

// Refresher renews the grant stored under one key. It is the base an
// auth.Source calls (it implements auth.Refresher): the Source caches the
// token and decides when to renew it; the Refresher keeps no token of its
// own, only a grant it could not save.
//
// Each Refresh loads the record and returns its access token if it is valid
// now and is not the stale one the caller names: another Refresher or
// process renewed it. Otherwise it takes the key's lock, loads again, and
// refreshes through its refresh function, saving the new grant
// (compare-and-swap) before returning its token. A save that finds another
// writer's record uses that record when its token is good.
//
// One refresh per grant needs one lock per key. Every store of this module
// is a Locker: Memory within its process, File across the processes sharing
// its folder, sqlstore across the instances sharing its database, and an
// encrypted store as its inner store is. Any number of Refreshers on one of
// them refresh a grant once. A Store that is not a Locker gets exclusion only
// among the calls of one Refresher: two Refreshers on it may both refresh
// (which an identity provider that detects refresh-token reuse punishes by
// revoking the grant), so processes, or several Refreshers, sharing a store
// need it to be a Locker.
//
// When a refreshed grant cannot be saved for another reason than a conflict
// (a full disk, a database that is down), the identity provider may already
// have retired the old refresh token, so the Refresher keeps the new grant in
// memory: it hands out its token, refreshes from its refresh token, and tries
// to save it again at each later Refresh, before any refresh. Each failed
// save is logged at Error and passed to RefresherOptions.OnSaveError. Until a
// save succeeds, other Refreshers and processes reading the store still see
// the old grant, and a refresh of theirs would present the retired refresh
// token: a failed save needs the operator's attention at once.
//
// A Refresher is safe for concurrent use.
type Refresher struct {
	store       Store
	key         string
	refresh     func(ctx context.Context, rec *Record) (*oauth2.Token, error)
	clock       retry.Clock
	log         *slog.Logger
	onSaveError func(error)

	// sem is the key's lock when the store is not a Locker: it excludes the
	// refreshes of this Refresher only.
	sem chan struct{}

	mu      sync.Mutex // guards unsaved
	unsaved *Record    // a refreshed grant the store failed to save; nil when the store holds the newest grant
}

// RefresherOptions configure NewRefresher. A nil *RefresherOptions, and
// the zero value of each field, mean the default named there.
type RefresherOptions struct {
	// Logger gets refreshes (Info), conflicts and failures the caller
	// receives (Debug), and failed saves (Error), never a token; nil
	// discards.
	Logger *slog.Logger
	// Clock judges whether a stored token is still valid and stamps
	// UpdatedAt; it must agree with the clock of the auth.Source above.
	// nil: retry.System.
	Clock retry.Clock
	// OnSaveError is called each time a refreshed grant fails to save (the
	// grant is kept in memory and used meanwhile), with an error wrapping
	// the store's, from the refreshing goroutine; it must not block. nil:
	// only the Error log line reports it.
	OnSaveError func(error)
}

// NewRefresher returns a Refresher for the grant stored under key in store.
// refresh gets a copy of the record, whose Token holds the refresh token
// (a record without one fails before refresh is called), and returns the
// new token; when that token has no refresh
// token the old one is kept. The grant must have been stored first (by an
// authorization flow): until then Refresh returns an error wrapping
// ErrNotFound. A nil opts means the defaults.
func NewRefresher(store Store, key string, refresh func(ctx context.Context, rec *Record) (*oauth2.Token, error), opts *RefresherOptions) *Refresher {
	if opts == nil {
		opts = &RefresherOptions{}
	}
	r := &Refresher{
		store:       store,
		key:         key,
		refresh:     refresh,
		clock:       retry.Or(opts.Clock),
		log:         opts.Logger,
		onSaveError: opts.OnSaveError,
		sem:         make(chan struct{}, 1),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r
}

// Refresh implements auth.Refresher: it returns a copy of an access token
// that is valid now and is not stale (nil: any valid token), refreshing and
// saving the grant first when the stored one does not qualify.
func (r *Refresher) Refresh(ctx context.Context, stale *oauth2.Token) (*oauth2.Token, error) {
	if r.pending() == nil {
		rec, err := r.load(ctx)
		if err != nil {
			return nil, err
		}
		if r.fresh(rec, stale) {
			return cloneToken(rec.Token), nil
		}
	}
	unlock, err := r.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	rec, err := r.current(ctx)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		if r.fresh(rec, stale) {
			return cloneToken(rec.Token), nil
		}
		next, err := r.refreshAndSave(ctx, rec)
		if err == nil {
			return cloneToken(next.Token), nil
		}
		if !errors.Is(err, ErrConflict) || attempt == maxRefreshAttempts {
			return nil, err
		}
		r.log.Debug("tokenstore: another writer saved the grant first; reloading", "key", r.key, "version", rec.Version)
		if rec, err = r.load(ctx); err != nil {
			return nil, err
		}
	}
}

// fresh reports whether rec's access token may be handed out now in place
// of stale.
func (r *Refresher) fresh(rec *Record, stale *oauth2.Token) bool {
	t := rec.Token
	if t == nil || t.AccessToken == "" {
		return false
	}
	if stale != nil && t.AccessToken == stale.AccessToken {
		return false
	}
	return t.Expiry.IsZero() || r.clock.Now().Before(t.Expiry)
}

// lock takes the key's lock: the store's when it is a Locker, else this
// Refresher's own.
func (r *Refresher) lock(ctx context.Context) (unlock func(), err error) {
	if l, ok := r.store.(Locker); ok {
		release, err := l.Lock(ctx, r.key)
		if err != nil {
			return nil, fmt.Errorf("tokenstore: refresh %s: %w", quoteKey(r.key), err)
		}
		return func() {
			if err := release(); err != nil {
				r.log.Warn("tokenstore: releasing the refresh lock failed", "key", r.key, "error", err)
			}
		}, nil
	}
	select {
	case r.sem <- struct{}{}:
		return func() { <-r.sem }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("tokenstore: refresh %s: waiting for another refresh: %w", quoteKey(r.key), ctx.Err())
	}
}

// pending returns the grant the store failed to save, or nil.
func (r *Refresher) pending() *Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unsaved
}

func (r *Refresher) setPending(rec *Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unsaved = rec
}

// current returns the newest grant, with the key's lock held: a grant the
// store failed to save, which it tries to save again first, or the stored
// one.
func (r *Refresher) current(ctx context.Context) (*Record, error) {
	rec := r.pending()
	if rec == nil {
		return r.load(ctx)
	}
	err := r.save(ctx, rec)
	switch {
	case err == nil:
		r.setPending(nil)
		r.log.Info("tokenstore: saved the refreshed grant that an earlier save failed to store", "key", r.key, "version", rec.Version)
		return rec, nil
	case errors.Is(err, ErrConflict):
		// Another writer (a new authorization, or a process that refreshed
		// from the grant the store still held) saved since: its record is
		// the grant now.
		r.setPending(nil)
		r.log.Warn("tokenstore: another writer saved the grant while this Refresher held an unsaved one; using the stored grant", "key", r.key)
		return r.load(ctx)
	default:
		r.saveFailed(err)
		return rec, nil
	}
}

// refreshAndSave refreshes rec's token and saves the new record. It returns
// the new record once saved, or kept in memory after a save that failed for
// another reason than a conflict.
func (r *Refresher) refreshAndSave(ctx context.Context, rec *Record) (*Record, error) {
	if rec.Token == nil || rec.Token.RefreshToken == "" {
		return nil, fmt.Errorf("tokenstore: the grant stored under %s has no refresh token: authorize again, asking for offline access", quoteKey(r.key))
	}
	tok, err := r.refresh(ctx, cloneRecord(rec))
	if err != nil {
		// The caller gets the error; the Source above reports it.
		r.log.Debug("tokenstore: refresh failed", "key", r.key, "error", err)
		return nil, fmt.Errorf("tokenstore: refresh %s: %w", quoteKey(r.key), err)
	}
	if tok == nil || tok.AccessToken == "" {
		return nil, fmt.Errorf("tokenstore: refresh %s: the refresh function returned no access token", quoteKey(r.key))
	}
	now := r.clock.Now()
	next := cloneRecord(rec)
	next.Token = cloneToken(tok)
	if next.Token.RefreshToken == "" && rec.Token != nil {
		next.Token.RefreshToken = rec.Token.RefreshToken
	}
	if next.Token.Expiry.IsZero() && next.Token.ExpiresIn > 0 {
		next.Token.Expiry = now.Add(time.Duration(next.Token.ExpiresIn) * time.Second)
	}
	next.UpdatedAt = now

	err = r.save(ctx, next)
	switch {
	case err == nil:
		r.setPending(nil)
		r.log.Info("tokenstore: refreshed and saved the grant", "key", r.key,
			"version", next.Version, "expiry", next.Token.Expiry, "rotated", tok.RefreshToken != "")
		return next, nil
	case errors.Is(err, ErrConflict):
		r.setPending(nil) // the other writer's record replaces any unsaved one
		return nil, fmt.Errorf("tokenstore: refresh %s: saving the new grant: %w", quoteKey(r.key), err)
	default:
		r.setPending(next)
		r.saveFailed(err)
		return next, nil
	}
}

// save saves rec at its version even if the caller gives up meanwhile: the
// identity provider may already have retired the refresh token the store
// holds. A failed save leaves rec.Version as it was.
func (r *Refresher) save(ctx context.Context, rec *Record) error {
	saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
	defer cancel()
	base := rec.Version
	if err := r.store.Save(saveCtx, r.key, rec); err != nil {
		rec.Version = base
		return err
	}
	return nil
}

// saveFailed reports a save that failed while the grant is kept in memory.
func (r *Refresher) saveFailed(err error) {
	r.log.Error("tokenstore: saving the refreshed grant failed; it is kept in memory, used, and saved again at the next refresh",
		"key", r.key, "error", err)
	if r.onSaveError != nil {
		r.onSaveError(fmt.Errorf("tokenstore: the grant refreshed for %s is not saved (kept in memory and saved again at the next refresh): %w",
			quoteKey(r.key), err))
	}
}

// load loads the record, explaining a missing one. An encrypted record that
// a store without the key handed back as it is fails too.
func (r *Refresher) load(ctx context.Context) (*Record, error) {
	rec, err := r.store.Load(ctx, r.key)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("tokenstore: no grant stored under %s; authorize first: %w", quoteKey(r.key), err)
	}
	if err != nil {
		return nil, err
	}
	return checkUnsealed(r.key, rec)
}
