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

// An echo of the token or of the SASL message carrying it, raw or in base64,
// leaves nothing of either behind.
func TestSetScrubsTheTokenAndTheWholeSASLMessage(t *testing.T) {
	token := "ya29.a0AfB_byC-secret-token-value_0123456789"
	msg := "user=someone@example.com\x01auth=Bearer " + token + "\x01\x01"
	var s Set
	s.Add(token, msg)
	for name, echo := range map[string]string{
		"token":               token,
		"message":             msg,
		"token base64":        base64.StdEncoding.EncodeToString([]byte(token)),
		"token base64url raw": base64.RawURLEncoding.EncodeToString([]byte(token)),
		"message base64":      base64.StdEncoding.EncodeToString([]byte(msg)),
		"message base64 raw":  base64.RawStdEncoding.EncodeToString([]byte(msg)),
	} {
		got := s.Scrub("535 5.7.8 rejected: " + echo + " (end)")
		if want := "535 5.7.8 rejected: " + Text + " (end)"; got != want {
			t.Errorf("%s: Scrub = %q, want %q", name, got, want)
		}
		if !s.Contains(echo) {
			t.Errorf("%s: Contains = false", name)
		}
	}
	if got := s.Scrub("250 OK"); got != "250 OK" {
		t.Errorf("Scrub changed a text without a secret: %q", got)
	}
}

func TestNilAndEmptySetsScrubNothing(t *testing.T) {
	var nilSet *Set
	if got := nilSet.Scrub("text"); got != "text" {
		t.Fatalf("nil Set: %q", got)
	}
	var s Set
	s.Add("short")
	if got := s.Scrub("a short text"); got != "a short text" {
		t.Fatalf("a secret below MinLength was scrubbed: %q", got)
	}
}
