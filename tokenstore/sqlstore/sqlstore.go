package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mailoauth/mailoauth/retry"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// Dialect names the SQL database behind a Store.
type Dialect int

const (
	// Postgres is PostgreSQL 12 or later.
	Postgres Dialect = iota + 1
	// SQLite is SQLite 3.24 or later (for upserts). Open it with a busy
	// timeout (modernc.org/sqlite: "_pragma=busy_timeout(5000)") so that
	// writers wait for each other instead of failing.
	SQLite
)

// String returns the name of d.
func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "postgres"
	case SQLite:
		return "sqlite"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

// DefaultTable is the table a Store uses when Options.Table is empty.
const DefaultTable = "mailoauth_tokens"

// DefaultLease is how long a SQLite lock row is held before another instance
// may take it over, when Options.Lease is zero.
const DefaultLease = 30 * time.Second

// Options tune a Store. The zero value works.
type Options struct {
	// Table is the name of the records table; the SQLite lock table is
	// Table + "_locks". Zero: DefaultTable.
	Table string
	// Lease bounds how long a SQLite lock is held by a holder that never
	// unlocks (it crashed). Zero: DefaultLease. Unused on PostgreSQL.
	Lease time.Duration
	// Clock tells the time for SQLite lock leases; nil: retry.System.
	Clock retry.Clock
}

// Store is a tokenstore.Store and tokenstore.Locker on a SQL database. It is
// safe for concurrent use by several goroutines and several processes.
type Store struct {
	db      *sql.DB
	dialect Dialect
	table   string
	locks   string
	lease   time.Duration
	now     func() time.Time
}

var (
	_ tokenstore.Store  = (*Store)(nil)
	_ tokenstore.Locker = (*Store)(nil)
)

// tableName limits table names to plain identifiers, since they are
// written into SQL text.
var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,50}$`)

// New returns a Store on db; a nil opts means the defaults. Call Migrate
// once before the first use.
func New(db *sql.DB, dialect Dialect, opts *Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: nil *sql.DB")
	}
	if dialect != Postgres && dialect != SQLite {
		return nil, fmt.Errorf("sqlstore: unknown dialect %v", dialect)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if !tableName.MatchString(o.Table) {
		return nil, fmt.Errorf("sqlstore: table name %q is not a plain identifier", o.Table)
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	return &Store{db: db, dialect: dialect, table: o.Table, locks: o.Table + "_locks", lease: o.Lease, now: retry.Or(o.Clock).Now}, nil
}

// Migrate creates the tables if they are missing. It is safe to call on
// every start.
//
// Tables made by earlier versions need no change: a deleted key's row now
// stays as a tombstone (an empty record that keeps the key's last
// version, so that versions never repeat), which the columns already hold.
// An earlier version of this package reading a tombstone reports the
// record as unreadable rather than found.
func (s *Store) Migrate(ctx context.Context) error {
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS ` + s.table + ` (
	key TEXT PRIMARY KEY,
	record TEXT NOT NULL,
	version BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
)`,
	}
	if s.dialect == SQLite {
		stmts = append(stmts, `CREATE TABLE IF NOT EXISTS `+s.locks+` (
	key TEXT PRIMARY KEY,
	holder TEXT NOT NULL,
	expires_at BIGINT NOT NULL
)`)
	}
	for _, q := range stmts {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("sqlstore: migrate %s: %w", s.table, err)
		}
	}
	return nil
}

