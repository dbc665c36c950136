// Package redact finds secrets in debug transcripts and in servers' answers:
// a token or the SASL message that carries it, as it is and as the base64
// text it becomes, alone or inside a longer SASL message, whatever its
// alignment there.
package redact

import (
	"cmp"
	"encoding/base64"
	"slices"
	"strings"
	"sync"
)

// Text replaces every secret in a transcript.
const Text = "[redacted]"

// MinLength is the shortest secret looked for: shorter strings would match
// ordinary words.
const MinLength = 8

// Forms returns s, its whole base64 text in the standard and URL alphabets
// with and without padding, and the base64 text s yields at each of the
// three alignments it may have inside a longer base64 stream, without the
// characters it shares with its neighbours there. It returns nil for a
// secret shorter than MinLength.
func Forms(s string) []string {
	if len(s) < MinLength {
		return nil
	}
	forms := []string{s}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		whole := enc.EncodeToString([]byte(s))
		forms = append(forms, whole)
		if raw := strings.TrimRight(whole, "="); raw != whole {
			forms = append(forms, raw)
		}
		for shift := 0; shift < 3; shift++ {
			b64 := enc.EncodeToString(append(make([]byte, shift), s...))
			lead := (shift*8 + 5) / 6 // characters that also encode the bytes in front
			const trail = 4           // the last group may also encode bytes behind
			if len(b64)-trail > lead+MinLength {
				forms = append(forms, b64[lead:len(b64)-trail])
			}
		}
	}
	return forms
}

// Set is the secrets one connection carries, each in every one of its
// Forms, for scrubbing whatever the server sends back. A nil *Set holds
// none; the zero Set is empty and ready. It is safe for concurrent use.
type Set struct {
	mu    sync.Mutex // guards forms
	forms []string   // longest first, so that a whole SASL message goes before the token inside it
}

// Add makes the set find each secret: a token, and the whole SASL message
// that carries it (its initial response), so that an echo of either, raw or
// in base64, disappears whole. Secrets shorter than MinLength are ignored.
func (s *Set) Add(secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, secret := range secrets {
		for _, f := range Forms(secret) {
			if !slices.Contains(s.forms, f) {
				s.forms = append(s.forms, f)
			}
		}
	}
	slices.SortStableFunc(s.forms, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
}

// Scrub returns text with every form of every secret in the set replaced by
// Text.
func (s *Set) Scrub(text string) string {
	if s == nil {
		return text
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.forms {
		if strings.Contains(text, f) {
			text = strings.ReplaceAll(text, f, Text)
		}
	}
	return text
}

// Contains reports whether text holds a secret of the set.
func (s *Set) Contains(text string) bool {
	return s.Scrub(text) != text
}
