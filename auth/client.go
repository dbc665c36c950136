package auth

import (
	"fmt"
	"strings"

	"github.com/emersion/go-sasl"
)

// Bytes of the SASL messages that carry a bearer token.
const (
	kvsep = "\x01" // separates key/value pairs in XOAUTH2 and OAUTHBEARER (RFC 7628 §3.1)

	xoauth2UserKey   = "user="
	bearerAuthPrefix = "auth=Bearer "
	maxPort          = 65535

	// xoauth2ErrorAnswer completes an XOAUTH2 error challenge: an empty response.
	xoauth2ErrorAnswer = ""
	// oauthBearerErrorAnswer completes an OAUTHBEARER error challenge: a lone
	// %x01 (RFC 7628 §3.2.3).
	oauthBearerErrorAnswer = kvsep
)

// NewClient returns a SASL client that authenticates username with the bearer
// token, for go-smtp's Client.Auth or go-imap's Client.Authenticate.
//
// For XOAUTH2 the initial response is exactly
// "user=<username>\x01auth=Bearer <token>\x01\x01"; for OAUTHBEARER it is the
// RFC 7628 message with username as the authorization identity.
// When the server answers with its error challenge, the client sends the
// completion the mechanism requires (XOAUTH2: an empty response,
// OAUTHBEARER: "\x01") instead of aborting, and keeps the parsed challenge:
// read it with [Challenge] after the exchange failed.
//
// Invalid input (an unknown mechanism, an empty token, control characters in
// the token or user name) is reported by Start, so no malformed message is
// ever sent. A client serves one exchange; make a new one for each attempt.
func NewClient(mech Mechanism, username, token string) sasl.Client {
	switch mech {
	case XOAUTH2:
		ir, err := xoauth2Response(username, token)
		return &client{mech: mech, user: username, ir: ir, err: err, token: token}
	case OAUTHBEARER:
		return NewOAuthBearerClient(username, token, "", 0)
	default:
		return &client{mech: mech, user: username, err: fmt.Errorf("auth: unknown SASL mechanism %q", string(mech))}
	}
}

// NewOAuthBearerClient is [NewClient] for OAUTHBEARER with the optional host
// and port keys of RFC 7628 (a server that knows its own name and port must
// check them). An empty host or a zero port leaves the key out.
func NewOAuthBearerClient(username, token, host string, port int) sasl.Client {
	ir, err := oauthBearerResponse(username, token, host, port)
	return &client{mech: OAUTHBEARER, user: username, ir: ir, err: err, token: token}
}

// client is the SASL client for both mechanisms: they differ only in the
// initial response and in the answer to an error challenge.
//
// It holds the token: its String, GoString and LogValue redact it.
type client struct {
	mech      Mechanism
	user      string // the user name, shown by String
	ir        []byte // the complete client response
	err       error  // why the response could not be built; returned by Start
	token     string // kept only to redact it from a challenge the server echoes
	answered  bool   // an error challenge has been answered
	challenge *ChallengeError
}

func (c *client) Start() (string, []byte, error) {
	if c.err != nil {
		return "", nil, c.err
	}
	return string(c.mech), c.ir, nil
}

// Next answers the server's error challenge. The first challenge after the
// client's response can only be the error challenge: it is parsed, kept for
// Challenge, and answered with the mechanism's completion so that the server
// sends its final failure reply. A second challenge aborts the exchange.
// (go-sasl's OAUTHBEARER client returns an error instead, which aborts the
// exchange and loses the challenge; TestUpstreamGoSASLOAuthBearerClientAborts
// fails once that changes.)
func (c *client) Next(challenge []byte) ([]byte, error) {
	if c.err != nil {
		return nil, c.err
	}
	if c.answered {
		return nil, fmt.Errorf("auth: %s: a second challenge after the error challenge: %w",
			string(c.mech), sasl.ErrUnexpectedServerChallenge)
	}
	c.answered = true
	c.challenge = ParseChallenge(challenge)
	c.challenge.redact(c.token)
	if c.mech == OAUTHBEARER {
		return []byte(oauthBearerErrorAnswer), nil
	}
	// Non-nil and empty: go-smtp then sends an empty line, go-imap "=".
	return []byte(xoauth2ErrorAnswer), nil
}

