package authorize

import (
	"net/url"
	"regexp"
	"testing"
)

func TestPKCEChallengeMatchesRFC7636AppendixB(t *testing.T) {
	const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	if got, want := pkceChallenge(verifier), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"; got != want {
		t.Errorf("challenge = %q, want %q", got, want)
	}
}

func TestNewPKCEIsRandomAndWellFormed(t *testing.T) {
	unreserved := regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)
	seen := map[string]bool{}
	for range 100 {
		p := NewPKCE()
		if !unreserved.MatchString(p.Verifier) {
			t.Fatalf("verifier %q is not 43..128 unreserved characters", p.Verifier)
		}
		if p.Challenge != pkceChallenge(p.Verifier) {
			t.Fatal("challenge does not derive from verifier")
		}
		if seen[p.Verifier] {
			t.Fatal("verifier repeated")
		}
		seen[p.Verifier] = true
	}
	q := url.Values{}
	NewPKCE().AddTo(q)
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 {
		t.Errorf("AddTo set %v", q)
	}
}

func TestStateHasAtLeast128Bits(t *testing.T) {
	s := newState()
	// base64url without padding: 6 bits per character.
	if bits := len(s) * 6; bits < 128 {
		t.Errorf("state %q carries %d bits", s, bits)
	}
	if s == newState() {
		t.Error("state repeated")
	}
}
