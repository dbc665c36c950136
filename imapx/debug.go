package imapx

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"

	"github.com/mailoauth/mailoauth/internal/redact"
)

// secrets are the tokens one connection sent, in every form a server may
// echo them: as they are, and as the base64 text they become inside a SASL
// response (redact.Forms). Every text of the server passes through scrub
// before it reaches a transcript, an error or a log line. It is safe for
// concurrent use.
type secrets struct {
	mu    sync.Mutex // guards forms
	forms []string
}

// add makes s redact token from now on.
func (s *secrets) add(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forms = append(s.forms, redact.Forms(token)...)
}

// scrub returns text with every form of every token replaced by
// redact.Text.
func (s *secrets) scrub(text string) string {
	if s == nil {
		return text
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.forms {
		if strings.Contains(text, f) {
			text = strings.ReplaceAll(text, f, redact.Text)
		}
	}
	return text
}

// scrubError returns err with its text scrubbed: a status response of the
// server as a copy with the text scrubbed (its type and code kept), any
// other error whose text holds a token as a plain error with the scrubbed
// text.
func (s *secrets) scrubError(err error) error {
	if err == nil {
		return nil
	}
	if ie, ok := err.(*imap.Error); ok {
		if text := s.scrub(ie.Text); text != ie.Text {
			c := *ie
			c.Text = text
			return &c
		}
		return err
	}
	if text := s.scrub(err.Error()); text != err.Error() {
		return errors.New(text)
	}
	return err
}

// transcript writes one connection's IMAP dialogue to Options.Debug, one line
// per protocol line, "C: " for the client and "S: " for the server, with the
// AUTHENTICATE payload and every token replaced by "[redacted]" (the
// wireConn decides which lines are SASL payloads; the transcript scrubs the
// connection's secrets from every line as a second guard).
type transcript struct {
	mu      sync.Mutex // guards w
	w       io.Writer
	prefix  string // names the connection
	secrets *secrets
}

func newTranscript(w io.Writer, prefix string, s *secrets) *transcript {
	if w == nil {
		return nil
	}
	return &transcript{w: w, prefix: prefix, secrets: s}
}

// line writes one protocol line.
func (t *transcript) line(dir string, text []byte) {
	line := t.prefix + dir + t.secrets.scrub(string(text)) + "\n"
	t.mu.Lock()
	defer t.mu.Unlock()
	_, _ = io.WriteString(t.w, line)
}

// literal notes n bytes of literal data, which the transcript leaves out.
func (t *transcript) literal(dir string, n int64) {
	t.line(dir, []byte("[literal data: "+strconv.FormatInt(n, 10)+" bytes]"))
}
