package auth_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/auth"
)

func ExampleNewSource() {
	ctx := context.Background()
	// base gets new tokens; in an application a provider package makes
	// it (entra, google), or auth.FromTokenSource adapts an
	// oauth2.TokenSource.
	n := 0
	base := auth.RefreshFunc(func(ctx context.Context, stale *oauth2.Token) (*oauth2.Token, error) {
		n++
		return &oauth2.Token{AccessToken: fmt.Sprintf("at-%d", n), Expiry: time.Now().Add(time.Hour)}, nil
	})
	src := auth.NewSource(base, &auth.SourceOptions{
		Margin:         5 * time.Minute,
		OnRefreshError: func(err error) { log.Printf("token refresh failed: %v", err) },
	})

	tok, err := src.Token(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.AccessToken)
	// After a server refused tok: drop it, so the next Token refreshes.
	src.Invalidate(tok)
	fmt.Println(src.Stats().Refreshes)
	// Output:
	// at-1
	// 1
}

func ExampleNewClient() {
	c := auth.NewClient(auth.XOAUTH2, "alice@example.com", "ya29.token")
	// Hand c to go-smtp's (*smtp.Client).Auth or go-imap's
	// (*imapclient.Client).Authenticate. This is what they send:
	mech, ir, err := c.Start()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %q\n", mech, ir)
	// Output: XOAUTH2 "user=alice@example.com\x01auth=Bearer ya29.token\x01\x01"
}

func ExampleChallenge() {
	c := auth.NewClient(auth.XOAUTH2, "alice@example.com", "ya29.stale")
	// A server that refuses the token answers with its JSON error
	// challenge; the transport passes it to Next (here by hand).
	c.Start()
	reply, _ := c.Next([]byte(`{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`))
	fmt.Printf("reply %q\n", reply)

	// After the exchange failed, the transport keeps the challenge in its
	// error, where callers find it with errors.As.
	err := fmt.Errorf("smtp auth: %w", auth.Challenge(c))
	var ce *auth.ChallengeError
	if errors.As(err, &ce) {
		fmt.Println(ce.Status, ce.Scope)
	}
	// Output:
	// reply ""
	// 401 https://mail.google.com/
}

func ExampleTwoStep() {
	// For SMTP when "AUTH XOAUTH2 <response>" would be longer than 512
	// octets: send "AUTH XOAUTH2", then the response after "334 ".
	c := auth.TwoStep(auth.NewClient(auth.XOAUTH2, "alice@example.com", "ya29.token"))
	mech, ir, _ := c.Start()
	fmt.Printf("%s %v\n", mech, ir)
	resp, _ := c.Next([]byte{})
	fmt.Printf("%q\n", resp)
	// Output:
	// XOAUTH2 []
	// "user=alice@example.com\x01auth=Bearer ya29.token\x01\x01"
}
