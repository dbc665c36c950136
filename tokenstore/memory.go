package tokenstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Memory is a Store that keeps records in memory, for tests and for programs
// that need no persistence. It copies records on the way in and out, so a
// caller never changes a stored record by changing its own copy.
//
// Memory is a Locker within its process, so that Refreshers sharing it
// refresh a grant once. A key's versions never repeat, even after Delete:
// Memory remembers the last version of every key it has held.
type Memory struct {
	locks keyLocks // Lock's mutexes

	mu      sync.Mutex         // guards records and last
	records map[string]*Record // by key; Version is the stored version
	last    map[string]int64   // the last version each key had, deleted ones included
}

// NewMemory returns an empty in-memory Store.
func NewMemory() *Memory {
	return &Memory{records: make(map[string]*Record), last: make(map[string]int64)}
}

// Load returns a copy of the record stored under key, or ErrNotFound; a
// record an encrypted store sealed gives an error wrapping ErrSealed.
func (m *Memory) Load(ctx context.Context, key string) (*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.records[key]
	if !ok {
		return nil, fmt.Errorf("tokenstore: load %s: %w", quoteKey(key), ErrNotFound)
	}
	return checkUnsealed(key, cloneRecord(r))
}

// Save stores a copy of rec under key if the stored version is rec.Version
// (0: nothing stored), and sets rec.Version to the new version; it returns
// ErrConflict otherwise, and ErrSealed rather than replace an encrypted
// record with a plain one.
func (m *Memory) Save(ctx context.Context, key string, rec *Record) error {
	if rec == nil {
		return errNilRecord
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var stored int64
	cur, ok := m.records[key]
	if ok {
		stored = cur.Version
	}
	if stored != rec.Version {
		return fmt.Errorf("tokenstore: save %s: %w", quoteKey(key), ErrConflict)
	}
	if err := checkOverwrite(key, cur, rec); err != nil {
		return err
	}
	c := cloneRecord(rec)
	c.Version = m.last[key] + 1
	m.records[key] = c
	m.last[key] = c.Version
	rec.Version = c.Version
	return nil
}

// Delete removes the record stored under key, or returns ErrNotFound.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.records[key]; !ok {
		return fmt.Errorf("tokenstore: delete %s: %w", quoteKey(key), ErrNotFound)
	}
	delete(m.records, key)
	return nil
}

// Lock takes the in-process lock on key, blocking until it is held or ctx
// is done. It is independent of Save, so the holder may Save while holding
// it. Calling the returned function more than once does nothing.
func (m *Memory) Lock(ctx context.Context, key string) (unlock func() error, err error) {
	release, err := m.locks.lock(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("tokenstore: lock %s: %w", quoteKey(key), err)
	}
	var once sync.Once
	return func() error { once.Do(release); return nil }, nil
}

// errNilRecord is returned by Save when given no record.
var errNilRecord = errors.New("tokenstore: save: nil record")
