// Package tokenstore persists OAuth2 grants (refresh and access tokens) so
// that a program keeps its authorization across restarts and so that several
// instances share one grant without losing a rotated refresh token.
package tokenstore

import (
	"context"
	"errors"
	"time"

	"golang.org/x/oauth2"
)

var (
	// ErrNotFound is returned by Load and Delete when no record is stored
	// under the key.
	ErrNotFound = errors.New("tokenstore: record not found")
	// ErrConflict is returned by Save when the stored record's version is not
	// the version the caller read: another writer saved first.
	ErrConflict = errors.New("tokenstore: record changed since it was read")
)

// Record is one stored grant. It prints (fmt's verbs, log/slog) with its
// access and refresh tokens redacted.
type Record struct {
	Token     *oauth2.Token
	Account   string   // the mailbox or user the grant belongs to
	Scopes    []string // the scopes granted
	UpdatedAt time.Time
	// Version is the compare-and-swap counter. A record never saved has
	// version 0. Save succeeds only while the stored version equals
	// rec.Version (0: nothing may be stored yet) and then sets rec.Version
	// to the new stored version.
	Version int64
}

// Store loads and saves records by key. Implementations must be safe for
// concurrent use.
type Store interface {
	// Load returns the record stored under key, or ErrNotFound.
	Load(ctx context.Context, key string) (*Record, error)
	// Save stores rec under key if the stored version is still rec.Version,
	// and returns ErrConflict otherwise. On success rec.Version is the new
	// version.
	Save(ctx context.Context, key string, rec *Record) error
	// Delete removes the record under key, or returns ErrNotFound.
	Delete(ctx context.Context, key string) error
}

// Locker is an optional interface of a Store whose records can be locked,
// so that only one Refresher refreshes a grant at a time: across every
// process that shares the store (File, sqlstore), or within the one process
// that holds it (Memory). Processes sharing a store need it to be a Locker.
type Locker interface {
	// Lock blocks until the lock on key is held or ctx is done. The returned
	// function releases it.
	Lock(ctx context.Context, key string) (unlock func() error, err error)
}
