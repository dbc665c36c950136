package tokenstore

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// File is a Store that keeps each record in its own JSON file in a folder, and
// a Locker whose locks hold across every process that shares the folder.
//
// A file's name is derived from a hash of its key, so any key string is safe
// (no path traversal, no two keys in one file); the key is also kept inside
// the file and checked on load. Records are written to a temporary file that
// is flushed and then renamed over the old one, so a crash leaves either the
// old record or the new one, never a torn file. Saves take an in-process
// mutex and a per-key lock file, so that two processes cannot both pass the
// version check.
//
// The folder holds, per key, the record (<hash>.json) and two lock files
// (<hash>.lock for Lock, <hash>.save.lock for Save and Delete); lock files
// stay after Delete, since removing a lock file that another process may be
// waiting on would break the lock. Delete replaces the record file with a
// tombstone that keeps only the key and its last version, so that a key's
// versions never repeat: a writer holding a version read before the Delete
// gets ErrConflict rather than overwrite the grant saved since.
type File struct {
	dir string

	saveLocks keyLocks // in-process half of the save lock
	userLocks keyLocks // in-process half of Lock

	// beforeRename, when set (by tests), runs after the temporary file is
	// written and flushed and before it replaces the record.
	beforeRename func(tmp string) error
}

// File names and formats.
const (
	fileFormat     = 1            // the "format" field of every record file
	recordSuffix   = ".json"      // the record
	lockSuffix     = ".lock"      // held by Lock
	saveLockSuffix = ".save.lock" // held during Save and Delete
	tempSuffix     = ".tmp"       // a record being written: <hash>.<random>.tmp
	dirPerm        = 0o700        // the folder, when NewFile creates it
	maxFileSize    = 16 << 20     // larger record files are refused as corrupt

	keyEncodingBase64 = "base64" // fileRecord.KeyEncoding of a non-UTF-8 key
)

// Lock polling: a lock held by another process is retried with a growing
// delay, so that waiting honours the context.
const (
	lockPollMin = time.Millisecond
	lockPollMax = 50 * time.Millisecond
)

// fileNames encodes key hashes without padding or upper case, so that names
// are the same on case-insensitive file systems.
var fileNames = base32.StdEncoding.WithPadding(base32.NoPadding)

// fileRecord is the content of a record file.
type fileRecord struct {
	Format int `json:"format"`
	// Key is the store key; base64 when KeyEncoding says so (a key that is
	// not UTF-8 would not survive JSON).
	Key         string `json:"key"`
	KeyEncoding string `json:"key_encoding,omitempty"`
	Version     int64  `json:"version"`
	// Deleted marks a tombstone: the key's record was deleted at Version,
	// and Record is empty.
	Deleted bool       `json:"deleted,omitempty"`
	Record  recordJSON `json:"record"`
}

// NewFile returns a File storing records in dir. It creates dir with
// permissions 0700 when missing; an existing folder keeps its permissions.
// Record files are created 0600.
func NewFile(dir string) (*File, error) {
	if dir == "" {
		return nil, errors.New("tokenstore: NewFile: empty folder name")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("tokenstore: NewFile: %w", err)
	}
	if err := os.MkdirAll(abs, dirPerm); err != nil {
		return nil, fmt.Errorf("tokenstore: NewFile: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("tokenstore: NewFile: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("tokenstore: NewFile: %s is not a folder", abs)
	}
	return &File{dir: abs}, nil
}

// Dir returns the folder holding the records.
func (f *File) Dir() string { return f.dir }

// baseName returns the hash-derived name shared by a key's files.
func baseName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return strings.ToLower(fileNames.EncodeToString(sum[:]))
}

// Load returns the record stored under key, ErrNotFound, or an error
// wrapping ErrCorrupt (a *CorruptError) when the file cannot be read back;
// a record an encrypted store sealed gives an error wrapping ErrSealed.
func (f *File) Load(ctx context.Context, key string) (*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fr, err := f.read(key)
	if err != nil {
		return nil, err
	}
	if fr == nil || fr.Deleted {
		return nil, fmt.Errorf("tokenstore: load %s: %w", quoteKey(key), ErrNotFound)
	}
	return checkUnsealed(key, fr.Record.record(fr.Version))
}

