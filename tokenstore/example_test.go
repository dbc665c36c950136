package tokenstore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/tokenstore"
)

func ExampleNewFile() {
	dir, err := os.MkdirTemp("", "tokens")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	store, err := tokenstore.NewFile(dir) // created 0700; records are 0600
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// An authorization flow saves the grant once (version 0: new record).
	rec := &tokenstore.Record{
		Token:   &oauth2.Token{RefreshToken: "from-the-authorization-flow"},
		Account: "alice@example.com",
	}
	if err := store.Save(ctx, "alice", rec); err != nil {
		log.Fatal(err)
	}

	// The Refresher renews it, saving each rotated refresh token before it
	// hands out the access token that came with it. An auth.Source over it
	// (auth.NewSource(tokens, nil)) caches the token for the transports.
	refresh := func(ctx context.Context, rec *tokenstore.Record) (*oauth2.Token, error) {
		// A real program calls the token endpoint with rec.Token.RefreshToken,
		// for example through oauth2.Config.TokenSource.
		return &oauth2.Token{AccessToken: "new-access", RefreshToken: "rotated", Expiry: time.Now().Add(time.Hour)}, nil
	}
	tokens := tokenstore.NewRefresher(store, "alice", refresh, nil)
	tok, err := tokens.Refresh(ctx, nil) // nil: no token is known to be stale
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("access token:", tok.AccessToken)

	saved, err := store.Load(ctx, "alice")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored:", saved.Account, "version", saved.Version, "refresh token rotated:", saved.Token.RefreshToken == "rotated")

	// A writer that still holds version 1 cannot overwrite version 2.
	stale := &tokenstore.Record{Token: &oauth2.Token{RefreshToken: "old"}, Version: 1}
	fmt.Println("stale save:", store.Save(ctx, "alice", stale))
	// Output:
	// access token: new-access
	// stored: alice@example.com version 2 refresh token rotated: true
	// stale save: tokenstore: save "alice": tokenstore: record changed since it was read
}

func ExampleNewEncryptedKeys() {
	oldSecret := make([]byte, 32) // in a real program: from a secret manager
	newSecret := make([]byte, 32)
	newSecret[0] = 1
	ctx := context.Background()
	inner := tokenstore.NewMemory()

	before, err := tokenstore.NewEncrypted(inner, oldSecret)
	if err != nil {
		log.Fatal(err)
	}
	if err := before.Save(ctx, "alice", &tokenstore.Record{Account: "alice@example.com"}); err != nil {
		log.Fatal(err)
	}

	// Rotation: seal with the new key, still open records sealed with the old.
	after, err := tokenstore.NewEncryptedKeys(inner,
		tokenstore.Key{ID: "2026-01", Secret: newSecret},
		tokenstore.Key{ID: tokenstore.DefaultKeyID, Secret: oldSecret})
	if err != nil {
		log.Fatal(err)
	}
	rec, err := after.Load(ctx, "alice")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rec.Account)
	// Output: alice@example.com
}
