package redact

import (
	"encoding/base64"
	"strings"
	"testing"
)

// Whatever bytes surround a secret inside a SASL message, one of its forms
// appears in the message's base64 text.
func TestFormsFindTheSecretAtEveryAlignment(t *testing.T) {
	secret := "eyJhbGciOiJSUzI1NiJ9.payload.signature-part"
	forms := Forms(secret)
	for pre := 0; pre < 6; pre++ {
		for post := 0; post < 4; post++ {
			msg := strings.Repeat("u", pre) + secret + strings.Repeat("\x01", post)
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
				b64 := enc.EncodeToString([]byte(msg))
				found := false
				for _, f := range forms {
					if strings.Contains(b64, f) {
						found = true
					}
				}
				if !found {
					t.Errorf("secret after %d bytes and before %d not found in %s", pre, post, b64)
				}
			}
		}
	}
}

func TestShortSecretsAreNotSearched(t *testing.T) {
	if f := Forms("abc"); f != nil {
		t.Fatalf("Forms(short) = %q, want nil", f)
	}
}
