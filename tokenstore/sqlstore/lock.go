package sqlstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"
	"time"
)

// Lock polling bounds for SQLite, where waiting means trying again.
const (
	lockPollMin = 5 * time.Millisecond
	lockPollMax = 200 * time.Millisecond
)

// Lock blocks until this instance holds the lock on key across every process
// that shares the database, or ctx is done. The returned function releases
// it; calling it more than once is harmless.
//
// On PostgreSQL the lock is a session advisory lock on a 64-bit hash of the
// table and key, held on one connection taken from the pool for the
// duration: if the process dies, the connection ends and so does the lock. On
// SQLite it is a row with a lease: a holder that crashed is taken over once
// the lease has run out.
func (s *Store) Lock(ctx context.Context, key string) (func() error, error) {
	if s.dialect == Postgres {
		return s.lockPostgres(ctx, key)
	}
	return s.lockSQLite(ctx, key)
}

// advisoryKey hashes the table and key into PostgreSQL's 64-bit lock space.
func (s *Store) advisoryKey(key string) int64 {
	sum := sha256.Sum256([]byte(s.table + "\x00" + key))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

func (s *Store) lockPostgres(ctx context.Context, key string) (func() error, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: lock %q: %w", key, err)
	}
	id := s.advisoryKey(key)
	// pg_advisory_lock waits in the server; a cancelled ctx makes the driver
	// cancel the query, and closing the connection drops anything held.
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, id); err != nil {
		conn.Close()
		return nil, fmt.Errorf("sqlstore: lock %q: %w", key, err)
	}
	var once sync.Once
	var uerr error
	return func() error {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, uerr = conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, id)
			if cerr := conn.Close(); uerr == nil {
				uerr = cerr
			}
			if uerr != nil {
				uerr = fmt.Errorf("sqlstore: unlock %q: %w", key, uerr)
			}
		})
		return uerr
	}, nil
}

func (s *Store) lockSQLite(ctx context.Context, key string) (func() error, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("sqlstore: lock %q: %w", key, err)
	}
	holder := hex.EncodeToString(b[:])
	wait := lockPollMin
	for {
		now := s.now()
		res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO `+s.locks+` (key, holder, expires_at) VALUES ($1, $2, $3)
ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE `+s.locks+`.expires_at <= $4`), key, holder, now.Add(s.lease).UnixMilli(), now.UnixMilli())
		if err != nil {
			return nil, fmt.Errorf("sqlstore: lock %q: %w", key, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, fmt.Errorf("sqlstore: lock %q: %w", key, err)
		} else if n == 1 {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("sqlstore: lock %q: %w", key, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, lockPollMax)
	}
	var once sync.Once
	var uerr error
	return func() error {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// Only our own row: if the lease ran out and another holder
			// took over, its lock stays.
			_, uerr = s.db.ExecContext(ctx, s.q(`DELETE FROM `+s.locks+` WHERE key = $1 AND holder = $2`), key, holder)
			if uerr != nil {
				uerr = fmt.Errorf("sqlstore: unlock %q: %w", key, uerr)
			}
		})
		return uerr
	}, nil
}
