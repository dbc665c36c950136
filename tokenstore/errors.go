package tokenstore

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrCorrupt is wrapped by the error a store returns when a stored record
// cannot be read back: a truncated or altered file, a malformed envelope, or
// a plain record where an encrypted store expects an envelope (an envelope
// that does not decrypt is ErrWrongKey). The error names the key, never the
// record's contents.
var ErrCorrupt = errors.New("tokenstore: stored record is unreadable")

// ErrSealed is wrapped by the error a store returns when it is read (or
// written) without the key of the encrypted store that sealed the record:
// the record is not corrupt, it needs the store key. A plain store never
// hands the ciphertext out as a token and never overwrites an encrypted
// grant with a plain one; to replace such a grant without its key, Delete
// it first.
var ErrSealed = errors.New("tokenstore: the stored record is encrypted; open the store with its key")

// ErrWrongKey is wrapped by the error Load returns when a record does not
// open with the configured keys: it was sealed with another key, under
// another store key, or altered.
var ErrWrongKey = errors.New("tokenstore: record does not decrypt with the configured keys")

// Diagnosis codes of the store errors, returned by their DiagnosisCode
// method (read by provider.Diagnose).
const (
	codeSealed     = "store: encrypted without key"
	codeWrongKey   = "store: wrong key"
	codeUnreadable = "store: unreadable"
)

// sealedError is the error of a store that met an encrypted record without
// the key. It keeps the record, for the encrypted store over that store.
type sealedError struct {
	key    string
	sealed *Record // the envelope as stored; never part of the message
}

func (e *sealedError) Error() string {
	return "tokenstore: record " + quoteKey(e.key) + " is encrypted and was read without the store key: " +
		"give the program the key it was saved with (or delete the record to replace it)"
}

func (e *sealedError) Unwrap() error         { return ErrSealed }
func (e *sealedError) DiagnosisCode() string { return codeSealed }

// wrongKeyError is the error of an encrypted store whose keys do not open
// a record.
type wrongKeyError struct {
	msg string // names the key and key id, never the record's contents
}

func (e *wrongKeyError) Error() string         { return e.msg }
func (e *wrongKeyError) Unwrap() error         { return ErrWrongKey }
func (e *wrongKeyError) DiagnosisCode() string { return codeWrongKey }

// CorruptError describes a stored record that cannot be read back. It wraps
// ErrCorrupt, so errors.Is(err, ErrCorrupt) holds, and the cause.
type CorruptError struct {
	Key    string // the store key of the record
	Reason string // what is wrong, without any of the record's contents
	Err    error  // the underlying cause, if any
}

func (e *CorruptError) Error() string {
	msg := "tokenstore: record " + quoteKey(e.Key) + " is unreadable: " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// DiagnosisCode returns "store: unreadable", the code under which
// provider.Diagnose explains a corrupt record.
func (e *CorruptError) DiagnosisCode() string { return codeUnreadable }

// Unwrap returns ErrCorrupt and the cause.
func (e *CorruptError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrCorrupt}
	}
	return []error{ErrCorrupt, e.Err}
}

// maxQuotedKey bounds how much of a key appears in an error message.
const maxQuotedKey = 120

// quoteKey renders a store key for error messages: quoted, so that empty,
// control and non-UTF-8 characters are visible, and shortened when long.
func quoteKey(key string) string {
	if len(key) <= maxQuotedKey {
		return fmt.Sprintf("%q", key)
	}
	cut := maxQuotedKey
	for cut > 0 && !utf8.RuneStart(key[cut]) {
		cut--
	}
	return fmt.Sprintf("%q…(%d bytes)", key[:cut], len(key))
}
