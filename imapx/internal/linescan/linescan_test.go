package linescan

import (
	"fmt"
	"strings"
	"testing"
)

func TestLiteralSize(t *testing.T) {
	cases := []struct {
		seg  string
		size int64
		ok   bool
	}{
		{"* 1 FETCH (UID 1 BODY[] {20480}\r\n", 20480, true},
		{"A1 APPEND INBOX {12+}\r\n", 12, true},
		{"A1 APPEND INBOX {12-}\r\n", 12, true},
		{"* 1 FETCH (BINARY[] ~{7}\r\n", 7, true},
		{"* 1 FETCH (BODY[] {0}\n", 0, true},
		{"* OK done\r\n", 0, false},
		{"* OK {x}\r\n", 0, false},
		{"* OK {}\r\n", 0, false},
		{"}\r\n", 0, false},
		{"* OK {1234567890123456789}\r\n", 0, false},
	}
	for _, tc := range cases {
		size, ok := LiteralSize([]byte(tc.seg))
		if size != tc.size || ok != tc.ok {
			t.Errorf("LiteralSize(%q) = %d, %v; want %d, %v", tc.seg, size, ok, tc.size, tc.ok)
		}
	}
}

// record scans input written in pieces of every size and returns what
// the callbacks saw.
func record(t *testing.T, input string, piece int) string {
	t.Helper()
	var b strings.Builder
	var lit strings.Builder
	s := Scanner{
		Line: func(seg []byte, first, whole bool) {
			if lit.Len() > 0 {
				fmt.Fprintf(&b, "LIT %q\n", lit.String())
				lit.Reset()
			}
			fmt.Fprintf(&b, "LINE first=%v whole=%v %q\n", first, whole, seg)
		},
		Literal: func(p []byte) { lit.Write(p) },
	}
	for i := 0; i < len(input); i += piece {
		end := min(i+piece, len(input))
		if n, err := s.Write([]byte(input[i:end])); n != end-i || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if lit.Len() > 0 {
		fmt.Fprintf(&b, "LIT %q\n", lit.String())
	}
	return b.String()
}

func TestScannerSplitsLinesAndLiterals(t *testing.T) {
	input := "* 1 FETCH (UID 7 BODY[] {12}\r\nhello\r\nworld FLAGS (\\Seen))\r\n" +
		"* BYE bye\r\n" +
		"A1 OK done\r\n"
	want := "LINE first=true whole=true \"* 1 FETCH (UID 7 BODY[] {12}\\r\\n\"\n" +
		"LIT \"hello\\r\\nworld\"\n" +
		"LINE first=false whole=true \" FLAGS (\\\\Seen))\\r\\n\"\n" +
		"LINE first=true whole=true \"* BYE bye\\r\\n\"\n" +
		"LINE first=true whole=true \"A1 OK done\\r\\n\"\n"
	for piece := 1; piece <= len(input); piece++ {
		if got := record(t, input, piece); got != want {
			t.Fatalf("pieces of %d:\n%s\nwant:\n%s", piece, got, want)
		}
	}
}

func TestScannerPassesOverlongLines(t *testing.T) {
	long := "* OK " + strings.Repeat("x", MaxLine+10) + "\r\n"
	var firsts, wholes int
	s := Scanner{Line: func(seg []byte, first, whole bool) {
		if first {
			firsts++
		}
		if whole {
			wholes++
		}
	}}
	s.Write([]byte(long[:MaxLine/2]))
	s.Write([]byte(long[MaxLine/2:]))
	s.Write([]byte("A1 OK\r\n"))
	// An over-long line that ends with a literal announcement.
	s.Write([]byte("* 1 FETCH (ENVELOPE (" + strings.Repeat("y", MaxLine) + ") BODY[] {5}\r\n12345)\r\n"))
	s.Write([]byte("A2 OK\r\n"))
	if firsts != 4 || wholes != 3 {
		t.Errorf("%d first pieces and %d whole lines, want 4 and 3 (the text after the literal continues its response)", firsts, wholes)
	}
}
