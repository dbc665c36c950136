package sqlstore_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	_ "modernc.org/sqlite"

	"github.com/mailoauth/mailoauth/internal/testclock"
	"github.com/mailoauth/mailoauth/tokenstore"
	"github.com/mailoauth/mailoauth/tokenstore/sqlstore"
)

// postgresEnv names the environment variable holding a PostgreSQL DSN for
// the tests; without it the PostgreSQL tests skip. .ci/run sets it.
const postgresEnv = "MAILOAUTH_TEST_POSTGRES"

// tableSeq gives each PostgreSQL test its own table, so tests never see
// each other's rows.
var tableSeq atomic.Int64

type backend struct {
	name    string
	dialect sqlstore.Dialect
	// open returns a new *sql.DB pool on the same database each call.
	open func(t *testing.T) *sql.DB
}

func backends(t *testing.T) []backend {
	dir := t.TempDir()
	sqlitePath := filepath.Join(dir, "tokens.db")
	bs := []backend{{
		name:    "sqlite",
		dialect: sqlstore.SQLite,
		open: func(t *testing.T) *sql.DB {
			db, err := sql.Open("sqlite", "file:"+sqlitePath+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			return db
		},
	}}
	if dsn := os.Getenv(postgresEnv); dsn != "" {
		bs = append(bs, backend{
			name:    "postgres",
			dialect: sqlstore.Postgres,
			open: func(t *testing.T) *sql.DB {
				db, err := sql.Open("pgx", dsn)
				require.NoError(t, err)
				t.Cleanup(func() { db.Close() })
				return db
			},
		})
	} else if os.Getenv("CI") == "true" {
		// .ci/run starts a PostgreSQL cluster: its absence is a failure there.
		t.Fatalf("%s not set in CI", postgresEnv)
	} else {
		t.Logf("%s not set: PostgreSQL cases skipped", postgresEnv)
	}
	return bs
}

func newStore(t *testing.T, b backend, db *sql.DB, table string, opts ...sqlstore.Options) *sqlstore.Store {
	t.Helper()
	o := sqlstore.Options{Table: table}
	if len(opts) > 0 {
		o = opts[0]
		o.Table = table
	}
	s, err := sqlstore.New(db, b.dialect, &o)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

func uniqueTable() string {
	return fmt.Sprintf("mo_test_%d_%d", os.Getpid(), tableSeq.Add(1))
}

func record(access, refresh string) *tokenstore.Record {
	return &tokenstore.Record{
		Token:   &oauth2.Token{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer", Expiry: time.Now().Add(time.Hour).UTC().Truncate(time.Second)},
		Account: "alice@example.test",
		Scopes:  []string{"offline_access", "https://outlook.office.com/SMTP.Send"},
	}
}

func TestRoundTripAndConflict(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s := newStore(t, b, b.open(t), uniqueTable())
			_, err := s.Load(ctx, "k")
			require.ErrorIs(t, err, tokenstore.ErrNotFound)

			rec := record("at1", "rt1")
			require.NoError(t, s.Save(ctx, "k", rec))
			require.EqualValues(t, 1, rec.Version)

			got, err := s.Load(ctx, "k")
			require.NoError(t, err)
			require.Equal(t, "rt1", got.Token.RefreshToken)
			require.Equal(t, rec.Token.Expiry.Unix(), got.Token.Expiry.Unix())
			require.Equal(t, rec.Scopes, got.Scopes)
			require.Equal(t, "alice@example.test", got.Account)
			require.EqualValues(t, 1, got.Version)
			require.False(t, got.UpdatedAt.IsZero())

			// A writer that read version 1 saves; a second writer holding
			// version 1 must lose.
			stale := *got
			got.Token.RefreshToken = "rt2"
			require.NoError(t, s.Save(ctx, "k", got))
			require.EqualValues(t, 2, got.Version)
			stale.Token = &oauth2.Token{RefreshToken: "rt-stale"}
			require.ErrorIs(t, s.Save(ctx, "k", &stale), tokenstore.ErrConflict)
			// Version 0 means "nothing stored yet": also a conflict now.
			require.ErrorIs(t, s.Save(ctx, "k", record("x", "y")), tokenstore.ErrConflict)

			again, err := s.Load(ctx, "k")
			require.NoError(t, err)
			require.Equal(t, "rt2", again.Token.RefreshToken, "the newer refresh token must survive")

			require.NoError(t, s.Delete(ctx, "k"))
			require.ErrorIs(t, s.Delete(ctx, "k"), tokenstore.ErrNotFound)
			_, err = s.Load(ctx, "k")
			require.ErrorIs(t, err, tokenstore.ErrNotFound)
		})
	}
}

