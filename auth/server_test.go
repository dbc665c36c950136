package auth

import (
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
)

var errBadToken = errors.New("token expired")

// verifyOnly accepts one user and token and records what it was given.
type verifyOnly struct {
	user, token string
	calls       int
	gotUser     string
	gotToken    string
}

func (v *verifyOnly) verify(username, token string) error {
	v.calls++
	v.gotUser, v.gotToken = username, token
	if username != v.user || token != v.token {
		return errBadToken
	}
	return nil
}

func newTestServer(mech Mechanism, v *verifyOnly) sasl.Server {
	if mech == OAUTHBEARER {
		return NewOAuthBearerServer(v.verify)
	}
	return NewXOAUTH2Server(v.verify)
}

func TestServerAcceptsWellFormedResponses(t *testing.T) {
	tests := []struct {
		name     string
		mech     Mechanism
		response string
		user     string
		token    string
	}{
		{"XOAUTH2", XOAUTH2, "user=alice@example.com\x01auth=Bearer tok\x01\x01", "alice@example.com", "tok"},
		{"XOAUTH2 scheme in lower case", XOAUTH2, "user=a\x01auth=bearer tok\x01\x01", "a", "tok"},
		{"XOAUTH2 user with comma and equals", XOAUTH2, "user=a,b=c\x01auth=Bearer t.o-k_~+/=\x01\x01", "a,b=c", "t.o-k_~+/="},
		{"OAUTHBEARER", OAUTHBEARER, "n,a=user@example.com,\x01auth=Bearer tok\x01\x01", "user@example.com", "tok"},
		{"OAUTHBEARER RFC 7628 §4.1", OAUTHBEARER, "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01", "user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="},
		{"OAUTHBEARER escaped authzid", OAUTHBEARER, "n,a=a=2Cb=3Dc,\x01auth=Bearer tok\x01\x01", "a,b=c", "tok"},
		{"OAUTHBEARER no authzid", OAUTHBEARER, "n,,\x01auth=Bearer tok\x01\x01", "", "tok"},
		{"OAUTHBEARER y flag, unknown key, port 0", OAUTHBEARER, "y,,\x01mthd=POST\x01port=0\x01auth=BEARER tok\x01\x01", "", "tok"},
		{"OAUTHBEARER value with spaces in an unknown key", OAUTHBEARER, "n,,\x01qs=a b\tc\x01auth=Bearer tok\x01\x01", "", "tok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &verifyOnly{user: tt.user, token: tt.token}
			s := newTestServer(tt.mech, v)
			challenge, done, err := s.Next([]byte(tt.response))
			if err != nil || !done || challenge != nil {
				t.Fatalf("Next = %q, %v, %v; want nil, true, nil", challenge, done, err)
			}
			if v.calls != 1 || v.gotUser != tt.user || v.gotToken != tt.token {
				t.Errorf("verify got (%q, %q) in %d calls, want (%q, %q) once", v.gotUser, v.gotToken, v.calls, tt.user, tt.token)
			}
			if _, _, err := s.Next([]byte("more")); !errors.Is(err, sasl.ErrUnexpectedClientResponse) {
				t.Errorf("Next after success: %v, want ErrUnexpectedClientResponse", err)
			}
		})
	}
}

