package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
)

const testToken = "ya29.a0AfB_byC-EXAMPLE_token.with-dots_and~tilde+slash/=="

func TestClientInitialResponseBytes(t *testing.T) {
	tests := []struct {
		name     string
		client   sasl.Client
		wantMech string
		wantIR   string
		wantB64  string // when set, the base64 form on the wire
	}{
		{
			name:     "XOAUTH2",
			client:   NewClient(XOAUTH2, "alice@example.com", "tok123"),
			wantMech: "XOAUTH2",
			wantIR:   "user=alice@example.com\x01auth=Bearer tok123\x01\x01",
		},
		{
			name:     "XOAUTH2 Google's documented example",
			client:   NewClient(XOAUTH2, "someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"),
			wantMech: "XOAUTH2",
			// The Google XOAUTH2 page shows this message and its base64 form.
			wantIR:  "user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01",
			wantB64: "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==",
		},
		{
			name:     "XOAUTH2 user name is sent without escaping",
			client:   NewClient(XOAUTH2, "a,b=c@example.com", "tok"),
			wantMech: "XOAUTH2",
			wantIR:   "user=a,b=c@example.com\x01auth=Bearer tok\x01\x01",
		},
		{
			name:     "OAUTHBEARER",
			client:   NewClient(OAUTHBEARER, "user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="),
			wantMech: "OAUTHBEARER",
			wantIR:   "n,a=user@example.com,\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01",
		},
		{
			name:     "OAUTHBEARER escapes the authzid per RFC 5801",
			client:   NewClient(OAUTHBEARER, "a,b=c", "tok"),
			wantMech: "OAUTHBEARER",
			wantIR:   "n,a=a=2Cb=3Dc,\x01auth=Bearer tok\x01\x01",
		},
		{
			name:     "OAUTHBEARER without authzid",
			client:   NewClient(OAUTHBEARER, "", "tok"),
			wantMech: "OAUTHBEARER",
			wantIR:   "n,,\x01auth=Bearer tok\x01\x01",
		},
		{
			name:     "OAUTHBEARER with host and port, as RFC 7628 §4.1",
			client:   NewOAuthBearerClient("user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", "server.example.com", 143),
			wantMech: "OAUTHBEARER",
			wantIR:   "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mech, ir, err := tt.client.Start()
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			if mech != tt.wantMech {
				t.Errorf("mech = %q, want %q", mech, tt.wantMech)
			}
			if string(ir) != tt.wantIR {
				t.Errorf("initial response = %q, want %q", ir, tt.wantIR)
			}
			if tt.wantB64 != "" && base64.StdEncoding.EncodeToString(ir) != tt.wantB64 {
				t.Errorf("base64 = %s, want %s", base64.StdEncoding.EncodeToString(ir), tt.wantB64)
			}
		})
	}
}

