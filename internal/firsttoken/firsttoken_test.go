package firsttoken

import (
	"context"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/internal/testclock"
)

// counter is a base that hands out a new token per call.
type counter struct{ n int }

func (c *counter) Refresh(context.Context, *oauth2.Token) (*oauth2.Token, error) {
	c.n++
	return &oauth2.Token{AccessToken: "base", Expiry: time.Date(2030, 6, 1, 13, 0, 0, 0, time.UTC)}, nil
}

func TestTheFirstTokenIsHandedOutOnce(t *testing.T) {
	clock := testclock.New()
	first := &oauth2.Token{AccessToken: "first", Expiry: clock.Now().Add(time.Hour)}
	base := &counter{}
	src := auth.NewSource(New(base, first, clock), &auth.SourceOptions{Clock: clock})
	tok, err := src.Token(context.Background())
	if err != nil || tok.AccessToken != "first" || base.n != 0 {
		t.Fatalf("first Token = %v, %v after %d base calls; want the first token and no call", tok, err, base.n)
	}
	src.Invalidate(tok)
	tok, err = src.Token(context.Background())
	if err != nil || tok.AccessToken != "base" || base.n != 1 {
		t.Fatalf("after a refusal: %v, %v after %d base calls; want the base's token", tok, err, base.n)
	}
}

func TestAnExpiredFirstTokenIsNotHandedOut(t *testing.T) {
	clock := testclock.New()
	base := &counter{}
	r := New(base, &oauth2.Token{AccessToken: "first", Expiry: clock.Now().Add(time.Minute)}, clock)
	clock.Advance(2 * time.Minute)
	if tok, err := r.Refresh(context.Background(), nil); err != nil || tok.AccessToken != "base" {
		t.Fatalf("Refresh = %v, %v; want the base's token", tok, err)
	}
	if New(base, nil, clock) != auth.Refresher(base) {
		t.Error("New without a first token does not give the base")
	}
}
