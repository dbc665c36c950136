//go:build linux

package tokenstore

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const (
	readOnlyDirEnv = "TOKENSTORE_TEST_READONLY_DIR"
	fullDirEnv     = "TOKENSTORE_TEST_FULL_DIR"
	nobodyID       = 65534
	// fileSizeLimit is the RLIMIT_FSIZE of the "full disk" child: room for
	// lock files (empty) but not for the record it tries to write.
	fileSizeLimit = 1024
	childOK       = "child: save failed as expected"
)

// checkPreviousIntact checks that dir still holds rec "old" at version 1
// and no temporary file.
func checkPreviousIntact(t *testing.T, dir string) {
	t.Helper()
	got, err := mustNewFile(t, dir).Load(t.Context(), "k")
	if err != nil {
		t.Fatalf("Load after the failed save: %v", err)
	}
	if got.Account != "old@example.com" || got.Version != 1 || got.Token.RefreshToken != "refresh-old" {
		t.Fatalf("after the failed save the record is %q version %d", got.Account, got.Version)
	}
	if temps, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(temps) != 0 {
		t.Fatalf("the failed save left %d temporary files", len(temps))
	}
}

// failingSave is a child's part: a save of key "k" over version 1 that must
// fail with want.
func failingSave(t *testing.T, dir string, account string, want error) {
	f := mustNewFile(t, dir)
	next := testRecord("new")
	next.Account = account
	next.Version = 1
	err := f.Save(t.Context(), "k", next)
	if !errors.Is(err, want) {
		t.Fatalf("Save: %v, want %v", err, want)
	}
	t.Logf("%s: %v", childOK, err)
}

// TestFileSaveIntoReadOnlyFolder saves into a folder the process may not
// write. Permission bits do not bind root, and these tests may run as root:
// then the save runs in a child process started as user nobody (uid 65534)
// on a folder owned by nobody with mode 0500, which the kernel enforces.
func TestFileSaveIntoReadOnlyFolder(t *testing.T) {
	if dir := os.Getenv(readOnlyDirEnv); dir != "" {
		failingSave(t, dir, "new@example.com", fs.ErrPermission)
		return
	}
	if os.Geteuid() != 0 {
		dir := t.TempDir()
		f := mustNewFile(t, dir)
		if err := f.Save(t.Context(), "k", testRecord("old")); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		next := testRecord("new")
		next.Version = 1
		if err := f.Save(t.Context(), "k", next); !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("Save into a read-only folder: %v, want a permission error", err)
		}
		checkPreviousIntact(t, dir)
		return
	}

	// Root: a world-traversable base holding a copy of this binary that
	// nobody may run, and the store, handed to nobody and made read-only.
	base, err := os.MkdirTemp("", "tokenstore-readonly-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "tokenstore.test")
	copyFile(t, os.Args[0], bin, 0o755)
	dir := filepath.Join(base, "store")
	f := mustNewFile(t, dir)
	if err := f.Save(t.Context(), "k", testRecord("old")); err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err == nil {
			err = os.Chown(path, nobodyID, nobodyID)
		}
		if err != nil {
			t.Fatal(err)
		}
		return nil
	})
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}

	cmd := childCommand(t, "TestFileSaveIntoReadOnlyFolder", readOnlyDirEnv+"="+dir)
	cmd.Path, cmd.Args[0], cmd.Dir = bin, bin, base
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobodyID, Gid: nobodyID}}
	out, err := cmd.CombinedOutput()
	if errors.Is(err, syscall.EPERM) {
		t.Skipf("cannot start a process as nobody: %v", err)
	}
	if err != nil || !bytes.Contains(out, []byte(childOK)) {
		t.Fatalf("child as nobody: %v\n%s", err, out)
	}
	checkPreviousIntact(t, dir)
}

// TestFileSaveIntoFullFolder makes the disk refuse to grow the file, the way
// a full file system does: a child process lowers its RLIMIT_FSIZE below the
// record's size (which binds root too) and ignores SIGXFSZ, so its write
// fails with EFBIG part way, as it would with ENOSPC.
func TestFileSaveIntoFullFolder(t *testing.T) {
	if dir := os.Getenv(fullDirEnv); dir != "" {
		signal.Ignore(syscall.SIGXFSZ)
		lim := syscall.Rlimit{Cur: fileSizeLimit, Max: fileSizeLimit}
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
			t.Fatal(err)
		}
		failingSave(t, dir, strings.Repeat("x", 64*fileSizeLimit), syscall.EFBIG)
		return
	}
	dir := t.TempDir()
	if err := mustNewFile(t, dir).Save(t.Context(), "k", testRecord("old")); err != nil {
		t.Fatal(err)
	}
	out, err := childCommand(t, "TestFileSaveIntoFullFolder", fullDirEnv+"="+dir).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte(childOK)) {
		t.Fatalf("child with a file size limit: %v\n%s", err, out)
	}
	checkPreviousIntact(t, dir)
}

func copyFile(t *testing.T, from, to string, perm os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
