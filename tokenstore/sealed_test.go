package tokenstore_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/mailoauth/mailoauth/tokenstore"
)

// diagnosisCode is what provider.Diagnose reads from a store's error.
type diagnosisCode interface{ DiagnosisCode() string }

// codeOf returns the DiagnosisCode of err's chain, or "".
func codeOf(err error) string {
	var d diagnosisCode
	if errors.As(err, &d) {
		return d.DiagnosisCode()
	}
	return ""
}

// mapStore is a third-party Store that knows nothing of encryption: it
// hands back whatever was saved.
type mapStore struct {
	mu   sync.Mutex
	recs map[string]tokenstore.Record
}

func newMapStore() *mapStore { return &mapStore{recs: map[string]tokenstore.Record{}} }

func (m *mapStore) Load(_ context.Context, key string) (*tokenstore.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[key]
	if !ok {
		return nil, tokenstore.ErrNotFound
	}
	return copyRecord(r), nil
}

// copyRecord copies r and its token.
func copyRecord(r tokenstore.Record) *tokenstore.Record {
	if r.Token != nil {
		tok := *r.Token
		r.Token = &tok
	}
	return &r
}

func (m *mapStore) Save(_ context.Context, key string, rec *tokenstore.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs[key].Version != rec.Version {
		return tokenstore.ErrConflict
	}
	rec.Version++
	m.recs[key] = *copyRecord(*rec)
	return nil
}

func (m *mapStore) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.recs, key)
	return nil
}

// sealedIn saves grant("x") under "k" through an encrypted store over inner
// and returns the version stored.
func sealedIn(t *testing.T, inner tokenstore.Store) int64 {
	t.Helper()
	rec := grant("x")
	if err := mustEncrypt(t, inner).Save(t.Context(), "k", rec); err != nil {
		t.Fatal(err)
	}
	return rec.Version
}

// TestPlainStoreRefusesEncryptedRecord: a store read without the key of the
// encrypted store that wrote the record fails with ErrSealed (never hands
// out the ciphertext as a token), and does not overwrite the encrypted
// grant with a plain one unless it is deleted first.
func TestPlainStoreRefusesEncryptedRecord(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) (writer, reader tokenstore.Store){
		"Memory": func(*testing.T) (tokenstore.Store, tokenstore.Store) { m := tokenstore.NewMemory(); return m, m },
		// Another File on the same folder, as another program would open it.
		"File": func(t *testing.T) (tokenstore.Store, tokenstore.Store) {
			f := newFile(t)
			g, err := tokenstore.NewFile(f.Dir())
			if err != nil {
				t.Fatal(err)
			}
			return f, g
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			writer, reader := open(t)
			version := sealedIn(t, writer)
			rec, err := reader.Load(ctx, "k")
			if !errors.Is(err, tokenstore.ErrSealed) || rec != nil {
				t.Fatalf("plain Load of an encrypted record: %+v, %v; want ErrSealed", rec, err)
			}
			if code := codeOf(err); code != "store: encrypted without key" {
				t.Fatalf("DiagnosisCode %q", code)
			}
			if errors.Is(err, tokenstore.ErrCorrupt) {
				t.Fatal("an encrypted record is reported corrupt: an application would delete it")
			}
			if strings.Contains(err.Error(), "mo1.") || !strings.Contains(err.Error(), `"k"`) {
				t.Fatalf("error %q shows the envelope or does not name the key", err)
			}

			plain := grant("plain")
			plain.Version = version
			if err := reader.Save(ctx, "k", plain); !errors.Is(err, tokenstore.ErrSealed) {
				t.Fatalf("plain Save over an encrypted record: %v, want ErrSealed", err)
			}
			if _, err := mustEncrypt(t, writer).Load(ctx, "k"); err != nil {
				t.Fatalf("the encrypted grant no longer opens: %v", err)
			}

			// Deleting it first is the explicit way to replace it.
			if err := reader.Delete(ctx, "k"); err != nil {
				t.Fatalf("Delete of an encrypted record: %v", err)
			}
			plain.Version = 0
			if err := reader.Save(ctx, "k", plain); err != nil {
				t.Fatalf("Save after Delete: %v", err)
			}
		})
	}
}

// TestRefresherRefusesEncryptedRecord: a store that knows nothing of
// encryption hands the envelope back as it is; the Refresher does not
// take its ciphertext for a token.
func TestRefresherRefusesEncryptedRecord(t *testing.T) {
	inner := newMapStore()
	sealedIn(t, inner)
	p := &idp{}
	tok, err := tokenstore.NewRefresher(inner, "k", p.refresh, nil).Refresh(t.Context(), nil)
	if !errors.Is(err, tokenstore.ErrSealed) || tok != nil {
		t.Fatalf("Refresh over an encrypted record read without its key: %v, %v; want ErrSealed", tok, err)
	}
	if p.calls.Load() != 0 {
		t.Fatal("the refresh function was called with the envelope")
	}
	// The encrypted store over it opens the record as before.
	if rec, err := mustEncrypt(t, inner).Load(t.Context(), "k"); err != nil || rec.Account != "x@example.com" {
		t.Fatalf("encrypted Load over a third-party store: %+v, %v", rec, err)
	}
}

// TestStoreErrorsNameTheirDiagnosis: the typed store errors carry the code
// provider.Diagnose explains.
func TestStoreErrorsNameTheirDiagnosis(t *testing.T) {
	ctx := t.Context()
	inner := tokenstore.NewMemory()
	sealedIn(t, inner)
	other, err := tokenstore.NewEncrypted(inner, testSecret(9))
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.Load(ctx, "k")
	if !errors.Is(err, tokenstore.ErrWrongKey) || codeOf(err) != "store: wrong key" {
		t.Fatalf("Load with the wrong key: %v (code %q), want ErrWrongKey and \"store: wrong key\"", err, codeOf(err))
	}
	unknownID, err := tokenstore.NewEncryptedKeys(inner, tokenstore.Key{ID: "other", Secret: testSecret(7)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unknownID.Load(ctx, "k"); !errors.Is(err, tokenstore.ErrWrongKey) || codeOf(err) != "store: wrong key" {
		t.Fatalf("Load with an unknown key id: %v (code %q)", err, codeOf(err))
	}

	f := newFile(t)
	if err := f.Save(ctx, "k", grant("x")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(recordFiles(t, f.Dir())[0], []byte(`{"format":1,`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = f.Load(ctx, "k")
	if !errors.Is(err, tokenstore.ErrCorrupt) || codeOf(err) != "store: unreadable" {
		t.Fatalf("Load of a truncated file: %v (code %q)", err, codeOf(err))
	}
	// A plain record where an encrypted one is expected cannot be opened.
	if err := f.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(ctx, "k", grant("x")); err != nil {
		t.Fatal(err)
	}
	_, err = mustEncrypt(t, f).Load(ctx, "k")
	if !errors.Is(err, tokenstore.ErrCorrupt) || codeOf(err) != "store: unreadable" {
		t.Fatalf("encrypted Load of a plain record: %v (code %q)", err, codeOf(err))
	}
}
