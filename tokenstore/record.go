package tokenstore

import (
	"encoding/json"
	"slices"
	"time"

	"golang.org/x/oauth2"
)

// cloneRecord returns a deep copy of r, so that a store never shares memory
// with its callers.
func cloneRecord(r *Record) *Record {
	if r == nil {
		return nil
	}
	c := *r
	c.Token = cloneToken(r.Token)
	c.Scopes = slices.Clone(r.Scopes)
	return &c
}

// cloneToken returns a copy of t. The copy shares the token's extra fields
// (oauth2.Token.Extra), which nothing in this package changes.
func cloneToken(t *oauth2.Token) *oauth2.Token {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// recordJSON is the stored form of a Record's contents, shared by File and
// the encrypted envelope. The version is kept beside it, not inside, because
// the store, not the record, owns it.
type recordJSON struct {
	Token     *tokenJSON `json:"token,omitempty"`
	Account   string     `json:"account,omitempty"`
	Scopes    []string   `json:"scopes,omitempty"`
	UpdatedAt time.Time  `json:"updated_at,omitzero"`
}

// tokenJSON is the stored form of an oauth2.Token: its exported fields
// without the wire-only expires_in, which Expiry replaces.
type tokenJSON struct {
	AccessToken  string    `json:"access_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
}

func toRecordJSON(r *Record) recordJSON {
	j := recordJSON{Account: r.Account, Scopes: r.Scopes, UpdatedAt: r.UpdatedAt}
	if t := r.Token; t != nil {
		j.Token = &tokenJSON{
			AccessToken:  t.AccessToken,
			TokenType:    t.TokenType,
			RefreshToken: t.RefreshToken,
			Expiry:       t.Expiry,
		}
	}
	return j
}

func (j recordJSON) record(version int64) *Record {
	r := &Record{Account: j.Account, Scopes: j.Scopes, UpdatedAt: j.UpdatedAt, Version: version}
	if t := j.Token; t != nil {
		r.Token = &oauth2.Token{
			AccessToken:  t.AccessToken,
			TokenType:    t.TokenType,
			RefreshToken: t.RefreshToken,
			Expiry:       t.Expiry,
		}
	}
	return r
}

// MarshalRecord returns the JSON form of rec's contents (token, account,
// scopes, update time) as File and the encrypted store keep them, for stores
// built on other storage. The version is not part of it: a store keeps the
// version beside the contents, since the store, not the record, owns it.
func MarshalRecord(rec *Record) ([]byte, error) {
	if rec == nil {
		return nil, errNilRecord
	}
	return json.Marshal(toRecordJSON(rec))
}

// UnmarshalRecord parses what MarshalRecord wrote and returns the record
// with the given version. Malformed data gives a *CorruptError naming key;
// no stored text reaches the error. A record an encrypted store sealed
// gives an error wrapping ErrSealed, which the encrypted store over the
// store reading it opens: a store built on UnmarshalRecord never hands the
// ciphertext out as a token.
func UnmarshalRecord(key string, data []byte, version int64) (*Record, error) {
	var j recordJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, &CorruptError{Key: key, Reason: "the stored record is not valid", Err: jsonProblem(err)}
	}
	return checkUnsealed(key, j.record(version))
}
