package auth

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-sasl"
)

// NewXOAUTH2Server returns the server side of XOAUTH2, for test servers.
//
// It parses the client's response strictly (exactly
// "user=<name>\x01auth=Bearer <token>\x01\x01", the scheme in any case) and
// calls verify. A malformed response fails at once with an error wrapping
// [ErrMalformedResponse]. When verify refuses, the server sends the error
// challenge {"status":"401","schemes":"bearer","scope":"mail"}, waits for
// the client's empty response, then fails with an error that wraps verify's.
// go-smtp's server writes such an error as "454 4.7.0 <text>"; a test server
// that wants "535 5.7.8" maps it. One server serves one exchange.
func NewXOAUTH2Server(verify func(username, token string) error) sasl.Server {
	return newBearerServer(XOAUTH2, verify)
}

// parseXOAUTH2 splits an XOAUTH2 client response. Its errors never quote the
// token.
func parseXOAUTH2(response []byte) (username, token string, err error) {
	if len(response) == 0 {
		return "", "", errors.New("empty response")
	}
	body, ok := bytes.CutSuffix(response, []byte(kvsep+kvsep))
	if !ok {
		return "", "", errors.New(`response does not end with \x01\x01`)
	}
	fields := bytes.Split(body, []byte(kvsep))
	if len(fields) != 2 {
		return "", "", fmt.Errorf("want the 2 fields user and auth, got %d", len(fields))
	}
	user, ok := bytes.CutPrefix(fields[0], []byte(xoauth2UserKey))
	if !ok {
		return "", "", errors.New(`first field is not "user="`)
	}
	if len(user) == 0 {
		return "", "", errors.New("empty user name")
	}
	if err := checkText("user name", string(user)); err != nil {
		return "", "", err
	}
	token, err = parseAuthValue(fields[1])
	if err != nil {
		return "", "", err
	}
	return string(user), token, nil
}

// parseAuthValue parses an "auth=Bearer <token>" pair: the scheme in any
// case (RFC 6750 §2.1), one space, a token of visible ASCII characters.
func parseAuthValue(field []byte) (string, error) {
	const key, scheme = "auth=", "bearer "
	value, ok := bytes.CutPrefix(field, []byte(key))
	if !ok {
		return "", errors.New(`no "auth=" field where expected`)
	}
	if len(value) < len(scheme) || !strings.EqualFold(string(value[:len(scheme)]), scheme) {
		return "", errors.New(`auth value does not start with "Bearer "`)
	}
	token := value[len(scheme):]
	if len(token) == 0 {
		return "", errors.New("empty bearer token")
	}
	if i := badTokenByte(token); i >= 0 {
		return "", fmt.Errorf("bearer token has a space, control or non-ASCII character at byte %d", i)
	}
	return string(token), nil
}
