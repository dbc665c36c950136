package imapx

import (
	"bytes"
	"net"
	"strings"
	"sync"

	"github.com/mailoauth/mailoauth/imapx/internal/linescan"
	"github.com/mailoauth/mailoauth/internal/redact"
)

// emptySASLResponse is what go-imap v2.0.0-beta.8 writes for an empty SASL
// response after a continuation; IMAP (RFC 9051 §6.2.2) and Google's
// XOAUTH2 error completion want an empty line instead (emersion/go-imap
// issue 760, fix proposed in pull request 761;
// TestUpstreamEmptySASLResponseIsEquals pins it).
var emptySASLResponse = []byte("=\r\n")

// wireConn is the connection under go-imap's client. It follows both
// directions of the dialogue (go-imap's DebugWriter mixes them and shows
// the token: TestUpstreamDebugWriterShowsTheToken) to
//   - write the redacted transcript to Options.Debug,
//   - remember a "* BYE" and a throttling reply, which go-imap v2.0.0-beta.8
//     reports only as a closed connection or a bare error (no upstream
//     issue; TestUpstreamByeTextIsLost),
//   - send the empty answer to a SASL challenge as an empty line, not "=".
type wireConn struct {
	net.Conn
	tr *transcript // nil without Options.Debug

	mu       sync.Mutex // guards the fields below, the scanners and Conn swaps
	in, out  linescan.Scanner
	authTag  string // tag of the AUTHENTICATE in progress; "" outside one
	bye      string // the text of the "* BYE", raw
	byeSeen  bool
	throttle string // the last throttling status line, raw: "BAD Request is throttled. ..."
}

func newWireConn(c net.Conn, tr *transcript) *wireConn {
	w := &wireConn{Conn: c, tr: tr}
	w.in.Line = w.serverLine
	w.out.Line = w.clientLine
	return w
}

// swap replaces the connection underneath (after STARTTLS).
func (w *wireConn) swap(c net.Conn) {
	w.mu.Lock()
	w.Conn = c
	w.mu.Unlock()
}

func (w *wireConn) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if n > 0 {
		w.mu.Lock()
		w.in.Write(p[:n])
		w.mu.Unlock()
	}
	return n, err
}

func (w *wireConn) Write(p []byte) (int, error) {
	w.mu.Lock()
	data := p
	if w.authTag != "" && bytes.Equal(p, emptySASLResponse) {
		data = emptySASLResponse[1:]
	}
	w.out.Write(data)
	w.mu.Unlock()
	if _, err := w.Conn.Write(data); err != nil {
		return 0, err
	}
	return len(p), nil
}

// serverLine looks at a line the server sent; w.mu is held.
func (w *wireConn) serverLine(seg []byte, first, whole bool) {
	line := linescan.Trim(seg)
	if first && whole {
		tag, rest, _ := bytes.Cut(line, []byte(" "))
		kind, text, _ := bytes.Cut(rest, []byte(" "))
		switch {
		case string(tag) == "*" && strings.EqualFold(string(kind), "BYE"):
			w.bye, w.byeSeen = string(text), true
		case w.authTag != "" && string(tag) == w.authTag:
			w.authTag = ""
		}
		if isStatus(kind) && isThrottle(string(text)) {
			w.throttle = string(rest)
		}
	}
	if w.tr != nil {
		w.tr.line("S: ", line)
		if n, ok := linescan.LiteralSize(seg); ok && n > 0 && whole {
			w.tr.literal("S: ", n)
		}
	}
}

// isStatus reports whether kind names a status response that can refuse
// or end something (RFC 9051 §7.1): not the OK of every command, nor the
// untagged data of a FETCH.
func isStatus(kind []byte) bool {
	return strings.EqualFold(string(kind), "NO") || strings.EqualFold(string(kind), "BAD") || strings.EqualFold(string(kind), "BYE")
}

// clientLine looks at a line the client sends; w.mu is held.
func (w *wireConn) clientLine(seg []byte, first, whole bool) {
	line := linescan.Trim(seg)
	if w.authTag != "" {
		// Inside AUTHENTICATE every client line is a SASL message.
		if w.tr != nil {
			if len(line) == 0 {
				w.tr.line("C: ", nil)
			} else {
				w.tr.line("C: ", []byte(redact.Text))
			}
		}
		return
	}
	if first && whole {
		fields := bytes.Fields(line)
		if len(fields) >= 2 {
			switch strings.ToUpper(string(fields[1])) {
			case "AUTHENTICATE":
				w.authTag = string(fields[0])
				if len(fields) > 3 {
					line = bytes.Join(append(fields[:3:3], []byte(redact.Text)), []byte(" "))
				}
			case "LOGIN":
				line = bytes.Join(append(fields[:2:2], []byte(redact.Text)), []byte(" "))
			}
		}
	}
	if w.tr != nil {
		w.tr.line("C: ", line)
		if n, ok := linescan.LiteralSize(seg); ok && n > 0 && whole {
			w.tr.literal("C: ", n)
		}
	}
}

// observed returns the BYE text and the throttling status line seen so far,
// raw: scrub them before use.
func (w *wireConn) observed() (bye string, byeSeen bool, throttle string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bye, w.byeSeen, w.throttle
}

// prefixConn is a connection whose first bytes come from r: after our
// STARTTLS exchange (see startTLS) go-imap's client needs a greeting to
// start from.
type prefixConn struct {
	net.Conn
	r *strings.Reader
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if p.r.Len() > 0 {
		return p.r.Read(b)
	}
	return p.Conn.Read(b)
}
