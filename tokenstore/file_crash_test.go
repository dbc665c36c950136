package tokenstore

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const (
	crashDirEnv   = "TOKENSTORE_TEST_CRASH_DIR"
	crashExitCode = 3
)

// TestFileCrashBetweenWriteAndRename kills a process (os.Exit, no deferred
// cleanup) in the middle of a save, after the new record is written and
// flushed to its temporary file and before the rename. The previous record
// stays readable, the leftover is ignored, and the next save removes it.
func TestFileCrashBetweenWriteAndRename(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashingSave(t, dir)
		return
	}
	dir := t.TempDir()
	f := mustNewFile(t, dir)
	ctx := t.Context()
	if err := f.Save(ctx, "k", testRecord("old")); err != nil {
		t.Fatal(err)
	}

	out, err := childCommand(t, "TestFileCrashBetweenWriteAndRename", crashDirEnv+"="+dir).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != crashExitCode {
		t.Fatalf("child did not crash at the rename (%v):\n%s", err, out)
	}
	temps, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	if len(temps) != 1 {
		t.Fatalf("%d temporary files after the crash, want 1", len(temps))
	}
	if data, _ := os.ReadFile(temps[0]); !strings.Contains(string(data), "new@example.com") {
		t.Fatal("the crashed save had not written its record")
	}

	got, err := f.Load(ctx, "k")
	if err != nil {
		t.Fatalf("Load after the crash: %v", err)
	}
	if got.Account != "old@example.com" || got.Version != 1 {
		t.Fatalf("after the crash the record is %q version %d, want the previous one", got.Account, got.Version)
	}

	next := testRecord("after")
	next.Version = got.Version
	if err := f.Save(ctx, "k", next); err != nil {
		t.Fatalf("Save after the crash: %v", err)
	}
	if temps, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(temps) != 0 {
		t.Fatalf("the save after the crash left %d temporary files", len(temps))
	}
}

// crashingSave is the child's part: save, and die just before the rename.
func crashingSave(t *testing.T, dir string) {
	f := mustNewFile(t, dir)
	f.beforeRename = func(string) error {
		os.Exit(crashExitCode)
		return nil
	}
	rec, err := f.Load(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	next := testRecord("new")
	next.Version = rec.Version
	t.Fatalf("Save returned instead of crashing: %v", f.Save(t.Context(), "k", next))
}

// TestFileFailedRenameKeepsPreviousRecord makes the step before the rename
// fail in-process: Save returns the error, removes its temporary file, keeps
// rec.Version, and the previous record is untouched.
func TestFileFailedRenameKeepsPreviousRecord(t *testing.T) {
	dir := t.TempDir()
	f := mustNewFile(t, dir)
	ctx := t.Context()
	if err := f.Save(ctx, "k", testRecord("old")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("injected failure before rename")
	f.beforeRename = func(string) error { return boom }
	next := testRecord("new")
	next.Version = 1
	if err := f.Save(ctx, "k", next); !errors.Is(err, boom) {
		t.Fatalf("Save: %v, want the injected failure", err)
	}
	if next.Version != 1 {
		t.Fatalf("failed Save changed rec.Version to %d", next.Version)
	}
	if temps, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(temps) != 0 {
		t.Fatalf("failed Save left %d temporary files", len(temps))
	}
	got, err := f.Load(ctx, "k")
	if err != nil || got.Account != "old@example.com" || got.Version != 1 {
		t.Fatalf("after a failed save: %v, %+v", err, got)
	}
}
