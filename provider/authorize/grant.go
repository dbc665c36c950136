package authorize

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/tokenstore"
)

// saveConflictRetries bounds how often SaveGrant reloads after another
// writer saved the same key between its load and its save.
const saveConflictRetries = 3

// SaveGrant stores tok as the record under key with compare-and-swap: it
// loads the current record to learn its version (none stored: version 0)
// and saves over it, reloading and trying again when another writer saved in
// between. A new authorization replaces whatever grant was stored, so the
// last writer wins on purpose. It returns the record as saved.
func SaveGrant(ctx context.Context, store tokenstore.Store, key, account string, scopes []string, tok *oauth2.Token, now time.Time) (*tokenstore.Record, error) {
	if store == nil {
		return nil, fmt.Errorf("authorize: no token store to save the grant in")
	}
	if key == "" {
		return nil, fmt.Errorf("authorize: empty token store key")
	}
	var err error
	for range saveConflictRetries {
		var version int64
		cur, lerr := store.Load(ctx, key)
		switch {
		case lerr == nil:
			version = cur.Version
		case errors.Is(lerr, tokenstore.ErrNotFound):
		default:
			return nil, fmt.Errorf("authorize: load grant %q before saving: %w", key, lerr)
		}
		rec := &tokenstore.Record{
			Token:     tok,
			Account:   account,
			Scopes:    append([]string(nil), scopes...),
			UpdatedAt: now,
			Version:   version,
		}
		err = store.Save(ctx, key, rec)
		if err == nil {
			return rec, nil
		}
		if !errors.Is(err, tokenstore.ErrConflict) {
			break
		}
	}
	return nil, fmt.Errorf("authorize: save grant %q: %w", key, err)
}