func TestClientRejectsBadInputInStart(t *testing.T) {
	tests := []struct {
		name    string
		client  sasl.Client
		wantErr string
	}{
		{"XOAUTH2 user with 0x01", NewClient(XOAUTH2, "alice\x01auth=Bearer x", testToken), "user name has a control character at byte 5"},
		{"XOAUTH2 user with CRLF", NewClient(XOAUTH2, "alice\r\n", testToken), "user name has a control character"},
		{"XOAUTH2 empty user", NewClient(XOAUTH2, "", testToken), "empty user name"},
		{"XOAUTH2 empty token", NewClient(XOAUTH2, "alice", ""), "empty access token"},
		{"XOAUTH2 token with 0x01", NewClient(XOAUTH2, "alice", "ab\x01\x01cd"), "access token has a space, control or non-ASCII character at byte 2"},
		{"XOAUTH2 token with newline", NewClient(XOAUTH2, "alice", "abc\n"), "at byte 3"},
		{"XOAUTH2 token with space", NewClient(XOAUTH2, "alice", "ab cd"), "at byte 2"},
		{"XOAUTH2 token with DEL", NewClient(XOAUTH2, "alice", "ab\x7f"), "at byte 2"},
		{"XOAUTH2 token with NUL", NewClient(XOAUTH2, "alice", "\x00"), "at byte 0"},
		{"OAUTHBEARER user with 0x01", NewClient(OAUTHBEARER, "a\x01", testToken), "user name has a control character"},
		{"OAUTHBEARER token with tab", NewClient(OAUTHBEARER, "a", "x\ty"), "at byte 1"},
		{"OAUTHBEARER host with 0x01", NewOAuthBearerClient("a", testToken, "h\x01port=1", 0), "host has a control character"},
		{"OAUTHBEARER port out of range", NewOAuthBearerClient("a", testToken, "h", 70000), "port 70000 out of range"},
		{"unknown mechanism", NewClient("PLAIN", "a", testToken), `unknown SASL mechanism "PLAIN"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mech, ir, err := tt.client.Start()
			if err == nil {
				t.Fatalf("Start = %q, %q, nil; want an error", mech, ir)
			}
			if ir != nil {
				t.Errorf("Start returned a response %q with its error", ir)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error %q contains the token", err)
			}
			if _, err := tt.client.Next([]byte("{}")); err == nil {
				t.Error("Next after a failed Start succeeded")
			}
		})
	}
}

func TestClientAnswersErrorChallenge(t *testing.T) {
	tests := []struct {
		name       string
		mech       Mechanism
		challenge  string
		wantAnswer string
		want       ChallengeError
		wantMsg    string
	}{
		{
			name:       "XOAUTH2 Google JSON",
			mech:       XOAUTH2,
			challenge:  `{"status":"401","schemes":"bearer mac","scope":"https://mail.google.com/"}` + "\n",
			wantAnswer: "",
			want:       ChallengeError{Status: "401", Schemes: "bearer mac", Scope: "https://mail.google.com/"},
			wantMsg:    `auth: the server refused the token: status "401", schemes "bearer mac", scope "https://mail.google.com/"`,
		},
		{
			name:       "XOAUTH2 status as a number, unknown key, key case",
			mech:       XOAUTH2,
			challenge:  ` {"Status":400,"SCHEMES":"Bearer","extra":{"a":[1,2]}}  `,
			wantAnswer: "",
			want:       ChallengeError{Status: "400", Schemes: "Bearer"},
			wantMsg:    `auth: the server refused the token: status "400", schemes "Bearer"`,
		},
		{
			name:       "XOAUTH2 Dovecot with openid-configuration",
			mech:       XOAUTH2,
			challenge:  `{"status":"401","schemes":"bearer","scope":"mail","openid-configuration":"https://idp.example/.well-known/openid-configuration"}`,
			wantAnswer: "",
			want:       ChallengeError{Status: "401", Schemes: "bearer", Scope: "mail", OpenIDConfiguration: "https://idp.example/.well-known/openid-configuration"},
		},
		{
			name:       "XOAUTH2 not JSON",
			mech:       XOAUTH2,
			challenge:  "Authentication failed, try again",
			wantAnswer: "",
			want:       ChallengeError{},
			wantMsg:    "auth: the server refused the token with a challenge that is not JSON (32 bytes)",
		},
		{
			name:       "XOAUTH2 JSON that is not an object",
			mech:       XOAUTH2,
			challenge:  `["401"]`,
			wantAnswer: "",
			want:       ChallengeError{},
		},
		{
			name:       "XOAUTH2 truncated JSON",
			mech:       XOAUTH2,
			challenge:  `{"status":"40`,
			wantAnswer: "",
			want:       ChallengeError{},
		},
		{
			name:       "XOAUTH2 empty challenge",
			mech:       XOAUTH2,
			challenge:  "",
			wantAnswer: "",
			want:       ChallengeError{},
			wantMsg:    "auth: the server refused the token with an empty challenge",
		},
		{
			name:       "OAUTHBEARER RFC 7628 §4.3",
			mech:       OAUTHBEARER,
			challenge:  `{"status":"invalid_token","scope":"example_scope","openid-configuration":"https://example.com/.well-known/openid-configuration"}`,
			wantAnswer: "\x01",
			want:       ChallengeError{Status: "invalid_token", Scope: "example_scope", OpenIDConfiguration: "https://example.com/.well-known/openid-configuration"},
		},
		{
			name:       "OAUTHBEARER not JSON",
			mech:       OAUTHBEARER,
			challenge:  "\xff\xfe garbage",
			wantAnswer: "\x01",
			want:       ChallengeError{},
		},
		{
			name:       "OAUTHBEARER empty challenge",
			mech:       OAUTHBEARER,
			challenge:  "",
			wantAnswer: "\x01",
			want:       ChallengeError{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClient(tt.mech, "alice@example.com", testToken)
			if _, _, err := c.Start(); err != nil {
				t.Fatal(err)
			}
			if Challenge(c) != nil {
				t.Fatal("Challenge is set before any challenge")
			}
			answer, err := c.Next([]byte(tt.challenge))
			if err != nil {
				t.Fatalf("Next returned an error %v; the transport would abort with '*'", err)
			}
			if answer == nil {
				t.Fatal("Next returned a nil answer; go-smtp would end the exchange without sending it")
			}
			if string(answer) != tt.wantAnswer {
				t.Errorf("answer = %q, want %q", answer, tt.wantAnswer)
			}
			ce := Challenge(c)
			if ce == nil {
				t.Fatal("Challenge(c) = nil after an error challenge")
			}
			tt.want.Raw = tt.challenge
			if ce.Status != tt.want.Status || ce.Schemes != tt.want.Schemes || ce.Scope != tt.want.Scope ||
				ce.OpenIDConfiguration != tt.want.OpenIDConfiguration || ce.Raw != tt.want.Raw {
				t.Errorf("challenge = %+v, want %+v", *ce, tt.want)
			}
			if tt.wantMsg != "" && ce.Error() != tt.wantMsg {
				t.Errorf("Error() = %q, want %q", ce.Error(), tt.wantMsg)
			}
			var target *ChallengeError
			if !errors.As(error(ce), &target) {
				t.Error("errors.As does not find the *ChallengeError")
			}
			// A second challenge after the completion aborts the exchange.
			if _, err := c.Next([]byte(tt.challenge)); !errors.Is(err, sasl.ErrUnexpectedServerChallenge) {
				t.Errorf("second Next error = %v, want ErrUnexpectedServerChallenge", err)
			}
		})
	}
}

func TestChallengeNeverPrintsTheToken(t *testing.T) {
	// A server that echoes the token back must not make it reach a log.
	for _, challenge := range []string{
		`{"status":"` + testToken + `","scope":"x ` + testToken + `"}`,
		"bad token " + testToken,
	} {
		c := NewClient(XOAUTH2, "alice@example.com", testToken)
		c.Start()
		if _, err := c.Next([]byte(challenge)); err != nil {
			t.Fatal(err)
		}
		ce := Challenge(c)
		for name, s := range map[string]string{"Error()": ce.Error(), "Status": ce.Status, "Scope": ce.Scope, "Raw": ce.Raw} {
			if strings.Contains(s, testToken) {
				t.Errorf("%s = %q contains the token", name, s)
			}
		}
		if !strings.Contains(ce.Raw, redacted) {
			t.Errorf("Raw = %q, want the token replaced by %q", ce.Raw, redacted)
		}
	}
}

func TestChallengeHasScheme(t *testing.T) {
	ce := ParseChallenge([]byte(`{"status":"401","schemes":"bearer MAC"}`))
	for scheme, want := range map[string]bool{"Bearer": true, "bearer": true, "mac": true, "basic": false, "bear": false} {
		if got := ce.HasScheme(scheme); got != want {
			t.Errorf("HasScheme(%q) = %v, want %v", scheme, got, want)
		}
	}
}

func TestChallengeOfForeignClientIsNil(t *testing.T) {
	if ce := Challenge(sasl.NewPlainClient("", "u", "p")); ce != nil {
		t.Errorf("Challenge(plain client) = %v, want nil", ce)
	}
}

func TestTwoStep(t *testing.T) {
	for _, mech := range []Mechanism{XOAUTH2, OAUTHBEARER} {
		t.Run(string(mech), func(t *testing.T) {
			_, wantIR, err := NewClient(mech, "alice@example.com", testToken).Start()
			if err != nil {
				t.Fatal(err)
			}
			c := TwoStep(NewClient(mech, "alice@example.com", testToken))
			gotMech, ir, err := c.Start()
			if err != nil || gotMech != string(mech) || ir != nil {
				t.Fatalf("Start = %q, %q, %v; want %q, nil, nil", gotMech, ir, err, mech)
			}
			// The server's empty "334 " asks for the response.
			resp, err := c.Next([]byte{})
			if err != nil || string(resp) != string(wantIR) {
				t.Fatalf("first Next = %q, %v; want the initial response %q", resp, err, wantIR)
			}
			if Challenge(c) != nil {
				t.Fatal("the empty request for the response was taken as an error challenge")
			}
			// The error challenge then reaches the mechanism.
			resp, err = c.Next([]byte(`{"status":"invalid_token"}`))
			if err != nil || resp == nil {
				t.Fatalf("second Next = %q, %v; want the completion", resp, err)
			}
			if ce := Challenge(c); ce == nil || ce.Status != "invalid_token" {
				t.Errorf("Challenge through TwoStep = %v, want status invalid_token", ce)
			}
		})
	}
}

func TestTwoStepKeepsStartErrorAndOrder(t *testing.T) {
	c := TwoStep(NewClient(XOAUTH2, "alice", "bad token"))
	if _, ir, err := c.Start(); err == nil || ir != nil {
		t.Errorf("Start = %q, %v; want the inner client's error", ir, err)
	}
	c = TwoStep(NewClient(XOAUTH2, "alice", testToken))
	if resp, err := c.Next([]byte{}); err == nil {
		t.Errorf("Next before Start = %q, nil; want an error", resp)
	}
}
