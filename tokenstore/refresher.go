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

// DefaultRefreshMargin is how long before its expiry a stored access token is
// replaced. It exceeds auth.Source's default early-refresh margin (10
// minutes) by one minute, so that a Source refreshing early gets a token it
// accepts rather than the one it is trying to replace.
const DefaultRefreshMargin = 11 * time.Minute

// Refresher internals.
const (
	// maxRefreshAttempts bounds the refreshes one call makes when other
	// writers keep saving records that are not usable.
	maxRefreshAttempts = 3
	// saveTimeout bounds the save of a refreshed grant, which goes on after
	// the caller's context ends so that a rotated refresh token is not lost.
	saveTimeout = 30 * time.Second
)

// Refresher hands out the access token of the grant stored under one key,
// refreshing it through a function and saving the new grant before handing
// the new token out. It is an oauth2.TokenSource and has the
// TokenContext method that auth.Source prefers; it is safe for concurrent
// use.
//
// It refreshes only when the stored access token is missing, expires within
// the margin (DefaultRefreshMargin), or was reported by Invalidate. When the
// store is a Locker it takes the key's lock and reloads before refreshing, so
// that processes sharing a store refresh once between them; a save that finds
// another writer's newer record uses that record if its token is good.
type Refresher struct {
	store   Store
	key     string
	refresh func(ctx context.Context, rec *Record) (*oauth2.Token, error)
	margin  time.Duration
	now     func() time.Time
	log     *slog.Logger

	sem chan struct{} // held while loading or refreshing: one at a time

	mu       sync.Mutex // guards cached and rejected
	cached   *Record    // the record last loaded or saved; nil when unknown
	rejected string     // an access token reported by Invalidate
}

// RefresherOptions configure NewRefresher. A nil *RefresherOptions, and
// the zero value of each field, mean the default named there.
type RefresherOptions struct {
	// Margin is how long before its expiry a token is refreshed; zero:
	// DefaultRefreshMargin. A token whose lifetime, counted from the
	// record's UpdatedAt, is shorter than twice the margin is refreshed at
	// half its lifetime instead.
	Margin time.Duration
	// Logger gets refreshes and saves, never a token; nil discards.
	Logger *slog.Logger
	// Clock judges expiry and stamps UpdatedAt; nil: retry.System.
	Clock retry.Clock
}

// NewRefresher returns a Refresher for the grant stored under key in store.
// refresh gets a copy of the stored record, whose Token (possibly nil) holds
// the refresh token, and returns the new token; when that token has no
// refresh token the old one is kept. The grant must have been stored first
// (by an authorization flow): until then Token returns an error wrapping
// ErrNotFound. A nil opts means the defaults.
func NewRefresher(store Store, key string, refresh func(ctx context.Context, rec *Record) (*oauth2.Token, error), opts *RefresherOptions) *Refresher {
	if opts == nil {
		opts = &RefresherOptions{}
	}
	r := &Refresher{
		store:   store,
		key:     key,
		refresh: refresh,
		margin:  opts.Margin,
		now:     retry.Or(opts.Clock).Now,
		log:     opts.Logger,
		sem:     make(chan struct{}, 1),
	}
	if r.margin <= 0 {
		r.margin = DefaultRefreshMargin
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r
}

// Refresh implements auth.Refresher: it returns the stored access token
// unless it is stale (the token the caller holds, due or refused) or near
// expiry, in which case it refreshes and saves the grant first.
func (r *Refresher) Refresh(ctx context.Context, stale *oauth2.Token) (*oauth2.Token, error) {
	if stale != nil {
		r.Invalidate(stale)
	}
	return r.TokenContext(ctx)
}

// Token is TokenContext with a background context.
func (r *Refresher) Token() (*oauth2.Token, error) {
	return r.TokenContext(context.Background())
}

// TokenContext returns a copy of a valid access token, refreshing and saving
// the grant first when needed.
func (r *Refresher) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	if t := r.fromCache(); t != nil {
		return t, nil
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-r.sem }()
	if t := r.fromCache(); t != nil {
		return t, nil
	}
	rec, err := r.obtain(ctx)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.cached = rec
	r.mu.Unlock()
	return cloneToken(rec.Token), nil
}

// Invalidate reports that a server refused the access token t: the next
// TokenContext refreshes even if t has not expired. A t that is not the
// current token changes nothing.
func (r *Refresher) Invalidate(t *oauth2.Token) {
	if t == nil || t.AccessToken == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cached != nil && r.cached.Token != nil && r.cached.Token.AccessToken == t.AccessToken {
		r.cached = nil
		r.rejected = t.AccessToken
	}
}

