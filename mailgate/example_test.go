package mailgate_test

import (
	"context"
	"fmt"
	"io"

	"github.com/mailoauth/mailoauth/imapx"
	"github.com/mailoauth/mailoauth/imapx/imapxtest"
	"github.com/mailoauth/mailoauth/mailgate"
)

// A helpdesk turns each message arriving in INBOX into a ticket, with a
// handler that does not know the transport: here IMAP (imapx.NewBackend)
// on a local imapxtest server; the same handler serves any other backend.
func ExampleNew() {
	srv := imapxtest.New(nil)
	defer srv.Close()
	srv.CreateFolder("helpdesk@example.com", "Tickets")
	srv.Deliver("helpdesk@example.com", "INBOX", []byte("From: Alice <alice@example.org>\r\n"+
		"Subject: Printer on fire\r\nMessage-ID: <1@example.org>\r\n\r\nPlease send help.\r\n"))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	backend := imapx.NewBackend(srv.Mailbox("helpdesk@example.com", nil),
		&imapx.BackendOptions{Options: imapx.Options{TLSConfig: srv.TLSConfig()}})
	gate := mailgate.New(backend, &mailgate.Options{After: mailgate.Move, MoveTo: "Tickets"},
		func(ctx context.Context, m *mailgate.Message) error {
			raw, err := io.ReadAll(m.Body)
			if err != nil {
				return err // the message stays in INBOX and is tried again later
			}
			fmt.Printf("ticket %q from %s (%s), %d bytes\n", m.Subject, m.From.Address, m.Key.MessageID, len(raw))
			cancel() // one ticket is enough for this example
			return nil
		})
	err := gate.Run(ctx) // returns once the message in hand is moved
	fmt.Println("stopped:", err)

	moved, _ := srv.Messages("helpdesk@example.com", "Tickets")
	fmt.Println("in Tickets:", len(moved))
	// Output:
	// ticket "Printer on fire" from alice@example.org (1@example.org), 109 bytes
	// stopped: context canceled
	// in Tickets: 1
}
