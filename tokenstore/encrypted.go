package tokenstore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/oauth2"
)

// Key is one AES-256 key of an encrypted store.
type Key struct {
	// ID names the key inside every envelope it seals, so that a store can
	// still open records sealed with an older key. 1 to 64 characters from
	// A-Z a-z 0-9 _ -; it is not secret.
	ID string
	// Secret is the 32-byte AES-256 key.
	Secret []byte
}

// DefaultKeyID is the key id NewEncrypted gives its key. To rotate away from
// it, pass Key{ID: DefaultKeyID, Secret: oldSecret} among the old keys of
// NewEncryptedKeys.
const DefaultKeyID = "default"

// Envelope format. A sealed record is stored in the wrapped store as a Record
// whose Token.TokenType is envelopeTokenType and whose Token.AccessToken is
//
//	mo1.<key id>.<base64url(nonce || AES-256-GCM ciphertext)>
//
// The plaintext is the JSON of the record without its version; the additional
// data binds the envelope version, the key id and the store key. UpdatedAt is
// copied outside in the clear, so that the wrapped store can show it.
const (
	envelopePrefix    = "mo1"
	envelopeTokenType = "mailoauth-encrypted"
	aadLabel          = "mailoauth/tokenstore/encrypted/v1"
	secretSize        = 32 // AES-256
	maxKeyIDLen       = 64
)

// NewEncrypted returns a Store that seals every record with secret (32 bytes,
// AES-256-GCM) before handing it to s, binding each record to its store key so
// that a record copied under another key fails to open. Versions compare and
// swap through it, and it is a Locker when s is. The key's id is DefaultKeyID.
func NewEncrypted(s Store, secret []byte) (Store, error) {
	return NewEncryptedKeys(s, Key{ID: DefaultKeyID, Secret: secret})
}

// NewEncryptedKeys is NewEncrypted with key rotation: records are sealed with
// current, and records sealed with any of old still open. A record is
// re-sealed with current the next time it is saved.
func NewEncryptedKeys(s Store, current Key, old ...Key) (Store, error) {
	if s == nil {
		return nil, errors.New("tokenstore: NewEncrypted: nil store")
	}
	e := &encrypted{inner: s, keys: make(map[string]cipher.AEAD)}
	for i, k := range append([]Key{current}, old...) {
		if err := checkKeyID(k.ID); err != nil {
			return nil, fmt.Errorf("tokenstore: NewEncrypted: key %d: %w", i, err)
		}
		if len(k.Secret) != secretSize {
			return nil, fmt.Errorf("tokenstore: NewEncrypted: key %q is %d bytes, AES-256 needs %d", k.ID, len(k.Secret), secretSize)
		}
		if _, dup := e.keys[k.ID]; dup {
			return nil, fmt.Errorf("tokenstore: NewEncrypted: key id %q given twice", k.ID)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("tokenstore: NewEncrypted: key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("tokenstore: NewEncrypted: key %q: %w", k.ID, err)
		}
		e.keys[k.ID] = aead
	}
	e.current = current.ID
	if l, ok := s.(Locker); ok {
		return &lockingEncrypted{encrypted: e, locker: l}, nil
	}
	return e, nil
}

func checkKeyID(id string) error {
	if id == "" || len(id) > maxKeyIDLen {
		return fmt.Errorf("key id must be 1 to %d characters", maxKeyIDLen)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("key id %q: only A-Z a-z 0-9 _ - are allowed", id)
		}
	}
	return nil
}

// encrypted is the Store NewEncrypted returns.
type encrypted struct {
	inner   Store
	current string                 // id of the key that seals
	keys    map[string]cipher.AEAD // by id; read-only after construction
}

// lockingEncrypted is an encrypted store over a Locker, and a Locker itself.
type lockingEncrypted struct {
	*encrypted
	locker Locker
}

// Lock takes the wrapped store's lock on key.
func (l *lockingEncrypted) Lock(ctx context.Context, key string) (func() error, error) {
	return l.locker.Lock(ctx, key)
}