// fromCache returns a copy of the cached token while it is good.
func (r *Refresher) fromCache() *oauth2.Token {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cached == nil || !r.usable(r.cached) {
		return nil
	}
	return cloneToken(r.cached.Token)
}

// usable reports whether rec's access token may be handed out now. The
// caller holds r.mu.
func (r *Refresher) usable(rec *Record) bool {
	t := rec.Token
	if t == nil || t.AccessToken == "" || t.AccessToken == r.rejected {
		return false
	}
	if t.Expiry.IsZero() {
		return true // no expiry: valid until a server refuses it
	}
	margin := r.margin
	if !rec.UpdatedAt.IsZero() && t.Expiry.After(rec.UpdatedAt) {
		if life := t.Expiry.Sub(rec.UpdatedAt); life < 2*margin {
			margin = life / 2
		}
	}
	return r.now().Add(margin).Before(t.Expiry)
}

// usableNow is usable for a caller that does not hold r.mu.
func (r *Refresher) usableNow(rec *Record) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.usable(rec)
}

// obtain loads the record and, when its token is not usable, refreshes and
// saves it: under the store's lock when the store is a Locker.
func (r *Refresher) obtain(ctx context.Context) (*Record, error) {
	rec, err := r.load(ctx)
	if err != nil {
		return nil, err
	}
	if r.usableNow(rec) {
		return rec, nil
	}
	if l, ok := r.store.(Locker); ok {
		unlock, err := l.Lock(ctx, r.key)
		if err != nil {
			return nil, fmt.Errorf("tokenstore: refresh %s: %w", quoteKey(r.key), err)
		}
		defer func() {
			if err := unlock(); err != nil {
				r.log.Warn("tokenstore: releasing the refresh lock failed", "key", r.key, "error", err)
			}
		}()
		// Another process may have refreshed while this one waited.
		if rec, err = r.load(ctx); err != nil {
			return nil, err
		}
	}
	for attempt := 1; ; attempt++ {
		if r.usableNow(rec) {
			r.log.Debug("tokenstore: using the grant another writer saved", "key", r.key, "version", rec.Version)
			return rec, nil
		}
		next, err := r.refreshAndSave(ctx, rec)
		if err == nil {
			return next, nil
		}
		if !errors.Is(err, ErrConflict) || attempt == maxRefreshAttempts {
			return nil, err
		}
		r.log.Warn("tokenstore: another writer saved the grant first; reloading", "key", r.key, "version", rec.Version)
		if rec, err = r.load(ctx); err != nil {
			return nil, err
		}
	}
}

// refreshAndSave refreshes rec's token and saves the new record, which it
// returns only once saved.
func (r *Refresher) refreshAndSave(ctx context.Context, rec *Record) (*Record, error) {
	tok, err := r.refresh(ctx, cloneRecord(rec))
	if err != nil {
		r.log.Warn("tokenstore: refresh failed", "key", r.key, "error", err)
		return nil, fmt.Errorf("tokenstore: refresh %s: %w", quoteKey(r.key), err)
	}
	if tok == nil || tok.AccessToken == "" {
		return nil, fmt.Errorf("tokenstore: refresh %s: the refresh function returned no access token", quoteKey(r.key))
	}
	now := r.now()
	next := cloneRecord(rec)
	next.Token = cloneToken(tok)
	if next.Token.RefreshToken == "" && rec.Token != nil {
		next.Token.RefreshToken = rec.Token.RefreshToken
	}
	if next.Token.Expiry.IsZero() && next.Token.ExpiresIn > 0 {
		next.Token.Expiry = now.Add(time.Duration(next.Token.ExpiresIn) * time.Second)
	}
	next.UpdatedAt = now

	// The grant is saved even if the caller gives up meanwhile: the
	// identity provider may already have retired the old refresh token.
	saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
	defer cancel()
	if err := r.store.Save(saveCtx, r.key, next); err != nil {
		return nil, fmt.Errorf("tokenstore: refresh %s: saving the new grant: %w", quoteKey(r.key), err)
	}
	r.log.Info("tokenstore: refreshed and saved the grant", "key", r.key,
		"version", next.Version, "expiry", next.Token.Expiry, "rotated", tok.RefreshToken != "")
	return next, nil
}

// load loads the record, explaining a missing one.
func (r *Refresher) load(ctx context.Context) (*Record, error) {
	rec, err := r.store.Load(ctx, r.key)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("tokenstore: no grant stored under %s; authorize first: %w", quoteKey(r.key), err)
	}
	if err != nil {
		return nil, err
	}
	return rec, nil
}