func TestServerRejectsMalformedResponses(t *testing.T) {
	const tok = "SECRETtoken"
	tests := []struct {
		name     string
		mech     Mechanism
		response string
		wantErr  string
	}{
		{"XOAUTH2 empty", XOAUTH2, "", "empty response"},
		{"XOAUTH2 no terminator", XOAUTH2, "user=a\x01auth=Bearer " + tok, `does not end with \x01\x01`},
		{"XOAUTH2 one terminator", XOAUTH2, "user=a\x01auth=Bearer " + tok + "\x01", `does not end with \x01\x01`},
		{"XOAUTH2 fields swapped", XOAUTH2, "auth=Bearer " + tok + "\x01user=a\x01\x01", `first field is not "user="`},
		{"XOAUTH2 extra field", XOAUTH2, "user=a\x01auth=Bearer " + tok + "\x01x=y\x01\x01", "want the 2 fields user and auth, got 3"},
		{"XOAUTH2 only user", XOAUTH2, "user=a\x01\x01", "got 1"},
		{"XOAUTH2 empty user", XOAUTH2, "user=\x01auth=Bearer " + tok + "\x01\x01", "empty user name"},
		{"XOAUTH2 user with CR", XOAUTH2, "user=a\r\x01auth=Bearer " + tok + "\x01\x01", "user name has a control character"},
		{"XOAUTH2 wrong scheme", XOAUTH2, "user=a\x01auth=Basic " + tok + "\x01\x01", `does not start with "Bearer "`},
		{"XOAUTH2 no space", XOAUTH2, "user=a\x01auth=Bearer\x01\x01", `does not start with "Bearer "`},
		{"XOAUTH2 empty token", XOAUTH2, "user=a\x01auth=Bearer \x01\x01", "empty bearer token"},
		{"XOAUTH2 two spaces", XOAUTH2, "user=a\x01auth=Bearer  " + tok + "\x01\x01", "at byte 0"},
		{"XOAUTH2 token with space", XOAUTH2, "user=a\x01auth=Bearer SECRET token\x01\x01", "at byte 6"},
		{"XOAUTH2 auth key missing", XOAUTH2, "user=a\x01Bearer " + tok + "\x01\x01", `no "auth=" field`},
		{"XOAUTH2 only terminators", XOAUTH2, "\x01\x01", "got 1"},
		{"OAUTHBEARER empty", OAUTHBEARER, "", "empty response"},
		{"OAUTHBEARER lone kvsep", OAUTHBEARER, "\x01", "not a client response"},
		{"OAUTHBEARER no GS2 header", OAUTHBEARER, "auth=Bearer " + tok, "no GS2 header"},
		{"OAUTHBEARER channel binding", OAUTHBEARER, "p=tls-unique,,\x01auth=Bearer " + tok + "\x01\x01", "channel binding"},
		{"OAUTHBEARER unknown flag", OAUTHBEARER, "x,,\x01auth=Bearer " + tok + "\x01\x01", "unknown GS2 channel-binding flag"},
		{"OAUTHBEARER unterminated header", OAUTHBEARER, "n,a=u", "GS2 header does not end"},
		{"OAUTHBEARER user= instead of a= (RFC 7628 §4.4 example)", OAUTHBEARER, "n,user=someuser@example.com,\x01auth=Bearer " + tok + "\x01\x01", `does not start with "a="`},
		{"OAUTHBEARER empty authzid", OAUTHBEARER, "n,a=,\x01auth=Bearer " + tok + "\x01\x01", "empty GS2 authzid"},
		{"OAUTHBEARER bad escape", OAUTHBEARER, "n,a=a=2D,\x01auth=Bearer " + tok + "\x01\x01", "bad escape at byte 1"},
		{"OAUTHBEARER escape cut short", OAUTHBEARER, "n,a=a=2,\x01auth=Bearer " + tok + "\x01\x01", "bad escape"},
		{"OAUTHBEARER bare equals at end", OAUTHBEARER, "n,a=a=,\x01auth=Bearer " + tok + "\x01\x01", "bad escape"},
		{"OAUTHBEARER authzid not UTF-8", OAUTHBEARER, "n,a=\xff,\x01auth=Bearer " + tok + "\x01\x01", "not UTF-8"},
		{"OAUTHBEARER no kvsep after header", OAUTHBEARER, "n,,auth=Bearer " + tok + "\x01\x01", `no \x01 after the GS2 header`},
		{"OAUTHBEARER header only", OAUTHBEARER, "n,,", `no \x01 after the GS2 header`},
		{"OAUTHBEARER no final kvsep", OAUTHBEARER, "n,,\x01auth=Bearer " + tok + "\x01", `does not end with \x01\x01`},
		{"OAUTHBEARER unterminated pair", OAUTHBEARER, "n,,\x01auth=Bearer " + tok, "not terminated"},
		{"OAUTHBEARER data after end", OAUTHBEARER, "n,,\x01auth=Bearer " + tok + "\x01\x01x", "data after the closing"},
		{"OAUTHBEARER no auth", OAUTHBEARER, "n,,\x01host=h\x01\x01", `no "auth" key`},
		{"OAUTHBEARER no pairs at all", OAUTHBEARER, "n,,\x01\x01", `no "auth" key`},
		{"OAUTHBEARER pair without equals", OAUTHBEARER, "n,,\x01auth\x01\x01", "without '='"},
		{"OAUTHBEARER empty key", OAUTHBEARER, "n,,\x01=x\x01auth=Bearer " + tok + "\x01\x01", "empty key"},
		{"OAUTHBEARER key with digit", OAUTHBEARER, "n,,\x01h0st=x\x01auth=Bearer " + tok + "\x01\x01", "not made of letters"},
		{"OAUTHBEARER value with NUL", OAUTHBEARER, "n,,\x01host=a\x00b\x01auth=Bearer " + tok + "\x01\x01", `value of key "host" has a forbidden character at byte 1`},
		{"OAUTHBEARER auth twice", OAUTHBEARER, "n,,\x01auth=Bearer a\x01auth=Bearer " + tok + "\x01\x01", `key "auth" given twice`},
		{"OAUTHBEARER port leading zero", OAUTHBEARER, "n,,\x01port=0143\x01auth=Bearer " + tok + "\x01\x01", "port"},
		{"OAUTHBEARER port too big", OAUTHBEARER, "n,,\x01port=65536\x01auth=Bearer " + tok + "\x01\x01", "port"},
		{"OAUTHBEARER port with sign", OAUTHBEARER, "n,,\x01port=+1\x01auth=Bearer " + tok + "\x01\x01", "port"},
		{"OAUTHBEARER empty port", OAUTHBEARER, "n,,\x01port=\x01auth=Bearer " + tok + "\x01\x01", "port"},
		{"OAUTHBEARER wrong scheme", OAUTHBEARER, "n,,\x01auth=MAC " + tok + "\x01\x01", `does not start with "Bearer "`},
		{"OAUTHBEARER token with tab", OAUTHBEARER, "n,,\x01auth=Bearer SECRET\ttoken\x01\x01", "at byte 6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &verifyOnly{user: "a", token: tok}
			s := newTestServer(tt.mech, v)
			challenge, done, err := s.Next([]byte(tt.response))
			if err == nil {
				t.Fatalf("Next = %q, %v, nil; want an error", challenge, done)
			}
			if !errors.Is(err, ErrMalformedResponse) {
				t.Errorf("error %v does not wrap ErrMalformedResponse", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), tok) || strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error %q shows the token", err)
			}
			if v.calls != 0 {
				t.Errorf("verify called %d times for a malformed response", v.calls)
			}
			if _, _, err := s.Next([]byte(tt.response)); !errors.Is(err, sasl.ErrUnexpectedClientResponse) {
				t.Errorf("Next after failure: %v, want ErrUnexpectedClientResponse", err)
			}
		})
	}
}

