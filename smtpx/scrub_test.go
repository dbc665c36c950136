package smtpx_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/retry"
	"github.com/mailoauth/mailoauth/smtpx"
	"github.com/mailoauth/mailoauth/smtpx/smtpxtest"
)

// A server that repeats the client's AUTH payload in its refusal (the token
// or the whole SASL response, raw or in base64, after a one-step or a
// two-step AUTH, in a 535 or a 4yz) leaves no trace of it in anything
// derived from its answer: the errors of Dial and of a Sender in every
// form, the wrapped *smtp.SMTPError, the Diagnosis, the logs, the
// transcript.
func TestEchoedAuthPayloadIsScrubbed(t *testing.T) {
	replies := map[string]*smtp.SMTPError{
		"535": {Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication failed"},
		"454": {Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure"},
		// nil: in the error challenge, then smtpxtest's 535 5.7.8
		"challenge": nil,
	}
	echoes := map[string]smtpxtest.Echo{
		"token":           smtpxtest.EchoToken,
		"response":        smtpxtest.EchoResponse,
		"token base64":    smtpxtest.EchoTokenBase64,
		"response base64": smtpxtest.EchoResponseBase64,
	}
	modes := map[string]smtpx.InitialResponse{"one-step": smtpx.InitialResponseAlways, "two-step": smtpx.InitialResponseNever}
	for _, mech := range []auth.Mechanism{auth.XOAUTH2, auth.OAUTHBEARER} {
		for modeName, mode := range modes {
			for echoName, echo := range echoes {
				for replyName, reply := range replies {
					name := fmt.Sprintf("%s/%s/%s/%s", mech, modeName, echoName, replyName)
					t.Run(name, func(t *testing.T) {
						e := newEnv(t, &smtpxtest.Options{Mechanisms: []auth.Mechanism{mech}})
						e.opts.InitialResponse = mode
						wantCode := 535 // smtpxtest's reply after a challenge
						if reply == nil {
							e.srv.EchoInChallenge(100, echo)
						} else {
							e.srv.EchoAuth(100, reply, echo)
							wantCode = reply.Code
						}

						_, dialErr := smtpx.Dial(context.Background(), e.mb, &e.opts)
						s := e.sender(t, smtpx.SenderOptions{
							MaxRetries:   1,
							RetryBackoff: retry.Backoff{Min: time.Millisecond, Max: time.Millisecond},
							Clock:        newFakeClock(),
						})
						sendErr := s.Send(context.Background(), smtpx.Envelope{To: []string{"a@example.net"}}, bytes.NewReader(message("echo")))
						s.Close()

						secrets := authPayloads(t, mech, e.tokens.Issued())
						for what, err := range map[string]error{"Dial": dialErr, "Sender.Send": sendErr} {
							if err == nil {
								t.Fatalf("%s succeeded against a refusing server", what)
							}
							// The echo reached the client, and was replaced.
							var se *smtp.SMTPError
							var xe *smtpx.Error
							if !errors.As(err, &se) || se.Code != wantCode || !errors.As(err, &xe) {
								t.Fatalf("%s: %v: want the server's %d", what, recordErr(err), wantCode)
							}
							if echoed := se.Message; reply == nil && (xe.Challenge == nil || !strings.Contains(xe.Challenge.Status, "[redacted]")) ||
								reply != nil && !strings.Contains(echoed, "[redacted]") {
								t.Fatalf("%s: %v: want the echo replaced by [redacted]", what, recordErr(err))
							}
							for i, text := range errorTexts(err) {
								assertNoSecret(t, fmt.Sprintf("%s: text %d", what, i), text, secrets)
							}
						}
						if wantCode/100 == 4 && !strings.Contains(e.logs.String(), "retrying after a temporary failure") {
							t.Fatalf("no retry logged after a %d:\n%s", reply.Code, e.logs.String())
						}
						assertNoSecret(t, "log", e.logs.String(), secrets)
						assertNoSecret(t, "transcript", e.debug.String(), secrets)
					})
				}
			}
		}
	}
}

// authPayloads returns each token and the SASL response that carried it.
func authPayloads(t *testing.T, mech auth.Mechanism, tokens []string) []string {
	t.Helper()
	if len(tokens) == 0 {
		t.Fatal("no token was issued")
	}
	var out []string
	for _, tok := range tokens {
		_, ir, err := auth.NewClient(mech, testAddress, tok).Start()
		if err != nil {
			t.Fatal(err)
		}
		registerSecret(string(ir))
		out = append(out, tok, string(ir))
	}
	return out
}

// errorTexts returns every text a caller can get out of err: its own in
// every format, and that of each error it wraps, its diagnosis and the
// server's reply it carries.
func errorTexts(err error) []string {
	texts := []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)}
	walk(err, func(e error) {
		texts = append(texts, e.Error(), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e))
		switch e := e.(type) {
		case *smtpx.Error:
			texts = append(texts, e.Message, fmt.Sprintf("%#v", *e))
			if e.Challenge != nil {
				texts = append(texts, e.Challenge.Raw, fmt.Sprintf("%#v", *e.Challenge))
			}
		case *smtp.SMTPError:
			texts = append(texts, e.Message, fmt.Sprintf("%#v", *e))
		}
		if r, ok := e.(provider.Replier); ok {
			texts = append(texts, fmt.Sprintf("%#v", r.Reply()))
		}
	})
	if d := provider.Diagnose(err); d != nil {
		texts = append(texts, d.Error(), d.Code, d.Summary, d.Fix)
	}
	for _, s := range texts {
		recordText(s)
	}
	return texts
}

// walk calls visit on err and on everything it wraps.
func walk(err error, visit func(error)) {
	if err == nil {
		return
	}
	visit(err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		walk(u.Unwrap(), visit)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walk(e, visit)
		}
	}
}

// assertNoSecret fails if text holds any form of any secret.
func assertNoSecret(t *testing.T, where, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		for _, form := range encodedForms(s) {
			if strings.Contains(text, form) {
				t.Fatalf("%s holds a form of a secret (%d chars): %q", where, len(s), text)
			}
		}
	}
}
