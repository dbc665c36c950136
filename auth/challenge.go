package auth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
)

// Limits on how a ChallengeError prints the server's words.
const (
	maxChallengeFieldPrint = 120 // runes of each field shown by Error
	minRedactLength        = 8   // shorter strings would match ordinary words
	redacted               = "[redacted]"
)

// ChallengeError is the error challenge a server sends instead of failing at
// once when it refuses a bearer token: base64 JSON with "status", "schemes",
// "scope" and, optionally, "openid-configuration" (Google's XOAUTH2 and
// RFC 7628 §3.2.2). Transports return it inside their error, so callers find
// it with errors.As.
//
// Parsing is lenient: status may be a string or a number, unknown keys are
// ignored, key case does not matter. A challenge that is not a JSON object
// still gives a ChallengeError, with only Raw set. Its Error text never
// contains a token.
type ChallengeError struct {
	// Status is the server's status, as text: "401" (XOAUTH2) or an OAuth
	// error code such as "invalid_token" (OAUTHBEARER).
	Status string
	// Schemes lists the HTTP authentication schemes the server accepts,
	// as sent ("bearer", "Bearer", "bearer mac"); see HasScheme.
	Schemes string
	// Scope is the scope the server asks for, as sent.
	Scope string
	// OpenIDConfiguration is the discovery URL some servers add.
	OpenIDConfiguration string
	// Raw is the decoded challenge as the server sent it (except that the
	// client's own token, should a server echo it, is replaced).
	Raw string

	parsed bool // Raw was a JSON object
}

// ParseChallenge parses a decoded error challenge. It never fails: a
// challenge that is not a JSON object gives a ChallengeError with only Raw
// set.
func ParseChallenge(challenge []byte) *ChallengeError {
	ce := &ChallengeError{Raw: string(challenge)}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimSpace(challenge), &fields); err != nil || fields == nil {
		return ce
	}
	ce.parsed = true
	for k, v := range fields {
		switch strings.ToLower(k) {
		case "status":
			ce.Status = jsonText(v)
		case "schemes":
			ce.Schemes = jsonText(v)
		case "scope":
			ce.Scope = jsonText(v)
		case "openid-configuration":
			ce.OpenIDConfiguration = jsonText(v)
		}
	}
	return ce
}

// jsonText returns a JSON string's value, a number's digits, "" for null,
// and the compact JSON text of anything else.
func jsonText(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	v = bytes.TrimSpace(v)
	if string(v) == "null" {
		return ""
	}
	var b bytes.Buffer
	if json.Compact(&b, v) == nil {
		return b.String()
	}
	return string(v)
}

// Error describes the challenge without its raw text.
func (e *ChallengeError) Error() string {
	switch {
	case e.parsed:
		var b strings.Builder
		b.WriteString("auth: the server refused the token")
		sep := ": "
		for _, f := range [...]struct{ name, value string }{
			{"status", e.Status},
			{"schemes", e.Schemes},
			{"scope", e.Scope},
			{"openid-configuration", e.OpenIDConfiguration},
		} {
			if f.value == "" {
				continue
			}
			fmt.Fprintf(&b, "%s%s %q", sep, f.name, clip(f.value))
			sep = ", "
		}
		return b.String()
	case e.Raw == "":
		return "auth: the server refused the token with an empty challenge"
	default:
		return fmt.Sprintf("auth: the server refused the token with a challenge that is not JSON (%d bytes)", len(e.Raw))
	}
}

// HasScheme reports whether Schemes names scheme, ignoring case
// ("Bearer" matches "bearer mac").
func (e *ChallengeError) HasScheme(scheme string) bool {
	for _, s := range strings.FieldsFunc(e.Schemes, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
		if strings.EqualFold(s, scheme) {
			return true
		}
	}
	return false
}

// redact replaces token wherever the server echoed it.
func (e *ChallengeError) redact(token string) {
	if len(token) < minRedactLength {
		return
	}
	for _, p := range []*string{&e.Status, &e.Schemes, &e.Scope, &e.OpenIDConfiguration, &e.Raw} {
		*p = strings.ReplaceAll(*p, token, redacted)
	}
}

// clip shortens s to maxChallengeFieldPrint runes for printing.
func clip(s string) string {
	if utf8.RuneCountInString(s) <= maxChallengeFieldPrint {
		return s
	}
	r := []rune(s)
	return string(r[:maxChallengeFieldPrint]) + "…"
}

// Challenge returns the error challenge the server sent during c's exchange,
// or nil when there was none or c is not a client of this package. It looks
// through [TwoStep].
func Challenge(c sasl.Client) *ChallengeError {
	if cc, ok := c.(interface{ Challenge() *ChallengeError }); ok {
		return cc.Challenge()
	}
	return nil
}
