//go:build windows

package tokenstore

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// lockedRange is the byte range the lock covers: the first byte, whether or
// not the lock file has one.
const lockedRange = 1

// tryLockFile takes an exclusive LockFileEx lock on f without blocking and
// reports whether it got it. Locks belong to the handle, so two opens of the
// same lock file exclude each other even inside one process.
func tryLockFile(f *os.File) (bool, error) {
	ol := new(windows.Overlapped)
	err := windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, lockedRange, 0, ol)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, windows.ERROR_LOCK_VIOLATION):
		return false, nil
	default:
		return false, err
	}
}

// unlockFile releases the lock taken by tryLockFile.
func unlockFile(f *os.File) error {
	ol := new(windows.Overlapped)
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, lockedRange, 0, ol)
}

// syncDir does nothing: Windows cannot open a folder for flushing, and NTFS
// journals the rename itself.
func syncDir(string) error { return nil }
