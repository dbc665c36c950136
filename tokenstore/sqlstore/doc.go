// Package sqlstore keeps OAuth2 grants in a SQL database through
// database/sql, so that several instances of a program share one mailbox's
// grant: PostgreSQL for a fleet, SQLite for one host.
//
// The package imports no driver: the caller opens the *sql.DB with the
// driver of its choice (for example github.com/jackc/pgx/v5/stdlib or
// modernc.org/sqlite) and passes it in.
//
//	db, _ := sql.Open("pgx", dsn)
//	store, _ := sqlstore.New(db, sqlstore.Postgres, nil)
//	if err := store.Migrate(ctx); err != nil { ... }
//
// A Store is a tokenstore.Store with compare-and-swap on a version column
// and a tokenstore.Locker: on PostgreSQL an advisory lock held on one
// connection (a crashed instance's lock ends with its connection); on SQLite
// a lock row with a lease (a crashed holder is taken over when the lease
// ends).
package sqlstore
