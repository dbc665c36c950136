package tokenstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/tokenstore"
)

func mustEncrypted(t *testing.T, s tokenstore.Store, current tokenstore.Key, old ...tokenstore.Key) tokenstore.Store {
	t.Helper()
	e, err := tokenstore.NewEncryptedKeys(s, current, old...)
	if err != nil {
		t.Fatalf("NewEncryptedKeys: %v", err)
	}
	return e
}

// noSecrets fails if err's message shows a token of grant(tag).
func noSecrets(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "secret") {
		t.Fatalf("error %q shows a token", err)
	}
}

func TestEncryptedHidesTheRecord(t *testing.T) {
	f := newFile(t)
	e := mustEncrypted(t, f, tokenstore.Key{ID: "k1", Secret: testSecret(1)})
	ctx := t.Context()
	if err := e.Save(ctx, "k", grant("x")); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(recordFiles(t, f.Dir())[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, plain := range []string{"access-secret-x", "refresh-secret-x", "x@example.com"} {
		if strings.Contains(string(data), plain) {
			t.Fatalf("the file shows %q", plain)
		}
	}

	// A random nonce: saving the same record twice stores different bytes.
	sealed := func() string {
		t.Helper()
		data, err := os.ReadFile(recordFiles(t, f.Dir())[0])
		if err != nil {
			t.Fatal(err)
		}
		var fr struct {
			Record struct {
				Token struct {
					AccessToken string `json:"access_token"`
				} `json:"token"`
			} `json:"record"`
		}
		if err := json.Unmarshal(data, &fr); err != nil {
			t.Fatal(err)
		}
		return fr.Record.Token.AccessToken
	}
	first := sealed()
	rec := grant("x")
	rec.Version = 1
	if err := e.Save(ctx, "k", rec); err != nil {
		t.Fatal(err)
	}
	if first == "" || sealed() == first {
		t.Fatal("two seals of one record are identical")
	}
}

// TestEncryptedRecordMovedToAnotherKey copies a sealed record, as stored,
// from one key to another: it must not open there.
func TestEncryptedRecordMovedToAnotherKey(t *testing.T) {
	inner := newMapStore() // hands out the envelope, so it can be copied
	e := mustEncrypted(t, inner, tokenstore.Key{ID: "k1", Secret: testSecret(1)})
	ctx := t.Context()
	if err := e.Save(ctx, "alice", grant("alice")); err != nil {
		t.Fatal(err)
	}
	sealed, err := inner.Load(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	sealed.Version = 0
	if err := inner.Save(ctx, "mallory", sealed); err != nil {
		t.Fatal(err)
	}
	_, err = e.Load(ctx, "mallory")
	if !errors.Is(err, tokenstore.ErrWrongKey) {
		t.Fatalf("Load of a record moved from another key: %v, want ErrWrongKey", err)
	}
	if !strings.Contains(err.Error(), `"mallory"`) {
		t.Fatalf("error %q does not name the key", err)
	}
	noSecrets(t, err)
	if got, err := e.Load(ctx, "alice"); err != nil || got.Account != "alice@example.com" {
		t.Fatalf("the original still opens: %v, %+v", err, got)
	}
}

func TestEncryptedWrongKey(t *testing.T) {
	inner := tokenstore.NewMemory()
	ctx := t.Context()
	sealer := mustEncrypted(t, inner, tokenstore.Key{ID: "k1", Secret: testSecret(1)})
	if err := sealer.Save(ctx, "k", grant("x")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		key  tokenstore.Key
		says string
	}{
		{"same id, other secret", tokenstore.Key{ID: "k1", Secret: testSecret(2)}, `does not open with key id "k1"`},
		{"unknown id", tokenstore.Key{ID: "k2", Secret: testSecret(1)}, `sealed with key id "k1", which is not configured`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := mustEncrypted(t, inner, c.key).Load(ctx, "k")
			if !errors.Is(err, tokenstore.ErrWrongKey) {
				t.Fatalf("Load: %v, want ErrWrongKey", err)
			}
			if !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), `"k"`) {
				t.Fatalf("error %q does not say %q for key \"k\"", err, c.says)
			}
			noSecrets(t, err)
		})
	}
}

