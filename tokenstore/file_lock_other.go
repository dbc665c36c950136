//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd || windows)

package tokenstore

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// tryLockFile reports that this platform has no cross-process file lock
// that File supports, so File refuses to save rather than save unsafely.
func tryLockFile(*os.File) (bool, error) {
	return false, fmt.Errorf("tokenstore: file locking on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

func unlockFile(*os.File) error { return nil }

func syncDir(string) error { return nil }
