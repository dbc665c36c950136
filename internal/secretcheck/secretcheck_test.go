package secretcheck

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestLeaksFindsRawAndBase64Forms(t *testing.T) {
	var s Suite
	s.Secret("tok-0123456789abcdef")
	s.Text("nothing here")
	if n := len(s.Leaks()); n != 0 {
		t.Fatalf("%d leaks in clean texts", n)
	}
	s.Output().Write([]byte("user=x auth=" + base64.StdEncoding.EncodeToString([]byte("\x01Bearer tok-0123456789abcdef\x01"))))
	s.Text("error: tok-0123456789abcdef refused")
	leaks := s.Leaks()
	if len(leaks) < 2 {
		t.Fatalf("want the raw and the base64 leak, got %q", leaks)
	}
	for _, l := range leaks {
		if strings.Contains(l, "tok-0123") {
			t.Fatalf("a leak report holds the secret: %q", l)
		}
	}
	if secrets, texts := s.Counts(); secrets != 1 || texts != 3 {
		t.Fatalf("counts %d, %d", secrets, texts)
	}
}