func TestOneWinnerPerVersion(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			table := uniqueTable()
			const writers = 8
			stores := make([]*sqlstore.Store, writers)
			for i := range stores {
				stores[i] = newStore(t, b, b.open(t), table)
			}
			base := record("at0", "rt0")
			require.NoError(t, stores[0].Save(ctx, "k", base))

			for round := 0; round < 5; round++ {
				cur, err := stores[0].Load(ctx, "k")
				require.NoError(t, err)
				var wins atomic.Int32
				var wg sync.WaitGroup
				for i := range stores {
					wg.Add(1)
					go func(i int) {
						defer wg.Done()
						rec := *cur
						rec.Token = &oauth2.Token{RefreshToken: fmt.Sprintf("rt-%d-%d", round, i)}
						err := stores[i].Save(ctx, "k", &rec)
						switch {
						case err == nil:
							wins.Add(1)
						case errors.Is(err, tokenstore.ErrConflict):
						default:
							t.Errorf("writer %d: %v", i, err)
						}
					}(i)
				}
				wg.Wait()
				require.EqualValues(t, 1, wins.Load(), "round %d: exactly one writer may win", round)
			}
			final, err := stores[0].Load(ctx, "k")
			require.NoError(t, err)
			require.EqualValues(t, 6, final.Version)
		})
	}
}

func TestLockIsMutualExclusion(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			table := uniqueTable()
			var inside, maxInside, entries atomic.Int32
			var wg sync.WaitGroup
			for i := 0; i < 4; i++ {
				s := newStore(t, b, b.open(t), table)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := 0; j < 5; j++ {
						unlock, err := s.Lock(ctx, "grant")
						if err != nil {
							t.Error(err)
							return
						}
						n := inside.Add(1)
						for {
							m := maxInside.Load()
							if n <= m || maxInside.CompareAndSwap(m, n) {
								break
							}
						}
						entries.Add(1)
						time.Sleep(time.Millisecond)
						inside.Add(-1)
						if err := unlock(); err != nil {
							t.Error(err)
						}
					}
				}()
			}
			wg.Wait()
			require.EqualValues(t, 20, entries.Load())
			require.EqualValues(t, 1, maxInside.Load(), "two holders at once")

			// Different keys do not block each other.
			s := newStore(t, b, b.open(t), table)
			u1, err := s.Lock(ctx, "a")
			require.NoError(t, err)
			u2, err := s.Lock(ctx, "b")
			require.NoError(t, err)
			require.NoError(t, u2())
			require.NoError(t, u1())
			require.NoError(t, u1(), "a second unlock is harmless")
		})
	}
}

func TestLockWaitEndsWithContext(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			table := uniqueTable()
			holder := newStore(t, b, b.open(t), table)
			waiter := newStore(t, b, b.open(t), table)
			unlock, err := holder.Lock(context.Background(), "k")
			require.NoError(t, err)
			defer unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_, err = waiter.Lock(ctx, "k")
			require.Error(t, err, "the lock is held: the waiter must give up with its context")
		})
	}
}

