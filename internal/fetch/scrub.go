package fetch

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/mailoauth/mailoauth/internal/redact"
)

// maxText bounds a service's text kept in an error.
const maxText = 400

// jwtLike finds anything shaped like a compact JWT (three base64url parts,
// the first a JSON object): a service that echoes a token in its error
// text must not put it into ours.
var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)

// Scrub makes a service's error text fit for an error message: the
// secrets given (a request token, a header value) and anything shaped like
// a JWT are replaced, line breaks become spaces, and the text is cut to a
// few hundred bytes.
func Scrub(text string, secrets ...string) string {
	for _, s := range secrets {
		for _, f := range redact.Forms(s) {
			text = strings.ReplaceAll(text, f, redact.Text)
		}
	}
	text = jwtLike.ReplaceAllString(text, redact.Text)
	text = strings.Join(strings.Fields(text), " ")
	if len(text) > maxText {
		text = strings.ToValidUTF8(text[:maxText], "") + "..."
	}
	return text
}

// Describe words an answer (or its absence) for an error message, after
// what failed: " (HTTP 400 invalid_request: Identity not found): cause;
// retry after 5s". Empty codes are left out; without a status there is no
// parenthesis.
func Describe(status int, codes []string, text string, cause error, wait time.Duration) string {
	var b strings.Builder
	if status != 0 {
		fmt.Fprintf(&b, " (HTTP %d", status)
		for _, c := range codes {
			if c != "" {
				b.WriteString(" " + c)
			}
		}
		if text != "" {
			b.WriteString(": " + text)
		}
		b.WriteString(")")
	}
	if cause != nil {
		fmt.Fprintf(&b, ": %v", cause)
	}
	if wait > 0 {
		fmt.Fprintf(&b, "; retry after %s", wait)
	}
	return b.String()
}