func TestServerWithoutInitialResponseAsksWithEmptyChallenge(t *testing.T) {
	for _, tt := range []struct {
		mech     Mechanism
		response string
	}{
		{XOAUTH2, "user=a\x01auth=Bearer tok\x01\x01"},
		{OAUTHBEARER, "n,a=a,\x01auth=Bearer tok\x01\x01"},
	} {
		t.Run(string(tt.mech), func(t *testing.T) {
			v := &verifyOnly{user: "a", token: "tok"}
			s := newTestServer(tt.mech, v)
			challenge, done, err := s.Next(nil)
			if err != nil || done || len(challenge) != 0 {
				t.Fatalf("Next(nil) = %q, %v, %v; want an empty challenge", challenge, done, err)
			}
			if _, done, err := s.Next([]byte(tt.response)); err != nil || !done {
				t.Fatalf("Next(response) = %v, %v; want success", done, err)
			}
		})
	}
}

func TestServerRefusalSendsErrorChallengeThenFails(t *testing.T) {
	tests := []struct {
		name          string
		mech          Mechanism
		response      string
		wantChallenge string
		reply         string
		wantErr       string
	}{
		{
			name: "XOAUTH2", mech: XOAUTH2,
			response:      "user=alice\x01auth=Bearer old\x01\x01",
			wantChallenge: `{"status":"401","schemes":"bearer","scope":"mail"}`,
			reply:         "",
			wantErr:       `auth: XOAUTH2: token refused for "alice": token expired`,
		},
		{
			name: "XOAUTH2 wrong completion", mech: XOAUTH2,
			response:      "user=alice\x01auth=Bearer old\x01\x01",
			wantChallenge: `{"status":"401","schemes":"bearer","scope":"mail"}`,
			reply:         "\x01",
			wantErr:       "answered the error challenge with 1 bytes",
		},
		{
			name: "OAUTHBEARER", mech: OAUTHBEARER,
			response:      "n,a=alice,\x01auth=Bearer old\x01\x01",
			wantChallenge: `{"status":"invalid_token"}`,
			reply:         "\x01",
			wantErr:       `auth: OAUTHBEARER: token refused for "alice": token expired`,
		},
		{
			// go-sasl's own server indexes this empty reply and panics.
			name: "OAUTHBEARER empty completion", mech: OAUTHBEARER,
			response:      "n,a=alice,\x01auth=Bearer old\x01\x01",
			wantChallenge: `{"status":"invalid_token"}`,
			reply:         "",
			wantErr:       `answered the error challenge with 0 bytes instead of "\x01"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &verifyOnly{user: "alice", token: "new"}
			s := newTestServer(tt.mech, v)
			challenge, done, err := s.Next([]byte(tt.response))
			if err != nil || done {
				t.Fatalf("Next(response) = %q, %v, %v; want the error challenge", challenge, done, err)
			}
			if string(challenge) != tt.wantChallenge {
				t.Errorf("challenge = %s, want %s", challenge, tt.wantChallenge)
			}
			_, done, err = s.Next([]byte(tt.reply))
			if err == nil || done {
				t.Fatalf("Next(reply) = %v, %v; want failure", done, err)
			}
			if !errors.Is(err, errBadToken) {
				t.Errorf("error %v does not wrap verify's error", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestServerWithNilVerifyRefuses(t *testing.T) {
	s := NewXOAUTH2Server(nil)
	if _, done, err := s.Next([]byte("user=a\x01auth=Bearer t\x01\x01")); done || err != nil {
		t.Fatalf("got done=%v err=%v, want the error challenge", done, err)
	}
	if _, _, err := s.Next([]byte{}); err == nil || !strings.Contains(err.Error(), "no verify function") {
		t.Errorf("error = %v, want one naming the missing verify function", err)
	}
}

// TestClientAgainstServer runs each client against each server in a loop
// that plays the transport.
func TestClientAgainstServer(t *testing.T) {
	for _, mech := range []Mechanism{XOAUTH2, OAUTHBEARER} {
		for _, twoStep := range []bool{false, true} {
			for _, good := range []bool{true, false} {
				name := string(mech)
				if twoStep {
					name += "/two-step"
				}
				if !good {
					name += "/refused"
				}
				t.Run(name, func(t *testing.T) {
					v := &verifyOnly{user: "a,b=c@example.com", token: testToken}
					token := testToken
					if !good {
						token = "stale" + testToken
					}
					c := NewClient(mech, v.user, token)
					if twoStep {
						c = TwoStep(c)
					}
					err := exchange(c, newTestServer(mech, v))
					if good {
						if err != nil {
							t.Fatalf("exchange: %v", err)
						}
						if Challenge(c) != nil {
							t.Error("Challenge set after success")
						}
						return
					}
					if !errors.Is(err, errBadToken) {
						t.Fatalf("exchange error = %v, want verify's error", err)
					}
					if ce := Challenge(c); ce == nil || ce.Status == "" {
						t.Errorf("Challenge = %v, want the parsed error challenge", ce)
					}
				})
			}
		}
	}
}

// exchange plays a transport: it moves messages between c and s until one
// side finishes. It returns the server's error, or the client's.
func exchange(c sasl.Client, s sasl.Server) error {
	_, resp, err := c.Start()
	if err != nil {
		return err
	}
	for range 10 {
		challenge, done, err := s.Next(resp)
		if err != nil || done {
			return err
		}
		if challenge == nil {
			challenge = []byte{} // the transports decode "334 " to an empty slice
		}
		if resp, err = c.Next(challenge); err != nil {
			return err
		}
		if resp == nil {
			return errors.New("client returned a nil response")
		}
	}
	return errors.New("exchange did not end")
}
