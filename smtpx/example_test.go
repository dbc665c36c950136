package smtpx_test

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/smtpx"
	"github.com/mailoauth/mailoauth/smtpx/smtpxtest"
)

// staticTokens hands out one token; a real program uses the Mailbox that
// provider/entra or provider/google returns.
type staticTokens struct{ tok *oauth2.Token }

func (s staticTokens) Token(context.Context) (*oauth2.Token, error) { return s.tok, nil }
func (s staticTokens) Invalidate(*oauth2.Token)                     {}

// A notification service sends through a Sender shared by all its
// goroutines. Here the server is a local smtpxtest server; in production
// the Mailbox comes from entra.ClientCredentials or google.ServiceAccount
// and Options needs no TLSConfig.
func ExampleSender() {
	srv := smtpxtest.New(nil)
	defer srv.Close()
	srv.AllowToken("alerts@example.com", "example-access-token")
	mb := srv.Mailbox("alerts@example.com", staticTokens{&oauth2.Token{AccessToken: "example-access-token"}})
	mb.Limits.MaxConns = 3 // Exchange Online allows 3 concurrent submissions per mailbox

	sender := smtpx.NewSender(mb, &smtpx.SenderOptions{Options: smtpx.Options{TLSConfig: srv.TLSConfig()}})
	defer sender.Close()

	for _, user := range []string{"ann@example.net", "bob@example.net", "cid@example.net"} {
		msg := "From: alerts@example.com\r\nTo: " + user + "\r\nSubject: Disk almost full\r\n\r\nVolume /data is 95% full.\r\n"
		// A *strings.Reader can be read again, so temporary failures are retried.
		if err := sender.Send(context.Background(), smtpx.Envelope{To: []string{user}}, strings.NewReader(msg)); err != nil {
			fmt.Println("send:", err)
			return
		}
	}
	fmt.Println("messages accepted:", len(srv.Messages()))
	fmt.Println("connections used:", srv.Stats().Connections)
	// Output:
	// messages accepted: 3
	// connections used: 1
}
