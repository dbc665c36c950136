package sqlstore_test

import (
	"testing"

	"github.com/mailoauth/mailoauth/tokenstore"
	"github.com/mailoauth/mailoauth/tokenstore/storetest"
)

// TestConformance runs the contract every tokenstore.Store keeps, on each
// database: records round-trip, one writer wins per version, the lock
// excludes, and the persisting refresher refreshes once.
func TestConformance(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			db := b.open(t)
			storetest.Run(t, func(t *testing.T) tokenstore.Store {
				return newStore(t, b, db, uniqueTable())
			})
		})
	}
}
