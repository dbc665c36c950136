package auth

import (
	"errors"
	"testing"
)

// serverSeeds are well-formed and broken responses for both mechanisms.
var serverSeeds = []string{
	"",
	"\x01",
	"\x01\x01",
	"user=alice@example.com\x01auth=Bearer tok\x01\x01",
	"user=a\x01auth=bearer t\x01\x01",
	"user=\x01auth=Bearer t\x01\x01",
	"user=a\x01auth=Bearer \x01\x01",
	"user=a\x01auth=Bearer t\x01",
	"user=a\x01auth=Bearer t\x01x=y\x01\x01",
	"n,a=user@example.com,\x01auth=Bearer tok\x01\x01",
	"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01",
	"n,a=a=2Cb=3Dc,\x01auth=Bearer t\x01\x01",
	"n,a=a=2,\x01auth=Bearer t\x01\x01",
	"n,a=a=",
	"y,,\x01mthd=POST\x01auth=BEARER t\x01\x01",
	"p=tls-unique,,\x01auth=Bearer t\x01\x01",
	"n,user=someuser@example.com,\x01auth=Bearer t\x01\x01",
	"n,,\x01port=0143\x01auth=Bearer t\x01\x01",
	"n,,\x01auth=Bearer t\x01\x01trailing",
}

// fuzzServer feeds a first message and a reply to a fresh server and checks
// that it never panics, that an accepted response round-trips through the
// client that would have produced it, and that a refusal wraps verify's
// error.
func fuzzServer(t *testing.T, mech Mechanism, first, reply []byte) {
	var gotUser, gotToken string
	calls := 0
	errRefused := errors.New("refused")
	accept := len(reply)%2 == 0 // vary the verdict with the input
	verify := func(username, token string) error {
		calls++
		gotUser, gotToken = username, token
		if accept {
			return nil
		}
		return errRefused
	}
	var s = newBearerServer(mech, verify)
	challenge, done, err := s.Next(first)
	if err != nil {
		if !errors.Is(err, ErrMalformedResponse) {
			t.Fatalf("first Next error %v does not wrap ErrMalformedResponse", err)
		}
		if calls != 0 {
			t.Fatal("verify called for a malformed response")
		}
		return
	}
	if calls == 0 {
		// Only a missing initial response may skip parsing.
		if first != nil || done || len(challenge) != 0 {
			t.Fatalf("Next(%q) = %q, %v without verifying", first, challenge, done)
		}
		return
	}
	// The response parsed: the client given the same name and token must
	// produce exactly the same bytes, except for OAUTHBEARER's optional
	// keys and spelling, which the client does not vary.
	if mech == XOAUTH2 {
		want, cerr := xoauth2Response(gotUser, gotToken)
		if cerr != nil {
			t.Fatalf("server accepted %q but the client refuses (%q, %q): %v", first, gotUser, gotToken, cerr)
		}
		// Only the scheme's case may differ.
		got := []byte(string(first))
		if at := len(xoauth2UserKey) + len(gotUser) + len(kvsep) + len("auth="); len(got) >= at+len("Bearer") {
			copy(got[at:], "Bearer")
		}
		if string(got) != string(want) {
			t.Fatalf("server accepted %q, client would send %q", first, want)
		}
	} else if _, cerr := oauthBearerResponse(gotUser, gotToken, "", 0); cerr != nil {
		t.Fatalf("server accepted %q but the client refuses (%q, %q): %v", first, gotUser, gotToken, cerr)
	}
	if accept {
		if !done || challenge != nil {
			t.Fatalf("accepted but Next = %q, %v", challenge, done)
		}
		return
	}
	if done || len(challenge) == 0 {
		t.Fatalf("refused but Next = %q, %v; want the error challenge", challenge, done)
	}
	if _, done, err := s.Next(reply); done || !errors.Is(err, errRefused) {
		t.Fatalf("after the reply %q: done=%v err=%v; want failure wrapping verify's error", reply, done, err)
	}
}

func FuzzXOAUTH2Server(f *testing.F) {
	for _, s := range serverSeeds {
		f.Add([]byte(s), []byte{})
		f.Add([]byte(s), []byte{1})
	}
	f.Fuzz(func(t *testing.T, first, reply []byte) {
		fuzzServer(t, XOAUTH2, first, reply)
	})
}

func FuzzOAuthBearerServer(f *testing.F) {
	for _, s := range serverSeeds {
		f.Add([]byte(s), []byte{})
		f.Add([]byte(s), []byte{1})
	}
	f.Fuzz(func(t *testing.T, first, reply []byte) {
		fuzzServer(t, OAUTHBEARER, first, reply)
	})
}

// FuzzParseChallenge checks that any challenge parses without panicking and
// that the client always answers it with the mechanism's completion.
func FuzzParseChallenge(f *testing.F) {
	for _, s := range []string{
		"",
		`{"status":"401","schemes":"bearer","scope":"mail"}`,
		`{"status":401}`,
		`{"status":"invalid_token","openid-configuration":"https://x/.well-known/openid-configuration"}`,
		`{"status":null,"scope":["a","b"],"schemes":{"x":1}}`,
		"[1,2]",
		`{"status":"40`,
		"\xff\xfe",
		"null",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, challenge []byte) {
		ce := ParseChallenge(challenge)
		if ce.Raw != string(challenge) {
			t.Fatalf("Raw = %q, want %q", ce.Raw, challenge)
		}
		_ = ce.Error()
		for mech, want := range map[Mechanism]string{XOAUTH2: "", OAUTHBEARER: "\x01"} {
			c := NewClient(mech, "u", "tok")
			c.Start()
			resp, err := c.Next(challenge)
			if err != nil || resp == nil || string(resp) != want {
				t.Fatalf("%s answered %q, %v; want %q", mech, resp, err, want)
			}
		}
	})
}
