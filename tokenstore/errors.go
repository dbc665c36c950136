package tokenstore

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrCorrupt is wrapped by the error a store returns when a stored record
// cannot be read back: a truncated or altered file, or an envelope that does
// not decrypt. The error names the key, never the record's contents.
var ErrCorrupt = errors.New("tokenstore: stored record is unreadable")

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
