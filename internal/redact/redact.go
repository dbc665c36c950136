// Package redact finds secrets in debug transcripts: a token as it is and
// as the base64 text it becomes inside a longer SASL message, whatever its
// alignment there.
package redact

import "encoding/base64"

// Text replaces every secret in a transcript.
const Text = "[redacted]"

// MinLength is the shortest secret looked for: shorter strings would match
// ordinary words.
const MinLength = 8

// Forms returns s and the base64 text s yields at each of the three
// alignments it may have inside a longer base64 stream, in the standard and
// URL alphabets, without the characters it shares with its neighbours. It
// returns nil for a secret shorter than MinLength.
func Forms(s string) []string {
	if len(s) < MinLength {
		return nil
	}
	forms := []string{s}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
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
