package oauth

import (
	"bytes"
	"encoding/json"
	"html"
	"net/url"
	"slices"
	"strings"

	"github.com/mailoauth/mailoauth/internal/redact"
)

// secretParams are the request parameters that carry a secret: the client
// credential (RFC 6749 section 2.3.1, RFC 7523 section 2.2), the grants'
// own secrets (sections 4.1.3 and 6, RFC 7523 section 2.1, RFC 8628
// section 3.4) and the PKCE verifier (RFC 7636 section 4.5).
var secretParams = []string{"client_secret", "client_assertion", "refresh_token", "code", "code_verifier", "device_code", "assertion", "password"}

// scrubber removes a request's secrets from what the answer to it says. It
// knows each secret in every form a server may echo it in: as sent, URL
// encoded, escaped for JSON or HTML, and as base64 at any alignment (the
// finder the debug transcripts use). A success answer is never scrubbed: a
// new refresh token may equal the old one.
type scrubber struct {
	forms []string // longest first, so that no form is cut by a shorter one
}

func newScrubber(secrets []string) scrubber {
	var forms []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		forms = append(forms, s, url.QueryEscape(s), url.PathEscape(s), html.EscapeString(s),
			strings.ReplaceAll(s, "/", `\/`))
		for _, escapeHTML := range []bool{true, false} {
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(escapeHTML)
			_ = enc.Encode(s)
			q := strings.TrimSpace(b.String())
			forms = append(forms, q[1:len(q)-1])
		}
		forms = append(forms, redact.Forms(s)...)
	}
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	return scrubber{forms: slices.Compact(forms)}
}

// text returns s without any form of a secret.
func (sc scrubber) text(s string) string {
	for _, f := range sc.forms {
		if f != "" && strings.Contains(s, f) {
			s = strings.ReplaceAll(s, f, redact.Text)
		}
	}
	return s
}

// bytes returns a scrubbed copy of b.
func (sc scrubber) bytes(b []byte) []byte {
	out := append([]byte(nil), b...)
	for _, f := range sc.forms {
		if f != "" && bytes.Contains(out, []byte(f)) {
			out = bytes.ReplaceAll(out, []byte(f), []byte(redact.Text))
		}
	}
	return out
}
