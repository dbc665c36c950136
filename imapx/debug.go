package imapx

import (
	"bytes"
	"io"
	"strconv"
	"sync"

	"github.com/mailoauth/mailoauth/internal/redact"
)

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
	if t == nil || len(token) < redact.MinLength {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range redact.Forms(token) {
		t.secrets = append(t.secrets, []byte(f))
	}
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
			scrubbed := bytes.ReplaceAll(t.buf[start:], s, []byte(redact.Text))
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
