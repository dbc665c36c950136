package smtpx

import (
	"bytes"
	"io"
	"strings"
	"sync"

	"github.com/mailoauth/mailoauth/internal/redact"
)

// syncWriter serializes writes from the transcripts of several connections
// to one io.Writer, so that their lines do not interleave.
type syncWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// transcriptState is where a transcript stands in the dialogue.
type transcriptState int

const (
	stateCommands transcriptState = iota // client commands, server replies
	stateAuth                            // inside AUTH: client lines are SASL messages
	stateData                            // after 354: client lines are the message
)

// transcript turns the raw bytes go-smtp logs (both directions, in order)
// into lines marked "C: " and "S: ", with AUTH payloads and tokens replaced
// by "[redacted]". It is the DebugWriter of one connection.
type transcript struct {
	out    io.Writer
	prefix string // names the connection

	secrets *redact.Set // the connection's tokens and SASL messages

	mu      sync.Mutex // guards the fields below
	partial []byte     // an unfinished line
	state   transcriptState
}

func newTranscript(out io.Writer, prefix string, secrets *redact.Set) *transcript {
	return &transcript{out: out, prefix: prefix, secrets: secrets}
}

func (t *transcript) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	data := p
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			t.partial = append(t.partial, data...)
			break
		}
		line := data[:i]
		if len(t.partial) > 0 {
			line = append(t.partial, line...)
			t.partial = t.partial[:0]
		}
		t.emitLocked(strings.TrimSuffix(string(line), "\r"))
		data = data[i+1:]
	}
	return len(p), nil
}

// flush writes an unfinished last line.
func (t *transcript) flush() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.partial) > 0 {
		t.emitLocked(string(t.partial))
		t.partial = t.partial[:0]
	}
}

// emitLocked classifies and writes one line.
func (t *transcript) emitLocked(line string) {
	code, isReply := replyCode(line)
	switch {
	case t.state == stateData:
		if line == "." {
			t.state = stateCommands
		}
		t.writeLocked("C: ", line)
	case t.state == stateAuth && !isReply:
		t.writeLocked("C: ", redact.Text)
	case isReply:
		if t.state == stateAuth && code != 334 {
			t.state = stateCommands
		}
		if code == 354 {
			t.state = stateData
		}
		t.writeLocked("S: ", line)
	default:
		if verb, _, _ := strings.Cut(line, " "); strings.EqualFold(verb, "AUTH") {
			fields := strings.Fields(line)
			line = "AUTH"
			if len(fields) > 1 {
				line += " " + fields[1]
			}
			if len(fields) > 2 {
				line += " " + redact.Text
			}
			t.state = stateAuth
		}
		t.writeLocked("C: ", line)
	}
}

func (t *transcript) writeLocked(dir, line string) {
	_, _ = io.WriteString(t.out, t.prefix+dir+t.secrets.Scrub(line)+"\n")
}

// replyCode parses the code of a server reply line ("250-...", "354 ...").
func replyCode(line string) (int, bool) {
	if len(line) < 3 || len(line) > 3 && line[3] != ' ' && line[3] != '-' {
		return 0, false
	}
	code := 0
	for i := 0; i < 3; i++ {
		c := line[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		code = code*10 + int(c-'0')
	}
	return code, true
}