func TestSQLiteCrashedHolderIsTakenOverAfterLease(t *testing.T) {
	b := backends(t)[0]
	require.Equal(t, sqlstore.SQLite, b.dialect)
	table := uniqueTable()
	clock := testclock.At(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	opts := sqlstore.Options{Lease: time.Minute, Clock: clock}

	crashed := newStore(t, b, b.open(t), table, opts)
	_, err := crashed.Lock(context.Background(), "k") // never unlocked: the holder "crashed"
	require.NoError(t, err)

	other := newStore(t, b, b.open(t), table, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err = other.Lock(ctx, "k")
	cancel()
	require.Error(t, err, "inside the lease the lock is still held")

	clock.Advance(61 * time.Second)
	unlock, err := other.Lock(context.Background(), "k")
	require.NoError(t, err, "after the lease the lock is taken over")
	require.NoError(t, unlock())
}

// crashChildEnv makes the test binary, re-executed, take a lock and hang
// until it is killed.
const crashChildEnv = "SQLSTORE_TEST_CRASH_CHILD_TABLE"

func TestPostgresLockEndsWithItsProcess(t *testing.T) {
	if table := os.Getenv(crashChildEnv); table != "" {
		db, err := sql.Open("pgx", os.Getenv(postgresEnv))
		require.NoError(t, err)
		s, err := sqlstore.New(db, sqlstore.Postgres, &sqlstore.Options{Table: table})
		require.NoError(t, err)
		_, err = s.Lock(context.Background(), "k")
		require.NoError(t, err)
		fmt.Println("locked")
		time.Sleep(time.Minute) // killed by the parent long before
		return
	}
	var b *backend
	for _, x := range backends(t) {
		if x.dialect == sqlstore.Postgres {
			b = &x
		}
	}
	if b == nil {
		t.Skip(postgresEnv + " not set")
	}
	table := uniqueTable()
	other := newStore(t, *b, b.open(t), table)

	cmd := exec.Command(os.Args[0], "-test.run=^TestPostgresLockEndsWithItsProcess$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+table)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "locked\n", line)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err = other.Lock(ctx, "k")
	cancel()
	require.Error(t, err, "the child holds the lock")

	// The instance crashes without unlocking.
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	unlock, err := other.Lock(ctx, "k")
	require.NoError(t, err, "a dead instance's lock must not block the others")
	require.NoError(t, unlock())
}

func TestNewRefusesBadInput(t *testing.T) {
	db, err := sql.Open("sqlite", "file::memory:")
	require.NoError(t, err)
	defer db.Close()
	_, err = sqlstore.New(nil, sqlstore.SQLite, nil)
	require.Error(t, err)
	_, err = sqlstore.New(db, sqlstore.Dialect(42), nil)
	require.Error(t, err)
	_, err = sqlstore.New(db, sqlstore.SQLite, &sqlstore.Options{Table: "tokens; DROP TABLE x"})
	require.ErrorContains(t, err, "plain identifier")
}

func TestCorruptRecordIsAClearError(t *testing.T) {
	b := backends(t)[0]
	db := b.open(t)
	table := uniqueTable()
	s := newStore(t, b, db, table)
	_, err := db.Exec(`INSERT INTO ` + table + ` (key, record, version, updated_at) VALUES ('k', '{"token": {"access_token": "secret-at', 1, 0)`)
	require.NoError(t, err)
	_, err = s.Load(context.Background(), "k")
	require.ErrorContains(t, err, `"k"`)
	require.ErrorIs(t, err, tokenstore.ErrCorrupt)
	require.NotContains(t, err.Error(), "secret-at")
}

func TestMigrateIsIdempotent(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s := newStore(t, b, b.open(t), uniqueTable())
			require.NoError(t, s.Migrate(context.Background()))
			require.NoError(t, s.Save(context.Background(), "k", record("a", "r")))
			require.NoError(t, s.Migrate(context.Background()))
			_, err := s.Load(context.Background(), "k")
			require.NoError(t, err, "a second Migrate keeps the data")
		})
	}
}

// TestPlainStoreRefusesEncryptedRecord: a Store read without the key of the
// encrypted store that wrote the record fails with ErrSealed instead of
// handing out the ciphertext, and does not overwrite the encrypted grant
// with a plain one unless it is deleted first.
func TestPlainStoreRefusesEncryptedRecord(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			plain := newStore(t, b, b.open(t), uniqueTable())
			enc, err := tokenstore.NewEncrypted(plain, bytes.Repeat([]byte{7}, 32))
			require.NoError(t, err)
			sealed := record("at-secret", "rt-secret")
			require.NoError(t, enc.Save(ctx, "k", sealed))

			_, err = plain.Load(ctx, "k")
			require.ErrorIs(t, err, tokenstore.ErrSealed)
			require.NotErrorIs(t, err, tokenstore.ErrCorrupt)
			var coded interface{ DiagnosisCode() string }
			require.ErrorAs(t, err, &coded)
			require.Equal(t, "store: encrypted without key", coded.DiagnosisCode())

			over := record("at-plain", "rt-plain")
			over.Version = sealed.Version
			require.ErrorIs(t, plain.Save(ctx, "k", over), tokenstore.ErrSealed)
			got, err := enc.Load(ctx, "k")
			require.NoError(t, err)
			require.Equal(t, "rt-secret", got.Token.RefreshToken, "the encrypted grant must survive")

			// The encrypted store saves over its own record; Delete is the
			// explicit way to replace it with a plain one.
			got.Token.RefreshToken = "rt-secret-2"
			require.NoError(t, enc.Save(ctx, "k", got))
			require.NoError(t, plain.Delete(ctx, "k"))
			over.Version = 0
			require.NoError(t, plain.Save(ctx, "k", over))
		})
	}
}
