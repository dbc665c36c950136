package tokenstore_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/tokenstore"
)

func grant(tag string) *tokenstore.Record {
	return &tokenstore.Record{
		Token: &oauth2.Token{
			AccessToken:  "access-secret-" + tag,
			RefreshToken: "refresh-secret-" + tag,
			TokenType:    "Bearer",
			Expiry:       time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		},
		Account: tag + "@example.com",
	}
}

// recordFiles returns the record files (not lock files) in dir.
func recordFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFilePermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no Unix permission bits")
	}
	dir := filepath.Join(t.TempDir(), "nested", "tokens")
	f, err := tokenstore.NewFile(dir)
	if err != nil {
		t.Fatalf("NewFile on a missing folder: %v", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Fatalf("folder permissions %v, want 0700", perm)
	}
	ctx := t.Context()
	if err := f.Save(ctx, "k", grant("p")); err != nil {
		t.Fatal(err)
	}
	unlock, err := f.Lock(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 { // record, lock, save lock
		t.Fatalf("folder holds %d files, want 3", len(entries))
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Fatalf("%s has permissions %v, want 0600", e.Name(), perm)
		}
	}
}

func TestNewFileRejectsAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tokenstore.NewFile(path); err == nil {
		t.Fatal("NewFile on a regular file succeeded")
	}
	if _, err := tokenstore.NewFile(""); err == nil {
		t.Fatal("NewFile with an empty name succeeded")
	}
}