func additionalData(keyID, storeKey string) []byte {
	// The key id has no NUL, so the store key, last, needs no length.
	return []byte(aadLabel + "\x00" + keyID + "\x00" + storeKey)
}

// Load opens the record stored under key. A record that does not open gives
// an error wrapping ErrWrongKey, or ErrCorrupt when the envelope is malformed
// or the record is not encrypted.
func (e *encrypted) Load(ctx context.Context, key string) (*Record, error) {
	outer, err := e.inner.Load(ctx, key)
	// The stores of this package refuse to hand an envelope out as a
	// record; the envelope travels in their error.
	if se := (*sealedError)(nil); errors.As(err, &se) {
		outer, err = se.sealed, nil
	}
	if err != nil {
		return nil, err
	}
	return e.open(key, outer)
}

func (e *encrypted) open(key string, outer *Record) (*Record, error) {
	if !isSealed(outer) {
		return nil, &CorruptError{Key: key, Reason: "the record is not encrypted"}
	}
	parts := strings.Split(outer.Token.AccessToken, ".")
	if len(parts) != 3 || parts[0] != envelopePrefix {
		return nil, &CorruptError{Key: key, Reason: "the envelope is malformed"}
	}
	keyID := parts[1]
	aead, ok := e.keys[keyID]
	if !ok {
		return nil, &wrongKeyError{msg: fmt.Sprintf("tokenstore: record %s was sealed with key id %q, which is not configured", quoteKey(key), keyID)}
	}
	blob, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(blob) < aead.NonceSize()+aead.Overhead() {
		return nil, &CorruptError{Key: key, Reason: "the envelope's ciphertext is malformed"}
	}
	nonce, sealed := blob[:aead.NonceSize()], blob[aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, sealed, additionalData(keyID, key))
	if err != nil {
		return nil, &wrongKeyError{msg: fmt.Sprintf("tokenstore: record %s does not open with key id %q (wrong key, record moved from another key, or altered)", quoteKey(key), keyID)}
	}
	return UnmarshalRecord(key, plain, outer.Version)
}

// Save seals rec with the current key and saves it under key, comparing and
// swapping rec.Version through the wrapped store.
func (e *encrypted) Save(ctx context.Context, key string, rec *Record) error {
	if rec == nil {
		return errNilRecord
	}
	plain, err := MarshalRecord(rec)
	if err != nil {
		return fmt.Errorf("tokenstore: save %s: %w", quoteKey(key), err)
	}
	aead := e.keys[e.current]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("tokenstore: save %s: nonce: %w", quoteKey(key), err)
	}
	blob := aead.Seal(nonce, nonce, plain, additionalData(e.current, key))
	outer := &Record{
		Token: &oauth2.Token{
			AccessToken: envelopePrefix + "." + e.current + "." + base64.RawURLEncoding.EncodeToString(blob),
			TokenType:   envelopeTokenType,
		},
		UpdatedAt: rec.UpdatedAt,
		Version:   rec.Version,
	}
	if err := e.inner.Save(ctx, key, outer); err != nil {
		return err
	}
	rec.Version = outer.Version
	return nil
}

// Delete removes the record stored under key.
func (e *encrypted) Delete(ctx context.Context, key string) error {
	return e.inner.Delete(ctx, key)
}

// isSealed reports whether r is an envelope an encrypted store wrote.
func isSealed(r *Record) bool {
	return r != nil && r.Token != nil && r.Token.TokenType == envelopeTokenType
}

// checkUnsealed returns r, or the error of a store without the key when r
// is an envelope: the ciphertext is never handed out as a token.
func checkUnsealed(key string, r *Record) (*Record, error) {
	if isSealed(r) {
		return nil, &sealedError{key: key, sealed: r}
	}
	return r, nil
}

// checkOverwrite refuses to replace an encrypted record (stored) with a
// plain one (rec): a store without the key must not drop the grant.
func checkOverwrite(key string, stored, rec *Record) error {
	if isSealed(stored) && !isSealed(rec) {
		return &sealedError{key: key}
	}
	return nil
}
