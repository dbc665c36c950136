package graphx_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/graphx"
	"github.com/mailoauth/mailoauth/graphx/graphxtest"
)

// staticTokens hands out one token; a real program uses the Mailbox that
// provider/entra returns for Graph.
type staticTokens struct{ tok *oauth2.Token }

func (s staticTokens) Token(context.Context) (*oauth2.Token, error) { return s.tok, nil }
func (s staticTokens) Invalidate(*oauth2.Token)                     {}

// A notification service sends through Graph with the same call it would
// make to smtpx.Sender. Here the server is a local graphxtest server; in
// production Options needs neither BaseURL nor TLSConfig.
func ExampleSender() {
	srv := graphxtest.New(nil)
	defer srv.Close()
	srv.AllowToken("alerts@example.com", "example-access-token")
	mb := srv.Mailbox("alerts@example.com", staticTokens{&oauth2.Token{AccessToken: "example-access-token"}})

	sender := graphx.NewSender(mb, &graphx.Options{BaseURL: srv.URL(), TLSConfig: srv.TLSConfig()})
	defer sender.Close()

	msg := "From: alerts@example.com\r\nTo: ops@example.net\r\nBcc: audit@example.net\r\n" +
		"Subject: Disk almost full\r\n\r\nVolume /data is 95% full.\r\n"
	// Graph sends to the header's To, Cc and Bcc: the envelope must say the same.
	err := sender.Send(context.Background(), graphx.Envelope{To: []string{"ops@example.net", "audit@example.net"}}, strings.NewReader(msg))
	if graphx.IsUncertain(err) {
		fmt.Println("Graph may have accepted it; do not send it again blindly:", err)
		return
	}
	if err != nil {
		fmt.Println("send:", err)
		return
	}
	fmt.Println("accepted (not yet delivered):", len(srv.Sent()))
	fmt.Println("what ops@example.net sees:", strings.Count(string(srv.Deliveries("ops@example.net")[0].Header), "Bcc"), "Bcc field")
	// Output:
	// accepted (not yet delivered): 1
	// what ops@example.net sees: 0 Bcc field
}

// A mail gate polls a folder: a delta round lists what is new, page by
// page; the delta link is kept (in a store, in a real program) for the next
// round, after a restart too.
func ExampleClient_Delta() {
	srv := graphxtest.New(nil)
	defer srv.Close()
	srv.AllowToken("helpdesk@example.com", "example-access-token")
	mb := srv.Mailbox("helpdesk@example.com", staticTokens{&oauth2.Token{AccessToken: "example-access-token"}})
	srv.Deliver("helpdesk@example.com", "inbox", []byte("From: ann@example.net\r\nSubject: Printer on fire\r\n\r\nHelp.\r\n"))

	c, err := graphx.New(mb, &graphx.Options{BaseURL: srv.URL(), TLSConfig: srv.TLSConfig()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ctx := context.Background()
	inbox, _ := c.FolderID(ctx, "inbox")
	done, _ := c.FolderID(ctx, "deleteditems")

	link := "" // loaded from the store; empty: a full sync
	for {
		page, err := c.Delta(ctx, inbox, link)
		if errors.Is(err, graphx.ErrResync) {
			link = "" // start over; skip the messages already handled
			continue
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, m := range page.Messages {
			body, err := c.Open(ctx, m.ID)
			if err != nil {
				fmt.Println(err)
				return
			}
			mime, _ := io.ReadAll(body)
			body.Close()
			fmt.Printf("%s from %s, %d octets\n", m.Subject, m.From, len(mime))
			if _, err := c.Move(ctx, m.ID, done); err != nil {
				fmt.Println(err)
				return
			}
		}
		link = page.Link() // saved to the store
		if page.DeltaLink != "" {
			break // the round is over; the next poll starts from link
		}
	}
	left, _ := srv.Messages("helpdesk@example.com", "inbox")
	fmt.Println("left in the inbox:", len(left))
	// Output:
	// Printer on fire from ann@example.net, 58 octets
	// left in the inbox: 0
}
