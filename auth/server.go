package auth

import (
	"errors"
	"fmt"

	"github.com/emersion/go-sasl"
)

// ErrMalformedResponse is wrapped by the error a server of this package
// returns when a client's response breaks the mechanism's grammar.
var ErrMalformedResponse = errors.New("malformed SASL response")

// The error challenges the servers send when verify refuses a token, in the
// words Dovecot uses.
const (
	xoauth2ErrorChallenge     = `{"status":"401","schemes":"bearer","scope":"mail"}`
	oauthBearerErrorChallenge = `{"status":"invalid_token"}`
)

// serverState is where a bearerServer stands in the exchange.
type serverState int

const (
	stateStart         serverState = iota // nothing received
	stateAsked                            // sent the empty challenge that asks for the response
	stateAwaitingReply                    // sent the error challenge; the client's completion is due
	stateDone                             // succeeded or failed; no more input accepted
)

// bearerServer is the server side of XOAUTH2 and OAUTHBEARER: both parse one
// response, verify the token, and on refusal send an error challenge and
// wait for the client's completion before failing.
type bearerServer struct {
	mech           Mechanism
	parse          func(response []byte) (username, token string, err error)
	verify         func(username, token string) error
	errorChallenge string
	errorAnswer    string // the completion the client must send

	state   serverState
	refusal error // verify's error, wrapped; returned after the completion
}

func newBearerServer(mech Mechanism, verify func(username, token string) error) *bearerServer {
	if verify == nil {
		verify = func(string, string) error { return errors.New("the server has no verify function") }
	}
	s := &bearerServer{mech: mech, verify: verify}
	switch mech {
	case XOAUTH2:
		s.parse = parseXOAUTH2
		s.errorChallenge = xoauth2ErrorChallenge
		s.errorAnswer = xoauth2ErrorAnswer
	case OAUTHBEARER:
		s.parse = parseOAuthBearer
		s.errorChallenge = oauthBearerErrorChallenge
		s.errorAnswer = oauthBearerErrorAnswer
	}
	return s
}

// Next implements sasl.Server. Without an initial response (response nil)
// it first sends an empty challenge (nil, so that go-smtp writes "334 " and
// go-imap's server a bare "+ ").
func (s *bearerServer) Next(response []byte) ([]byte, bool, error) {
	switch s.state {
	case stateStart:
		if response == nil {
			s.state = stateAsked
			return nil, false, nil
		}
		return s.check(response)
	case stateAsked:
		return s.check(response)
	case stateAwaitingReply:
		s.state = stateDone
		if string(response) != s.errorAnswer {
			return nil, false, fmt.Errorf("%w (and the client answered the error challenge with %d bytes instead of %q)",
				s.refusal, len(response), s.errorAnswer)
		}
		return nil, false, s.refusal
	default:
		return nil, false, fmt.Errorf("auth: %s: %w", string(s.mech), sasl.ErrUnexpectedClientResponse)
	}
}

// check parses the client's response and verifies its token.
func (s *bearerServer) check(response []byte) ([]byte, bool, error) {
	username, token, err := s.parse(response)
	if err != nil {
		s.state = stateDone
		return nil, false, fmt.Errorf("auth: %s: %w: %w", string(s.mech), ErrMalformedResponse, err)
	}
	if err := s.verify(username, token); err != nil {
		s.state = stateAwaitingReply
		s.refusal = fmt.Errorf("auth: %s: token refused for %q: %w", string(s.mech), username, err)
		return []byte(s.errorChallenge), false, nil
	}
	s.state = stateDone
	return nil, true, nil
}
