package auth

import (
	"errors"

	"github.com/emersion/go-sasl"
)

// TwoStep makes c send its initial response only when the server asks for
// it: Start returns no initial response, so the transport sends a bare
// "AUTH <mech>", and the server's first challenge (normally empty: "334 ")
// is answered with the response c would have sent at once. Later
// challenges go to c.
//
// Use it for SMTP when "AUTH XOAUTH2 <response>" would exceed the 512-octet
// command line (RFC 4954 §4), or for servers that want the two-step form.
// Not for go-imap: its Authenticate already sends the response after an
// empty "+ " when the server lacks SASL-IR, and it fails when a client
// without an initial response meets one. [Challenge] works on the result.
func TwoStep(c sasl.Client) sasl.Client {
	return &twoStep{inner: c}
}

type twoStep struct {
	inner   sasl.Client
	ir      []byte // the inner client's initial response, held back
	started bool   // Start succeeded
	sent    bool   // ir has been sent, or there was none
}

func (t *twoStep) Start() (string, []byte, error) {
	mech, ir, err := t.inner.Start()
	if err != nil {
		return mech, nil, err
	}
	t.ir = ir
	t.started = true
	t.sent = ir == nil // nothing held back: every challenge goes to inner
	return mech, nil, nil
}

// Next answers the first challenge with the held-back response, whatever
// the challenge holds: the server cannot have judged a token it has not
// seen yet.
func (t *twoStep) Next(challenge []byte) ([]byte, error) {
	if !t.started {
		return nil, errors.New("auth: TwoStep: Next called before Start")
	}
	if !t.sent {
		t.sent = true
		ir := t.ir
		t.ir = nil
		return ir, nil
	}
	return t.inner.Next(challenge)
}

// Challenge returns the inner client's error challenge, or nil.
func (t *twoStep) Challenge() *ChallengeError { return Challenge(t.inner) }