// read returns the parsed record file of key (a tombstone included), or nil
// when there is none. Its errors are complete (a *CorruptError, or an I/O
// error naming the key).
func (f *File) read(key string) (*fileRecord, error) {
	path := filepath.Join(f.dir, baseName(key)+recordSuffix)
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tokenstore: read record %s: %w", quoteKey(key), err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("tokenstore: read record %s: %w", quoteKey(key), err)
	}
	if len(data) > maxFileSize {
		return nil, &CorruptError{Key: key, Reason: fmt.Sprintf("file %s is larger than %d bytes", path, maxFileSize)}
	}
	var fr fileRecord
	if err := json.Unmarshal(data, &fr); err != nil {
		return nil, &CorruptError{Key: key, Reason: "file " + path + " is not a valid record", Err: jsonProblem(err)}
	}
	if fr.Format != fileFormat {
		return nil, &CorruptError{Key: key, Reason: fmt.Sprintf("file %s has unknown format %d", path, fr.Format)}
	}
	stored := fr.Key
	if fr.KeyEncoding == keyEncodingBase64 {
		b, err := base64.StdEncoding.DecodeString(fr.Key)
		if err != nil {
			return nil, &CorruptError{Key: key, Reason: "file " + path + " has an undecodable key"}
		}
		stored = string(b)
	} else if fr.KeyEncoding != "" {
		return nil, &CorruptError{Key: key, Reason: fmt.Sprintf("file %s has unknown key encoding %q", path, fr.KeyEncoding)}
	}
	if stored != key {
		return nil, &CorruptError{Key: key, Reason: "file " + path + " holds the record of another key " + quoteKey(stored)}
	}
	if fr.Version < 1 {
		return nil, &CorruptError{Key: key, Reason: fmt.Sprintf("file %s has invalid version %d", path, fr.Version)}
	}
	return &fr, nil
}

// jsonProblem keeps the position and kind of a JSON error but drops any
// quoted input, so that no part of a token reaches an error string.
func jsonProblem(err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		if strings.Contains(syn.Error(), "unexpected end") {
			return fmt.Errorf("JSON ends early at byte %d (truncated file)", syn.Offset)
		}
		return fmt.Errorf("JSON syntax error at byte %d", syn.Offset)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Errorf("JSON field %q has the wrong type (%s)", typ.Field, typ.Value)
	}
	return errors.New("invalid JSON")
}

// Save writes rec under key if the stored version is rec.Version, and sets
// rec.Version to the new version; it returns ErrConflict otherwise, and
// ErrSealed rather than replace an encrypted record with a plain one. A
// failed save leaves the previous record as it was.
func (f *File) Save(ctx context.Context, key string, rec *Record) error {
	if rec == nil {
		return errNilRecord
	}
	unlock, err := f.lockSave(ctx, key)
	if err != nil {
		return fmt.Errorf("tokenstore: save %s: %w", quoteKey(key), err)
	}
	defer unlock()

	cur, err := f.read(key)
	if err != nil {
		return err
	}
	var stored, last int64 // the version a writer must hold; the last one given
	if cur != nil {
		last = cur.Version
		if !cur.Deleted {
			stored = cur.Version
		}
	}
	if stored != rec.Version {
		return fmt.Errorf("tokenstore: save %s: %w", quoteKey(key), ErrConflict)
	}
	if cur != nil && !cur.Deleted {
		if err := checkOverwrite(key, cur.Record.record(cur.Version), rec); err != nil {
			return err
		}
	}
	fr := fileRecord{Format: fileFormat, Key: key, Version: last + 1, Record: toRecordJSON(rec)}
	if err := f.write(key, &fr); err != nil {
		return fmt.Errorf("tokenstore: save %s: %w", quoteKey(key), err)
	}
	rec.Version = fr.Version
	return nil
}

// write replaces key's record file with fr. The caller holds the save lock.
func (f *File) write(key string, fr *fileRecord) error {
	if !utf8.ValidString(key) {
		fr.Key, fr.KeyEncoding = base64.StdEncoding.EncodeToString([]byte(key)), keyEncodingBase64
	}
	data, err := json.Marshal(fr)
	if err != nil {
		return err
	}
	f.removeTemps(key)
	return f.replace(key, data)
}

