package authorize

import (
	"net/url"
	"testing"

	"golang.org/x/oauth2"
)

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

func TestAuthCodeURLKeepsItsOwnParameters(t *testing.T) {
	verifier := oauth2.GenerateVerifier()
	params := url.Values{"state": {"forged"}, "redirect_uri": {"https://evil.example/"}, "prompt": {"consent"}}
	u, err := url.Parse(authCodeURL("https://idp.example/authorize?mkt=de-DE", "app-1", "https://app.example/cb",
		[]string{"a", "b"}, "the-state", verifier, params, "bob@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for k, want := range map[string]string{
		"mkt": "de-DE", "response_type": "code", "client_id": "app-1", "redirect_uri": "https://app.example/cb",
		"scope": "a b", "state": "the-state", "code_challenge_method": "S256",
		"code_challenge": oauth2.S256ChallengeFromVerifier(verifier), "prompt": "consent", "login_hint": "bob@example.com",
	} {
		if q.Get(k) != want || len(q[k]) != 1 {
			t.Errorf("%s = %q, want %q once", k, q[k], want)
		}
	}
	if q.Has("code_verifier") {
		t.Error("the verifier is in the authorization request")
	}
}