// Load returns the record stored under key, or tokenstore.ErrNotFound.
func (s *Store) Load(ctx context.Context, key string) (*tokenstore.Record, error) {
	var (
		data    string
		version int64
		updated int64
	)
	err := s.db.QueryRowContext(ctx, s.q(`SELECT record, version, updated_at FROM `+s.table+` WHERE key = $1`), key).
		Scan(&data, &version, &updated)
	if errors.Is(err, sql.ErrNoRows) || err == nil && data == tombstone {
		return nil, fmt.Errorf("sqlstore: load %q: %w", key, tokenstore.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: load %q: %w", key, err)
	}
	rec, err := tokenstore.UnmarshalRecord(key, []byte(data), version)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	if rec.UpdatedAt.IsZero() {
		rec.UpdatedAt = time.UnixMilli(updated).UTC()
	}
	return rec, nil
}

// Save stores rec under key if the stored version is still rec.Version
// (0: nothing stored yet) and returns tokenstore.ErrConflict otherwise. On
// success rec.Version is the new version. A zero rec.UpdatedAt is set to the
// time of the save; the updated_at column always holds the time of the save.
func (s *Store) Save(ctx context.Context, key string, rec *tokenstore.Record) error {
	if rec == nil {
		return errors.New("sqlstore: save: nil record")
	}
	now := s.now().UTC()
	updatedAt := rec.UpdatedAt
	if updatedAt.IsZero() {
		updatedAt = now
	}
	stored := *rec
	stored.UpdatedAt = updatedAt
	data, err := tokenstore.MarshalRecord(&stored)
	if err != nil {
		return fmt.Errorf("sqlstore: save %q: %w", key, err)
	}
	var next int64
	if rec.Version == 0 {
		next, err = s.create(ctx, key, string(data), now)
	} else if err = s.checkOverwrite(ctx, key, rec.Version, data); err != nil {
		return err
	} else {
		next = rec.Version + 1
		err = s.exec1(ctx, `UPDATE `+s.table+` SET record = $1, version = $2, updated_at = $3
WHERE key = $4 AND version = $5 AND record <> ''`, string(data), next, now.UnixMilli(), key, rec.Version)
	}
	if errors.Is(err, errNoRow) {
		return fmt.Errorf("sqlstore: save %q at version %d: %w", key, rec.Version, tokenstore.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: save %q: %w", key, err)
	}
	rec.Version = next
	rec.UpdatedAt = updatedAt
	return nil
}

// checkOverwrite refuses to replace, with a plain record (data), the
// encrypted record stored at version: a store without the key must not
// drop the grant. Versions never repeat, so the record read is the one
// the update would replace.
func (s *Store) checkOverwrite(ctx context.Context, key string, version int64, data []byte) error {
	if _, err := tokenstore.UnmarshalRecord(key, data, version); errors.Is(err, tokenstore.ErrSealed) {
		return nil // an encrypted store over this one writes its envelope
	}
	var stored string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT record FROM `+s.table+` WHERE key = $1 AND version = $2`), key, version).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // the update finds the conflict
	}
	if err != nil {
		return fmt.Errorf("sqlstore: save %q: %w", key, err)
	}
	if _, err := tokenstore.UnmarshalRecord(key, []byte(stored), version); errors.Is(err, tokenstore.ErrSealed) {
		return fmt.Errorf("sqlstore: save %q: %w", key, err)
	}
	return nil
}

// tombstone is the record column of a deleted key's row, which keeps the
// key's last version.
const tombstone = ""

// errNoRow: a statement that must change one row changed none.
var errNoRow = errors.New("no row changed")

// create stores a new record under key, where nothing is stored or a
// tombstone is, and returns its version: 1, or one more than the
// tombstone's. It returns errNoRow when a record is stored.
func (s *Store) create(ctx context.Context, key, data string, now time.Time) (int64, error) {
	err := s.exec1(ctx, `INSERT INTO `+s.table+` (key, record, version, updated_at)
VALUES ($1, $2, 1, $3) ON CONFLICT (key) DO NOTHING`, key, data, now.UnixMilli())
	if !errors.Is(err, errNoRow) {
		return 1, err
	}
	var last int64
	err = s.db.QueryRowContext(ctx, s.q(`SELECT version FROM `+s.table+` WHERE key = $1 AND record = ''`), key).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errNoRow // a record, not a tombstone
	}
	if err != nil {
		return 0, err
	}
	// Compare-and-swap on the tombstone's version: a concurrent creator
	// that got there first leaves this one nothing to change.
	err = s.exec1(ctx, `UPDATE `+s.table+` SET record = $1, version = $2, updated_at = $3
WHERE key = $4 AND version = $5 AND record = ''`, data, last+1, now.UnixMilli(), key, last)
	return last + 1, err
}

// exec1 runs a statement that must change exactly one row, and returns
// errNoRow when it changed none.
func (s *Store) exec1(ctx context.Context, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, s.q(query), args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		return errNoRow
	}
	return nil
}

// Delete removes the record under key, or returns tokenstore.ErrNotFound.
// The row stays as a tombstone that keeps the key's last version, so that
// versions never repeat: a writer holding a version read before the Delete
// gets ErrConflict rather than overwrite a grant saved since.
func (s *Store) Delete(ctx context.Context, key string) error {
	err := s.exec1(ctx, `UPDATE `+s.table+` SET record = '', updated_at = $1 WHERE key = $2 AND record <> ''`,
		s.now().UTC().UnixMilli(), key)
	if errors.Is(err, errNoRow) {
		return fmt.Errorf("sqlstore: delete %q: %w", key, tokenstore.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: delete %q: %w", key, err)
	}
	return nil
}

// q rewrites PostgreSQL placeholders ($1, $2, ...) for SQLite, which takes
// positional ? arguments.
func (s *Store) q(query string) string {
	if s.dialect == Postgres {
		return query
	}
	var b strings.Builder
	for i := 0; i < len(query); i++ {
		if query[i] == '$' {
			j := i + 1
			for j < len(query) && query[j] >= '0' && query[j] <= '9' {
				j++
			}
			if j > i+1 {
				b.WriteString("?" + query[i+1:j])
				i = j - 1
				continue
			}
		}
		b.WriteByte(query[i])
	}
	return b.String()
}
