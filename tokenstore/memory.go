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
// Memory is not a Locker: it lives in one process, where the Refresher's own
// mutual exclusion and compare-and-swap suffice.
type Memory struct {
	mu      sync.Mutex         // guards records
	records map[string]*Record // by key; Version is the stored version
}

// NewMemory returns an empty in-memory Store.
func NewMemory() *Memory {
	return &Memory{records: make(map[string]*Record)}
}

// Load returns a copy of the record stored under key, or ErrNotFound.
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
	return cloneRecord(r), nil
}

// Save stores a copy of rec under key if the stored version is rec.Version,
// and sets rec.Version to the new version; it returns ErrConflict otherwise.
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
	if r, ok := m.records[key]; ok {
		stored = r.Version
	}
	if stored != rec.Version {
		return fmt.Errorf("tokenstore: save %s: %w", quoteKey(key), ErrConflict)
	}
	c := cloneRecord(rec)
	c.Version = stored + 1
	m.records[key] = c
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

// errNilRecord is returned by Save when given no record.
var errNilRecord = errors.New("tokenstore: save: nil record")
