package imapx_test

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-imap/v2"

	"github.com/mailoauth/mailoauth/imapx"
	"github.com/mailoauth/mailoauth/imapx/imapxtest"
)

// A helpdesk turns each message arriving in INBOX into a ticket; once the
// ticket exists the message is moved to "Tickets". Here the server is a
// local imapxtest server; in production the mailbox comes from
// entra.Delegated, entra.ClientCredentials or google.Delegated.
func ExampleNewMailgate() {
	srv := imapxtest.New(nil)
	defer srv.Close()
	srv.CreateFolder("helpdesk@example.com", "Tickets")
	srv.Deliver("helpdesk@example.com", "INBOX", []byte("From: alice@example.org\r\n"+
		"Subject: Printer on fire\r\n\r\nPlease send help.\r\n"))
	mb := srv.Mailbox("helpdesk@example.com", nil)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := &imapx.MailgateOptions{After: imapx.Move, MoveTo: "Tickets"}
	opts.TLSConfig = srv.TLSConfig() // trust the test server's certificate
	gate := imapx.NewMailgate(mb, opts, func(ctx context.Context, m *imapx.Message) error {
		raw, err := io.ReadAll(m.Body)
		if err != nil {
			return err // the message stays in INBOX and is tried again later
		}
		fmt.Printf("new ticket %q from %s, %d bytes\n", m.Envelope.Subject, m.Envelope.From[0].Addr(), len(raw))
		cancel() // one ticket is enough for this example
		return nil
	})
	err := gate.Run(ctx) // returns once the message in hand is moved
	fmt.Println("stopped:", errors.Is(err, context.Canceled))

	moved, _ := srv.Messages("helpdesk@example.com", "Tickets")
	fmt.Println("in Tickets:", len(moved))
	// Output:
	// new ticket "Printer on fire" from alice@example.org, 72 bytes
	// stopped: true
	// in Tickets: 1
}

// Dial gives an authenticated go-imap client; the token comes from the
// mailbox's TokenSource, and a refused token is replaced once.
func ExampleDial() {
	srv := imapxtest.New(nil)
	defer srv.Close()
	srv.Deliver("alice@example.com", "INBOX", []byte("Subject: hello\r\n\r\nhi\r\n"))

	c, err := imapx.Dial(context.Background(), srv.Mailbox("alice@example.com", nil),
		&imapx.Options{TLSConfig: srv.TLSConfig()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	status, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("messages in INBOX:", *status.NumMessages)
	c.Logout().Wait()
	// Output:
	// messages in INBOX: 1
}
