package imapx

import (
	"bytes"
	"encoding/base64"
	"io"
	"strconv"
	"sync"
)

// redactedText replaces every secret in a transcript.
const redactedText = "[redacted]"

// minSecretLength: shorter strings are not searched for, they would match
// ordinary words.
const minSecretLength = 8

// transcript writes one connection's IMAP dialogue to Options.Debug, one line
// per protocol line, "C: " for the client and "S: " for the server, with the
// AUTHENTICATE payload and every token replaced by "[redacted]" (the
// wireConn decides which lines are SASL payloads; the transcript scrubs the
// tokens it was told about from every line as a second guard).
type transcript struct {
	mu      sync.Mutex // guards w, secrets, buf
	w       io.Writer
	prefix  string // names the connection
	secrets [][]byte
	buf     []byte
}

func newTranscript(w io.Writer, prefix string) *transcript {
	if w == nil {
		return nil
	}
	return &transcript{w: w, prefix: prefix}
}

// addSecret makes the transcript redact token and the base64 text it
// yields at each alignment inside a longer base64 string.
func (t *transcript) addSecret(token string) {
	if t == nil || len(token) < minSecretLength {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range secretForms(token) {
		t.secrets = append(t.secrets, []byte(f))
	}
}

// secretForms returns s and the base64 text s yields at each of the three
// alignments it may have inside a longer base64 stream, in the standard and
// URL alphabets, without the characters shared with its neighbours.
func secretForms(s string) []string {
	forms := []string{s}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		for shift := 0; shift < 3; shift++ {
			b64 := enc.EncodeToString(append(make([]byte, shift), s...))
			lead := (shift*8 + 5) / 6 // characters that also encode the bytes in front
			const trail = 4           // the last group may also encode bytes behind
			if len(b64)-trail > lead+minSecretLength {
				forms = append(forms, b64[lead:len(b64)-trail])
			}
		}
	}
	return forms
}

// line writes one protocol line.
func (t *transcript) line(dir string, text []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf[:0], t.prefix...)
	t.buf = append(t.buf, dir...)
	start := len(t.buf)
	t.buf = append(t.buf, text...)
	for _, s := range t.secrets {
		if bytes.Contains(t.buf[start:], s) {
			scrubbed := bytes.ReplaceAll(t.buf[start:], s, []byte(redactedText))
			t.buf = append(t.buf[:start], scrubbed...)
		}
	}
	t.buf = append(t.buf, '\n')
	_, _ = t.w.Write(t.buf)
}

// literal notes n bytes of literal data, which the transcript leaves out.
func (t *transcript) literal(dir string, n int64) {
	t.line(dir, []byte("[literal data: "+strconv.FormatInt(n, 10)+" bytes]"))
}
