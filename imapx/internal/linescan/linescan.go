// Package linescan follows one direction of an IMAP byte stream and tells
// line text from literal data, so that a connection wrapper can look at
// commands and responses (to redact, count or rewrite them) without parsing
// IMAP. imapx's client and imapxtest's server need such wrappers because
// go-imap v2.0.0-beta.8 offers no per-direction, redacted view of the
// dialogue (its DebugWriter mixes both directions and shows tokens), drops
// the text of a BYE, and advertises capabilities its options did not ask
// for; the tests named TestUpstream... in those packages pin each of these.
package linescan

import "bytes"

// MaxLine is the longest line segment a Scanner holds before it hands the
// text over in pieces. IMAP lines are far shorter; a longer one is passed on
// in pieces (Line is called with whole == false), and only its end is
// examined for a literal announcement.
const MaxLine = 64 << 10

// maxLiteralDigits bounds the literal length a Scanner accepts (10^18 bytes).
const maxLiteralDigits = 18

// Scanner splits a byte stream into line segments and literal data. A line
// segment is the text up to and including CRLF; a segment that ends with a
// literal announcement ("{123}", "{123+}", "~{123}") is followed by that
// many bytes of literal data, then by the next segment of the same command
// or response.
//
// The zero Scanner is ready; set the callbacks before the first Write.
type Scanner struct {
	// Line receives each line segment, CRLF included. first reports
	// whether the segment begins a command or response (false for the
	// text after a literal); whole is false for the pieces of an
	// over-long line. The slice is only valid during the call.
	Line func(seg []byte, first, whole bool)
	// Literal receives literal data. The slice is only valid during the
	// call.
	Literal func(p []byte)

	buf      []byte
	tail     []byte // the end of an over-long line
	literal  int64  // literal bytes still to come
	cont     bool   // the next segment continues a command or response
	overlong bool   // inside a line longer than MaxLine
}

// Write feeds p to the scanner. It never fails.
func (s *Scanner) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if s.literal > 0 {
			k := int64(len(p))
			if k > s.literal {
				k = s.literal
			}
			if s.Literal != nil {
				s.Literal(p[:k])
			}
			s.literal -= k
			p = p[k:]
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if s.overlong || len(s.buf)+len(p) > MaxLine {
				s.emitPiece(p)
			} else {
				s.buf = append(s.buf, p...)
			}
			return n, nil
		}
		line := p[:i+1]
		p = p[i+1:]
		var seg []byte
		if s.overlong || len(s.buf)+len(line) > MaxLine {
			s.emitPiece(line)
			seg = s.tail
			s.overlong = false
		} else {
			seg = line
			if len(s.buf) > 0 {
				s.buf = append(s.buf, line...)
				seg = s.buf
			}
			if s.Line != nil {
				s.Line(seg, !s.cont, true)
			}
		}
		size, ok := LiteralSize(seg)
		s.buf, s.tail = s.buf[:0], s.tail[:0]
		s.cont = ok
		s.literal = size
	}
	return n, nil
}

// maxTail is how much of an over-long line is kept to find a literal
// announcement at its end.
const maxTail = 32

// emitPiece passes on part of an over-long line.
func (s *Scanner) emitPiece(p []byte) {
	first := !s.cont && !s.overlong
	if len(s.buf) > 0 {
		if s.Line != nil {
			s.Line(s.buf, first, false)
		}
		first = false
		s.tail = append(s.tail[:0], s.buf[max(0, len(s.buf)-maxTail):]...)
		s.buf = s.buf[:0]
	}
	if s.Line != nil {
		s.Line(p, first, false)
	}
	s.tail = append(s.tail, p[max(0, len(p)-maxTail):]...)
	if len(s.tail) > maxTail {
		s.tail = append(s.tail[:0], s.tail[len(s.tail)-maxTail:]...)
	}
	s.overlong = true
}

// LiteralSize reports whether seg (a line segment with its line ending)
// announces a literal, and its length.
func LiteralSize(seg []byte) (int64, bool) {
	seg = bytes.TrimSuffix(seg, []byte("\n"))
	seg = bytes.TrimSuffix(seg, []byte("\r"))
	if len(seg) < 3 || seg[len(seg)-1] != '}' {
		return 0, false
	}
	seg = seg[:len(seg)-1]
	if n := len(seg); n > 0 && (seg[n-1] == '+' || seg[n-1] == '-') {
		seg = seg[:n-1]
	}
	open := bytes.LastIndexByte(seg, '{')
	digits := seg[open+1:]
	if open < 0 || len(digits) == 0 || len(digits) > maxLiteralDigits {
		return 0, false
	}
	var size int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		size = size*10 + int64(c-'0')
	}
	return size, true
}

// Trim returns seg without its line ending.
func Trim(seg []byte) []byte {
	seg = bytes.TrimSuffix(seg, []byte("\n"))
	return bytes.TrimSuffix(seg, []byte("\r"))
}