func TestEncryptedKeyRotation(t *testing.T) {
	inner := tokenstore.NewMemory()
	ctx := t.Context()
	old, err := tokenstore.NewEncrypted(inner, testSecret(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Save(ctx, "k", grant("before")); err != nil {
		t.Fatal(err)
	}

	rotated := mustEncrypted(t, inner,
		tokenstore.Key{ID: "2026", Secret: testSecret(2)},
		tokenstore.Key{ID: tokenstore.DefaultKeyID, Secret: testSecret(1)})
	rec, err := rotated.Load(ctx, "k")
	if err != nil {
		t.Fatalf("the old key no longer decrypts after rotation: %v", err)
	}
	if rec.Token.RefreshToken != "refresh-secret-before" {
		t.Fatal("the record read with the old key differs")
	}

	// Saving re-seals with the current key: the old key alone cannot read
	// it, the new one alone can.
	next := grant("after")
	next.Version = rec.Version
	if err := rotated.Save(ctx, "k", next); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Load(ctx, "k"); !errors.Is(err, tokenstore.ErrWrongKey) {
		t.Fatalf("the retired key still opens a re-sealed record: %v", err)
	}
	newOnly := mustEncrypted(t, inner, tokenstore.Key{ID: "2026", Secret: testSecret(2)})
	if got, err := newOnly.Load(ctx, "k"); err != nil || got.Token.RefreshToken != "refresh-secret-after" {
		t.Fatalf("the new key alone: %v, %+v", err, got)
	}
}

func TestEncryptedMalformedEnvelope(t *testing.T) {
	inner := newMapStore() // raw storage, where the envelope can be altered
	ctx := t.Context()
	e := mustEncrypted(t, inner, tokenstore.Key{ID: "k1", Secret: testSecret(1)})

	// A record saved without encryption.
	if err := inner.Save(ctx, "plain", grant("plain")); err != nil {
		t.Fatal(err)
	}
	_, err := e.Load(ctx, "plain")
	if !errors.Is(err, tokenstore.ErrCorrupt) || !strings.Contains(err.Error(), "not encrypted") {
		t.Fatalf("Load of a plaintext record: %v, want ErrCorrupt saying it is not encrypted", err)
	}
	noSecrets(t, err)

	// A sealed record with one character of its ciphertext changed.
	if err := e.Save(ctx, "k", grant("x")); err != nil {
		t.Fatal(err)
	}
	sealed, _ := inner.Load(ctx, "k")
	env := []byte(sealed.Token.AccessToken)
	i := len(env) - 5
	if env[i] == 'A' {
		env[i] = 'B'
	} else {
		env[i] = 'A'
	}
	sealed.Token.AccessToken = string(env)
	if err := inner.Save(ctx, "k", sealed); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Load(ctx, "k"); !errors.Is(err, tokenstore.ErrWrongKey) {
		t.Fatalf("Load of an altered record: %v, want ErrWrongKey", err)
	}

	sealed.Token.AccessToken = "mo1.k1"
	if err := inner.Save(ctx, "k", sealed); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Load(ctx, "k"); !errors.Is(err, tokenstore.ErrCorrupt) {
		t.Fatalf("Load of a cut envelope: %v, want ErrCorrupt", err)
	}
}

func TestNewEncryptedRejectsBadKeys(t *testing.T) {
	m := tokenstore.NewMemory()
	good := tokenstore.Key{ID: "k1", Secret: testSecret(1)}
	cases := []struct {
		name    string
		current tokenstore.Key
		old     []tokenstore.Key
	}{
		{"short secret", tokenstore.Key{ID: "k1", Secret: testSecret(1)[:16]}, nil},
		{"no secret", tokenstore.Key{ID: "k1"}, nil},
		{"empty id", tokenstore.Key{Secret: testSecret(1)}, nil},
		{"id with a dot", tokenstore.Key{ID: "a.b", Secret: testSecret(1)}, nil},
		{"id too long", tokenstore.Key{ID: strings.Repeat("a", 65), Secret: testSecret(1)}, nil},
		{"duplicate id", good, []tokenstore.Key{{ID: "k1", Secret: testSecret(2)}}},
		{"bad old key", good, []tokenstore.Key{{ID: "k2", Secret: []byte("short")}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := tokenstore.NewEncryptedKeys(m, c.current, c.old...)
			if err == nil || s != nil {
				t.Fatalf("NewEncryptedKeys accepted it")
			}
			if strings.Contains(err.Error(), string(testSecret(1))) {
				t.Fatalf("error %q shows the secret", err)
			}
		})
	}
	if _, err := tokenstore.NewEncrypted(nil, testSecret(1)); err == nil {
		t.Fatal("NewEncrypted accepted a nil store")
	}
}

// TestEncryptedPassesLockerThrough: the encrypted store is a Locker exactly
// when its inner store is, and its lock is the inner store's.
func TestEncryptedPassesLockerThrough(t *testing.T) {
	plain, err := tokenstore.NewEncrypted(notLocker{tokenstore.NewMemory()}, testSecret(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := plain.(tokenstore.Locker); ok {
		t.Fatal("an encrypted store over a store that is not a Locker claims to be one")
	}
	for name, inner := range map[string]interface {
		tokenstore.Store
		tokenstore.Locker
	}{"File": newFile(t), "Memory": tokenstore.NewMemory()} {
		t.Run(name, func(t *testing.T) {
			enc, err := tokenstore.NewEncrypted(inner, testSecret(1))
			if err != nil {
				t.Fatal(err)
			}
			l, ok := enc.(tokenstore.Locker)
			if !ok {
				t.Fatalf("an encrypted %s is not a Locker", name)
			}
			unlock, err := l.Lock(t.Context(), "k")
			if err != nil {
				t.Fatal(err)
			}
			defer unlock()
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
			defer cancel()
			if _, err := inner.Lock(ctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("the encrypted store's lock is not the %s's: %v", name, err)
			}
		})
	}
}