// replace writes data to a temporary file, flushes it, renames it over the
// key's record file and flushes the folder.
func (f *File) replace(key string, data []byte) (err error) {
	base := baseName(key)
	tmp, err := os.CreateTemp(f.dir, base+".*"+tempSuffix) // created 0600
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if f.beforeRename != nil {
		if err := f.beforeRename(tmp.Name()); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp.Name(), filepath.Join(f.dir, base+recordSuffix)); err != nil {
		return err
	}
	// The record is in place; a failed flush of the folder only means the
	// rename might not survive a power cut, which the caller must hear.
	if err := syncDir(f.dir); err != nil {
		return fmt.Errorf("flush folder after rename: %w", err)
	}
	return nil
}

// removeTemps deletes temporary files a crashed save of key left behind. The
// caller holds the save lock, so no other save of key is writing one.
func (f *File) removeTemps(key string) {
	matches, _ := filepath.Glob(filepath.Join(f.dir, baseName(key)+".*"+tempSuffix))
	for _, m := range matches {
		os.Remove(m)
	}
}

// Delete removes the record stored under key, or returns ErrNotFound,
// leaving a tombstone with the key's last version (see File). It removes a
// corrupt record too, which is how an application recovers from one; since
// a corrupt record's version cannot be read, its tombstone takes a version
// above any that counting saves reaches (the time in nanoseconds).
func (f *File) Delete(ctx context.Context, key string) error {
	unlock, err := f.lockSave(ctx, key)
	if err != nil {
		return fmt.Errorf("tokenstore: delete %s: %w", quoteKey(key), err)
	}
	defer unlock()
	cur, err := f.read(key)
	var version int64
	switch {
	case errors.As(err, new(*CorruptError)):
		version = max(time.Now().UnixNano(), 1)
	case err != nil:
		return err
	case cur == nil || cur.Deleted:
		return fmt.Errorf("tokenstore: delete %s: %w", quoteKey(key), ErrNotFound)
	default:
		version = cur.Version
	}
	tomb := fileRecord{Format: fileFormat, Key: key, Version: version, Deleted: true}
	if err := f.write(key, &tomb); err != nil {
		return fmt.Errorf("tokenstore: delete %s: %w", quoteKey(key), err)
	}
	return nil
}

// Lock takes the lock on key, shared by every File on the same folder in any
// process, blocking until it is held or ctx is done. It is independent of
// the lock Save takes, so the holder may Save while holding it. Calling the
// returned function more than once does nothing.
func (f *File) Lock(ctx context.Context, key string) (unlock func() error, err error) {
	release, err := f.lockKey(ctx, &f.userLocks, key, lockSuffix)
	if err != nil {
		return nil, fmt.Errorf("tokenstore: lock %s: %w", quoteKey(key), err)
	}
	return release, nil
}

// lockSave takes the save lock of key.
func (f *File) lockSave(ctx context.Context, key string) (func() error, error) {
	return f.lockKey(ctx, &f.saveLocks, key, saveLockSuffix)
}

// lockKey takes the in-process lock of key in locks, then the cross-process
// lock on the key's lock file with the given suffix.
func (f *File) lockKey(ctx context.Context, locks *keyLocks, key, suffix string) (func() error, error) {
	release, err := locks.lock(ctx, key)
	if err != nil {
		return nil, err
	}
	fh, err := lockPath(ctx, filepath.Join(f.dir, baseName(key)+suffix))
	if err != nil {
		release()
		return nil, err
	}
	var done atomic.Bool
	return func() error {
		if !done.CompareAndSwap(false, true) {
			return nil
		}
		err := unlockFile(fh)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		release()
		return err
	}, nil
}

// lockPath opens (creating it 0600) the lock file at path and takes an
// exclusive lock on it, polling while another process holds it.
func lockPath(ctx context.Context, path string) (*os.File, error) {
	fh, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	delay := lockPollMin
	for {
		ok, err := tryLockFile(fh)
		if ok {
			return fh, nil
		}
		if err != nil {
			fh.Close()
			return nil, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			fh.Close()
			return nil, ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, lockPollMax)
	}
}