// Challenge returns the error challenge the server sent, or nil.
func (c *client) Challenge() *ChallengeError { return c.challenge }

// xoauth2Response builds the XOAUTH2 client response.
func xoauth2Response(username, token string) ([]byte, error) {
	if username == "" {
		return nil, fmt.Errorf("auth: XOAUTH2: empty user name")
	}
	if err := checkText("user name", username); err != nil {
		return nil, fmt.Errorf("auth: XOAUTH2: %w", err)
	}
	if err := checkToken(token); err != nil {
		return nil, fmt.Errorf("auth: XOAUTH2: %w", err)
	}
	var b strings.Builder
	b.Grow(len(xoauth2UserKey) + len(username) + len(bearerAuthPrefix) + len(token) + 3)
	b.WriteString(xoauth2UserKey)
	b.WriteString(username)
	b.WriteString(kvsep)
	b.WriteString(bearerAuthPrefix)
	b.WriteString(token)
	b.WriteString(kvsep + kvsep)
	return []byte(b.String()), nil
}

// oauthBearerResponse builds the OAUTHBEARER client response with go-sasl's
// client, after escaping the authorization identity as RFC 5801 requires
// (go-sasl writes it as given).
func oauthBearerResponse(username, token, host string, port int) ([]byte, error) {
	if err := checkText("user name", username); err != nil {
		return nil, fmt.Errorf("auth: OAUTHBEARER: %w", err)
	}
	if err := checkToken(token); err != nil {
		return nil, fmt.Errorf("auth: OAUTHBEARER: %w", err)
	}
	if err := checkText("host", host); err != nil {
		return nil, fmt.Errorf("auth: OAUTHBEARER: %w", err)
	}
	if port < 0 || port > maxPort {
		return nil, fmt.Errorf("auth: OAUTHBEARER: port %d out of range", port)
	}
	_, ir, err := sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{
		Username: escapeSASLName(username),
		Token:    token,
		Host:     host,
		Port:     port,
	}).Start()
	if err != nil {
		return nil, fmt.Errorf("auth: OAUTHBEARER: %w", err)
	}
	return ir, nil
}

// escapeSASLName escapes an authzid for a GS2 header (RFC 5801 §4):
// "," becomes "=2C" and "=" becomes "=3D".
func escapeSASLName(s string) string {
	if !strings.ContainsAny(s, ",=") {
		return s
	}
	return strings.NewReplacer(",", "=2C", "=", "=3D").Replace(s)
}

// checkToken rejects tokens that cannot be carried intact: a bearer token is
// visible ASCII (RFC 6750 §2.1). The error never quotes the token.
func checkToken(token string) error {
	if token == "" {
		return fmt.Errorf("empty access token")
	}
	if i := badTokenByte(token); i >= 0 {
		return fmt.Errorf("access token has a space, control or non-ASCII character at byte %d", i)
	}
	return nil
}

// badTokenByte returns the index of the first byte of token outside visible
// ASCII (0x21-0x7E), or -1.
func badTokenByte[T string | []byte](token T) int {
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c >= 0x7f {
			return i
		}
	}
	return -1
}

// checkText rejects control characters (0x00-0x1F, 0x7F): 0x01 would split
// the message and the others have no place in a name.
func checkText(what, s string) error {
	if i := controlIndex(s); i >= 0 {
		return fmt.Errorf("%s has a control character at byte %d", what, i)
	}
	return nil
}

// controlIndex returns the index of the first ASCII control character in s,
// or -1.
func controlIndex(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return i
		}
	}
	return -1
}
