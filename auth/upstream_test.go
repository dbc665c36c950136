package auth

import (
	"errors"
	"testing"

	"github.com/emersion/go-sasl"
)

// These tests pin the go-sasl behaviour that NewOAuthBearerServer and
// NewClient work around. When one fails, go-sasl fixed it: reconsider our
// own server or client.

// TestUpstreamGoSASLOAuthBearerServerPanics: go-sasl's OAUTHBEARER server
// indexes the client's reply to its error challenge before checking its
// length, so an empty reply panics (code from emersion/go-sasl#17). A test
// server must never panic on what a client sends.
func TestUpstreamGoSASLOAuthBearerServerPanics(t *testing.T) {
	s := sasl.NewOAuthBearerServer(func(sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
		return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer"}
	})
	challenge, done, err := s.Next([]byte("n,a=alice,\x01auth=Bearer old\x01\x01"))
	if err != nil || done || len(challenge) == 0 {
		t.Fatalf("go-sasl's server answered a refused token with %q, %v, %v; want its error challenge", challenge, done, err)
	}
	panicked := func() (p bool) {
		defer func() { p = recover() != nil }()
		s.Next([]byte{})
		return false
	}()
	if !panicked {
		t.Fatal("go-sasl's OAUTHBEARER server no longer panics on an empty reply to its error challenge: " +
			"if this fails, go-sasl fixed it: reconsider our server (NewOAuthBearerServer)")
	}
}

// TestUpstreamGoSASLOAuthBearerClientAborts: go-sasl's OAUTHBEARER client
// answers the server's error challenge with an error instead of the "\x01"
// that RFC 7628 section 3.2.3 requires, so the exchange is aborted rather
// than completed and the challenge is lost to the caller.
func TestUpstreamGoSASLOAuthBearerClientAborts(t *testing.T) {
	c := sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: "alice", Token: "old"})
	if _, _, err := c.Start(); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Next([]byte(`{"status":"invalid_token"}`))
	var oerr *sasl.OAuthBearerError
	if !errors.As(err, &oerr) || string(resp) == kvsep {
		t.Fatalf("go-sasl's client answered the error challenge with %q, %v: "+
			"if this fails, go-sasl fixed it: reconsider our client (NewClient's Next)", resp, err)
	}
}
