package auth

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
)

// NewOAuthBearerServer returns the server side of OAUTHBEARER (RFC 7628),
// for test servers.
//
// It parses the client's response strictly against the RFC's grammar
// (GS2 header "n," or "y," with an optional escaped "a=" authzid, key/value
// pairs, a required "auth=Bearer <token>"; unknown keys are ignored) and
// calls verify with the authzid (empty when absent) and the token. A
// malformed response fails at once with an error wrapping
// [ErrMalformedResponse]. When verify refuses, the server sends
// {"status":"invalid_token"}, waits for the client's "\x01", then fails with
// an error that wraps verify's. One server serves one exchange.
//
// go-sasl has its own OAUTHBEARER server, but it indexes the reply to its
// error challenge before checking its length, so an empty reply panics (the
// check came with emersion/go-sasl#17 and is unchanged in the version
// go.mod names; TestUpstreamGoSASLOAuthBearerServerPanics fails once it is
// fixed). This one does not panic, and checks the grammar strictly.
func NewOAuthBearerServer(verify func(username, token string) error) sasl.Server {
	return newBearerServer(OAUTHBEARER, verify)
}

// GS2 header pieces (RFC 5801 §4).
const (
	gs2NoChannelBinding      = "n"
	gs2ClientSupportsBinding = "y"
	gs2ChannelBindingPrefix  = "p="
	gs2AuthzidPrefix         = "a="
)

// parseOAuthBearer splits an OAUTHBEARER client response (RFC 7628 §3.1).
// Its errors never quote the token.
func parseOAuthBearer(response []byte) (username, token string, err error) {
	if len(response) == 0 {
		return "", "", errors.New("empty response")
	}
	if string(response) == kvsep {
		return "", "", errors.New(`a lone \x01 answers an error challenge; it is not a client response`)
	}
	flag, rest, ok := bytes.Cut(response, []byte(","))
	if !ok {
		return "", "", errors.New("no GS2 header")
	}
	switch {
	case string(flag) == gs2NoChannelBinding, string(flag) == gs2ClientSupportsBinding:
	case bytes.HasPrefix(flag, []byte(gs2ChannelBindingPrefix)):
		return "", "", errors.New("channel binding (GS2 flag p=) is not supported")
	default:
		return "", "", errors.New("unknown GS2 channel-binding flag")
	}
	authzid, rest, ok := bytes.Cut(rest, []byte(","))
	if !ok {
		return "", "", errors.New("GS2 header does not end with ','")
	}
	if len(authzid) > 0 {
		name, ok := bytes.CutPrefix(authzid, []byte(gs2AuthzidPrefix))
		if !ok {
			return "", "", errors.New(`GS2 authzid does not start with "a="`)
		}
		if username, err = unescapeSASLName(name); err != nil {
			return "", "", err
		}
	}
	rest, ok = bytes.CutPrefix(rest, []byte(kvsep))
	if !ok {
		return "", "", errors.New(`no \x01 after the GS2 header`)
	}
	seen := make(map[string]bool)
	for string(rest) != kvsep {
		if len(rest) == 0 {
			return "", "", errors.New(`response does not end with \x01\x01`)
		}
		pair, after, ok := bytes.Cut(rest, []byte(kvsep))
		if !ok {
			return "", "", errors.New(`key/value pair not terminated by \x01`)
		}
		if len(pair) == 0 {
			return "", "", errors.New(`data after the closing \x01\x01`)
		}
		key, value, ok := bytes.Cut(pair, []byte("="))
		if !ok {
			return "", "", errors.New("key/value pair without '='")
		}
		if err := checkKey(key); err != nil {
			return "", "", err
		}
		if i := badValueByte(value); i >= 0 {
			return "", "", fmt.Errorf("value of key %q has a forbidden character at byte %d", key, i)
		}
		k := string(key)
		if seen[k] {
			return "", "", fmt.Errorf("key %q given twice", k)
		}
		seen[k] = true
		switch k {
		case "auth":
			if token, err = parseAuthValue(pair); err != nil {
				return "", "", err
			}
		case "port":
			if err := checkPort(value); err != nil {
				return "", "", err
			}
		}
		// host, and keys this server does not know, are accepted as they are.
		rest = after
	}
	if !seen["auth"] {
		return "", "", errors.New(`no "auth" key`)
	}
	return username, token, nil
}

// unescapeSASLName decodes a GS2 saslname: "=2C" is ',' and "=3D" is '=';
// any other '=' is an error.
func unescapeSASLName(name []byte) (string, error) {
	if len(name) == 0 {
		return "", errors.New("empty GS2 authzid")
	}
	var b []byte
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c != '=' {
			b = append(b, c)
			continue
		}
		switch esc := string(name[i+1 : min(i+3, len(name))]); esc {
		case "2C":
			b = append(b, ',')
		case "3D":
			b = append(b, '=')
		default:
			return "", fmt.Errorf("GS2 authzid has a bad escape at byte %d", i)
		}
		i += 2
	}
	if !utf8.Valid(b) {
		return "", errors.New("GS2 authzid is not UTF-8")
	}
	s := string(b)
	if err := checkText("GS2 authzid", s); err != nil {
		return "", err
	}
	return s, nil
}

// checkKey enforces key = 1*ALPHA.
func checkKey(key []byte) error {
	if len(key) == 0 {
		return errors.New("empty key")
	}
	for _, c := range key {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return errors.New("key is not made of letters")
		}
	}
	return nil
}

// badValueByte returns the index of the first byte not allowed in a value
// (VCHAR / SP / HTAB / CR / LF), or -1.
func badValueByte(value []byte) int {
	for i, c := range value {
		if !(0x21 <= c && c <= 0x7e || c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			return i
		}
	}
	return -1
}

// checkPort enforces a decimal port without leading zeros, at most 65535.
func checkPort(value []byte) error {
	_, err := strconv.ParseUint(string(value), 10, 16)
	if err != nil || len(value) > 1 && value[0] == '0' {
		return errors.New("port is not a decimal number from 0 to 65535 without leading zeros")
	}
	return nil
}