// TestFileKeysCannotEscapeTheFolder saves under keys that would be paths,
// and keys no file system would accept as names, and checks that each gets
// its own file inside the folder and nothing is written elsewhere.
func TestFileKeysCannotEscapeTheFolder(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b", "store")
	f, err := tokenstore.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{
		"../../etc/passwd", "../../../" + strings.Repeat("x", 10), "a/b", "/abs/path", `..\..\win`,
		"", ".", "..", "NUL", "con", "a\x00b", "a\x00c", "\xff\xfe not UTF-8", "\xff\xfd not UTF-8",
		strings.Repeat("k", 100_000), "ünïcødé/日本語/📬", "A", "a",
	}
	ctx := t.Context()
	for i, k := range keys {
		rec := grant(string(rune('a' + i)))
		if err := f.Save(ctx, k, rec); err != nil {
			t.Fatalf("Save(%.40q): %v", k, err)
		}
	}
	for i, k := range keys {
		rec, err := f.Load(ctx, k)
		if err != nil {
			t.Fatalf("Load(%.40q): %v", k, err)
		}
		if want := grant(string(rune('a' + i))).Account; rec.Account != want {
			t.Fatalf("key %.40q holds %q, want %q", k, rec.Account, want)
		}
	}
	if n := len(recordFiles(t, dir)); n != len(keys) {
		t.Fatalf("%d record files for %d keys", n, len(keys))
	}
	name := regexp.MustCompile(`^[a-z2-7]{52}\.(json|lock|save\.lock)$`)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch rel, _ := filepath.Rel(root, path); {
		case d.IsDir():
			if rel != "." && rel != "a" && rel != filepath.Join("a", "b") && rel != filepath.Join("a", "b", "store") {
				t.Errorf("unexpected folder %s", rel)
			}
		case filepath.Dir(path) != dir:
			t.Errorf("file written outside the store folder: %s", rel)
		case !name.MatchString(d.Name()):
			t.Errorf("unexpected file name %s", d.Name())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFileCorruptRecord damages the record file in several ways; each gives
// an error that names the key, wraps ErrCorrupt and leaks no token.
func TestFileCorruptRecord(t *testing.T) {
	const key = "mailbox@example.com"
	cases := []struct {
		name   string
		damage func(t *testing.T, path string, data []byte) []byte
		reason string
	}{
		{"truncated", func(_ *testing.T, _ string, d []byte) []byte { return d[:len(d)/2] }, "truncated"},
		{"empty", func(*testing.T, string, []byte) []byte { return nil }, "truncated"},
		{"garbage", func(*testing.T, string, []byte) []byte { return []byte("\x00\x01garbage access-secret-x") }, "syntax"},
		{"wrong type", func(*testing.T, string, []byte) []byte {
			return []byte(`{"format":1,"key":"mailbox@example.com","version":"3","record":{}}`)
		}, "wrong type"},
		{"unknown format", func(_ *testing.T, _ string, d []byte) []byte {
			return []byte(strings.Replace(string(d), `"format":1`, `"format":9`, 1))
		}, "format 9"},
		{"zero version", func(_ *testing.T, _ string, d []byte) []byte {
			return []byte(regexp.MustCompile(`"version":\d+`).ReplaceAllString(string(d), `"version":0`))
		}, "version 0"},
		{"another key's file", func(t *testing.T, _ string, _ []byte) []byte {
			other := newFile(t)
			if err := other.Save(t.Context(), "intruder", grant("x")); err != nil {
				t.Fatal(err)
			}
			d, err := os.ReadFile(recordFiles(t, other.Dir())[0])
			if err != nil {
				t.Fatal(err)
			}
			return d
		}, `another key "intruder"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFile(t)
			ctx := t.Context()
			if err := f.Save(ctx, key, grant("x")); err != nil {
				t.Fatal(err)
			}
			path := recordFiles(t, f.Dir())[0]
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, c.damage(t, path, data), 0o600); err != nil {
				t.Fatal(err)
			}

			_, err = f.Load(ctx, key)
			checkCorrupt(t, err, key, c.reason)

			// Save refuses to replace what it cannot read (its version is
			// unknown), and leaves the file alone.
			before, _ := os.ReadFile(path)
			checkCorrupt(t, f.Save(ctx, key, grant("y")), key, c.reason)
			after, _ := os.ReadFile(path)
			if string(before) != string(after) {
				t.Fatal("Save changed a corrupt record file")
			}

			// Delete clears it, and the key is usable again, at a version
			// that a writer holding the version saved before cannot name.
			if err := f.Delete(ctx, key); err != nil {
				t.Fatalf("Delete of a corrupt record: %v", err)
			}
			fresh := grant("z")
			if err := f.Save(ctx, key, fresh); err != nil {
				t.Fatalf("Save after deleting a corrupt record: %v", err)
			}
			stale := grant("stale")
			stale.Version = 1 // what the first save gave
			if err := f.Save(ctx, key, stale); !errors.Is(err, tokenstore.ErrConflict) || fresh.Version <= 1 {
				t.Fatalf("a writer holding version 1 over the grant saved after the Delete (version %d): %v, want ErrConflict", fresh.Version, err)
			}
		})
	}
}

func checkCorrupt(t *testing.T, err error, key, reason string) {
	t.Helper()
	if !errors.Is(err, tokenstore.ErrCorrupt) {
		t.Fatalf("error %v, want one wrapping ErrCorrupt", err)
	}
	var ce *tokenstore.CorruptError
	if !errors.As(err, &ce) || ce.Key != key {
		t.Fatalf("error %v: want a *CorruptError for key %q", err, key)
	}
	msg := err.Error()
	if !strings.Contains(msg, `"`+key+`"`) {
		t.Fatalf("error %q does not name the key", msg)
	}
	if !strings.Contains(msg, reason) {
		t.Fatalf("error %q does not say %q", msg, reason)
	}
	if strings.Contains(msg, "secret") {
		t.Fatalf("error %q shows part of a token", msg)
	}
}

// TestFileIgnoresLeftoverTempFiles plants what a crashed save leaves behind:
// Load ignores it and the next Save removes it.
func TestFileIgnoresLeftoverTempFiles(t *testing.T) {
	f := newFile(t)
	ctx := t.Context()
	rec := grant("old")
	if err := f.Save(ctx, "k", rec); err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSuffix(filepath.Base(recordFiles(t, f.Dir())[0]), ".json")
	leftover := filepath.Join(f.Dir(), base+".123456.tmp")
	if err := os.WriteFile(leftover, []byte(`{"format":1,"key":"k","vers`), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := f.Load(ctx, "k")
	if err != nil || got.Account != rec.Account {
		t.Fatalf("Load with a leftover temp file: %v, %+v", err, got)
	}
	next := grant("new")
	next.Version = got.Version
	if err := f.Save(ctx, "k", next); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("leftover temp file still there after a save (%v)", err)
	}
}

// TestFileLockHeldAcrossInstances checks that two File values on one folder,
// as in two processes, share the lock (flock is per open file, so this holds
// within one process too).
func TestFileLockHeldAcrossInstances(t *testing.T) {
	dir := t.TempDir()
	a, err := tokenstore.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tokenstore.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := a.Lock(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := b.Lock(ctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second File's Lock while the first holds it: %v, want DeadlineExceeded", err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	unlockB, err := b.Lock(t.Context(), "k")
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	unlockB()
}
