// Command quickstart sends and receives OAuth2 mail in one process, with no
// network and no tenant: the fastest way to see what mailoauth does.
//
//	go run ./examples/quickstart
//	go run ./examples/quickstart -verbose   # also print the SMTP and IMAP dialogues (tokens redacted)
//
// It starts three local test servers on 127.0.0.1, the ones mailoauth's own
// tests use: an identity provider that speaks like Entra ID
// (provider/providertest), an SMTP submission server (smtpx/smtpxtest) and
// an IMAP server (imapx/imapxtest). Both mail servers check every token with
// the identity provider and, like Exchange Online, offer XOAUTH2 only; the
// SMTP server refuses a token with a bare "535 5.7.3", as Exchange does.
// Then it does what a notification service and a helpdesk do against
// Microsoft 365, printing each step:
//
//  1. registers an app with the application permissions SMTP.SendAsApp and
//     IMAP.AccessAsApp on one mailbox (what an admin does in the Entra
//     portal and Exchange Online PowerShell);
//  2. takes an app-only token with the client secret (entra.ClientCredentials);
//  3. sends a notification through an smtpx.Sender;
//  4. receives it with an imapx.Mailgate;
//  5. moves the identity provider's clock past the token's expiry: the next
//     message takes a new token on its own;
//  6. makes the mail server refuse the token the program holds: the Sender
//     takes exactly one new token and the message still goes out;
//  7. reads the later messages, and prints a summary.
//
// It takes well under a second once built, and exits with status 0. Every
// call it makes is the one a real program makes; only the addresses, the
// certificates trusted and the clock belong to the test servers. To do the
// same against a real tenant, see examples/entra-send.
//
// The message is composed and a failure explained by examples/internal/cli,
// shared by the examples: a copy of this program taken out of the
// repository needs that package alongside it, or the few functions of it
// that it calls.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/imapx"
	"github.com/mailoauth/mailoauth/imapx/imapxtest"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/smtpx"
	"github.com/mailoauth/mailoauth/smtpx/smtpxtest"
)

// The made-up app registration and mailbox of the quickstart.
const (
	clientID     = "3f2b9c1e-8d4a-4e6b-9a2f-5c7d1e0b4a99"
	clientSecret = "quickstart-secret-value" // a test server's secret; real ones come from the environment
	mailbox      = "helpdesk@contoso.test"
)

const (
	// timeout bounds the whole run, so that a broken step never hangs it.
	timeout = 30 * time.Second
	// tokenLifetime is how long the test identity provider's tokens live,
	// as Entra's do (60 to 90 minutes).
	tokenLifetime = time.Hour
)

func main() { cli.Main("quickstart", run) }

// run is the whole program; main only adds the process around it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("quickstart", getenv, stderr)
	verbose := fs.Verbose()
	if err := fs.Parse(args); err != nil {
		return err
	}
	var debug io.Writer
	if *verbose {
		debug = stderr
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	q := &quickstart{out: stdout, debug: debug}
	defer q.close()
	return q.run(ctx)
}

// quickstart holds the servers and the program's mailbox.
type quickstart struct {
	out   io.Writer
	debug io.Writer

	idp  *providertest.Server
	smtp *smtpxtest.Server
	imap *imapxtest.Server

	mb        *provider.Mailbox
	sender    *smtpx.Sender
	delivered int      // messages of the SMTP server copied into the IMAP mailbox
	sent      []string // Message-IDs sent, in order
	received  int      // messages the Mailgate handled
}

func (q *quickstart) close() {
	if q.sender != nil {
		q.sender.Close()
	}
	for _, c := range []interface{ Close() }{q.imap, q.smtp, q.idp} {
		if c != nil {
			c.Close()
		}
	}
}

func (q *quickstart) say(format string, a ...any) {
	fmt.Fprintf(q.out, format+"\n", a...)
}

func (q *quickstart) tokenRequests() int {
	return q.idp.Requests(providertest.GrantClientCredentials)
}

func (q *quickstart) run(ctx context.Context) error {
	q.say("mailoauth quickstart: OAuth2 mail against local test servers (no network, no tenant).")
	q.say("")

	// Step 1: the servers, and the app registration an admin would make.
	q.idp = providertest.New()
	q.idp.SetTokenLifetime(tokenLifetime)
	q.idp.AddApp(providertest.App{
		ClientID:  clientID,
		Secret:    clientSecret,
		Roles:     []string{"SMTP.SendAsApp", "IMAP.AccessAsApp"}, // application permissions, admin-consented
		Mailboxes: []string{mailbox},                              // Add-MailboxPermission in Exchange Online
	})
	q.smtp = smtpxtest.New(
		&smtpxtest.Options{Verify: q.idp.VerifySASL, Mechanisms: []auth.Mechanism{auth.XOAUTH2}, NoErrorChallenge: true},
	)
	q.imap = imapxtest.New(
		&imapxtest.Options{Verify: q.idp.VerifySASL, Mechanisms: []auth.Mechanism{auth.XOAUTH2}},
	)
	if err := q.imap.CreateFolder(mailbox, "INBOX"); err != nil {
		return err
	}
	q.say("1. Started three local servers:")
	q.say("     identity provider (speaks like Entra ID)  %s", q.idp.URL())
	q.say("     SMTP submission server (STARTTLS)         %s", q.smtp.Addr())
	q.say("     IMAP server (TLS)                         %s", q.imap.Addr())
	q.say("   Registered the app %s with the application permissions", clientID)
	q.say("   SMTP.SendAsApp and IMAP.AccessAsApp on the mailbox %s.", mailbox)

	// Step 2: an app-only token, exactly as against Entra ID; only the
	// login host and the trusted certificate differ.
	mb, err := entra.ClientCredentials(ctx, entra.Config{
		TenantID:     providertest.DefaultTenant,
		ClientID:     clientID,
		ClientSecret: clientSecret,
		Mailbox:      mailbox,
		Cloud:        entra.Global.WithAuthorityHost(q.idp.URL()),
		HTTPClient:   q.idp.Client(),
		// The whole quickstart runs on the identity provider's clock so that
		// step 5 can jump an hour ahead, and its waits move that clock
		// instead of taking real time (the Sender keeps Exchange Online's
		// pace of 30 messages a minute, which would otherwise make the
		// quickstart wait two seconds before each message after the
		// first); real programs leave Clock nil.
		Clock: q.idp,
	})
	if err != nil {
		return fmt.Errorf("app-only token: %w", err)
	}
	mb.SMTP = q.smtp.Endpoint()
	mb.IMAP = q.imap.Endpoint()
	q.mb = mb
	q.say("2. Took an app-only access token with the client secret (the client credentials grant,")
	q.say("   scope https://outlook.office365.com/.default), as an Entra app does. It is cached and")
	q.say("   shared by every connection. Token requests so far: %d.", q.tokenRequests())

	q.sender = smtpx.NewSender(mb, &smtpx.SenderOptions{
		Options: smtpx.Options{TLSConfig: q.smtp.TLSConfig(), Debug: q.debug},
		Clock:   q.idp,
	})

	// Step 3: send.
	if err := q.send(ctx, "Ticket #1001 was opened"); err != nil {
		return err
	}
	msgs := q.smtp.Messages()
	last := msgs[len(msgs)-1]
	q.say("3. Sent a notification through an smtpx.Sender. The SMTP server checked the token")
	q.say("   (AUTH XOAUTH2 after STARTTLS) and accepted the message:")
	q.say("     envelope from %s to %s, %d bytes.", last.From, strings.Join(last.To, ", "), last.Size)

	// Step 4: receive.
	got, err := q.receive(ctx, 1)
	if err != nil {
		return err
	}
	q.say("4. Received it with an imapx.Mailgate (IMAP, AUTHENTICATE XOAUTH2 with the same token):")
	for _, m := range got {
		q.say("     Subject: %s", m.subject)
		q.say("     From:    %s", m.from)
	}
	q.say("   The Mailgate marked it \\Seen, so it is handled once. Token requests so far: %d.", q.tokenRequests())
	q.received = len(got)
	atStart := q.tokenRequests()

	// Step 5: an hour later.
	before := q.tokenRequests()
	q.idp.Advance(tokenLifetime + time.Minute)
	if err := q.send(ctx, "Ticket #1001 was answered"); err != nil {
		return err
	}
	q.say("5. An hour later (the identity provider's clock moved %v ahead) the token has expired.", tokenLifetime+time.Minute)
	q.say("   The next message took a new token before it logged in (%d new token request;", q.tokenRequests()-before)
	q.say("   a busy program gets it in the background before expiry). Token requests so far: %d.", q.tokenRequests())
	afterExpiry := q.tokenRequests() - before

	// Step 6: the server refuses a token that has not expired.
	before = q.tokenRequests()
	failuresBefore := q.smtp.Stats().AuthFailures
	q.smtp.DropConnections()
	q.smtp.RejectAuth(1)
	if err := q.send(ctx, "Ticket #1001 was closed"); err != nil {
		return err
	}
	q.say("6. The SMTP server restarted and refused the token the program held (\"535 5.7.3")
	q.say("   Authentication unsuccessful\", as Exchange answers a revoked token). The Sender")
	q.say("   reconnected, dropped the refused token, took %d new one and sent the message.", q.tokenRequests()-before)
	q.say("   Refused logins: %d. Token requests so far: %d.", q.smtp.Stats().AuthFailures-failuresBefore, q.tokenRequests())
	afterRefusal := q.tokenRequests() - before

	// Step 7: read the rest.
	got, err = q.receive(ctx, 2)
	if err != nil {
		return err
	}
	q.received += len(got)
	q.say("7. The Mailgate read the two later messages:")
	for _, m := range got {
		q.say("     Subject: %s", m.subject)
	}

	stats := q.smtp.Stats()
	q.say("")
	q.say("Summary: %d messages sent, %d received over IMAP. %d token requests: %d at the start,", len(q.sent), q.received, q.tokenRequests(), atStart)
	q.say("%d after the expiry, %d after the refusal. SMTP logins: %d accepted, %d refused.", afterExpiry, afterRefusal, stats.Auths, stats.AuthFailures)
	q.say("The Sender kept Exchange Online's limits for the mailbox (3 connections, 30 messages a")
	q.say("minute); no token was printed anywhere: run with -verbose to see the dialogues, AUTH redacted.")
	q.say("Next: examples/entra-send sends the same way through a real Microsoft 365 tenant.")
	return nil
}

// send submits a notification with subject to the mailbox itself and
// copies what the SMTP server accepted into the IMAP mailbox.
func (q *quickstart) send(ctx context.Context, subject string) error {
	msg, id, err := cli.Compose(cli.Message{
		From:     mailbox,
		FromName: "Helpdesk",
		To:       []string{mailbox},
		Subject:  subject,
		Body:     subject + ".\n\nThis notification was sent with an OAuth2 access token (SASL XOAUTH2).",
		Date:     q.idp.Now(),
		IDHost:   "quickstart.contoso.test",
	})
	if err != nil {
		return err
	}
	env := smtpx.Envelope{From: mailbox, To: []string{mailbox}}
	if err := q.sender.Send(ctx, env, bytes.NewReader(msg)); err != nil {
		return fmt.Errorf("send %q: %w", subject, err)
	}
	q.sent = append(q.sent, id)
	return q.deliver()
}

// deliver does what Exchange does between SMTP and IMAP: it puts each
// message the SMTP server accepted into the recipient's INBOX.
func (q *quickstart) deliver() error {
	msgs := q.smtp.Messages()
	for _, m := range msgs[q.delivered:] {
		for _, rcpt := range m.To {
			if _, err := q.imap.Deliver(rcpt, "INBOX", m.Data); err != nil {
				return fmt.Errorf("deliver to the IMAP mailbox: %w", err)
			}
		}
	}
	q.delivered = len(msgs)
	return nil
}

// received is what the quickstart prints of a message.
type received struct {
	subject, from, messageID string
}

// receive runs a Mailgate on INBOX until it has handled n messages, then
// stops it. Each message it handles is marked \Seen.
func (q *quickstart) receive(ctx context.Context, n int) ([]received, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan received, n)
	gate := imapx.NewMailgate(q.mb, &imapx.MailgateOptions{
		Options: imapx.Options{TLSConfig: q.imap.TLSConfig(), Debug: q.debug},
		Clock:   q.idp,
	}, func(_ context.Context, m *imapx.Message) error {
		r := received{}
		if e := m.Envelope; e != nil {
			r.subject, r.messageID = e.Subject, e.MessageID
			if len(e.From) > 0 {
				r.from = e.From[0].Addr()
			}
		}
		select {
		case got <- r:
		default: // more messages than asked for; they stay for a later run
			return errors.New("not now")
		}
		return nil
	})
	done := make(chan error, 1)
	go func() { done <- gate.Run(ctx) }()

	var out []received
	for len(out) < n {
		select {
		case r := <-got:
			out = append(out, r)
		case err := <-done:
			return nil, fmt.Errorf("the mailgate stopped: %w", err)
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for mail: %w", ctx.Err())
		}
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		return nil, fmt.Errorf("the mailgate: %w", err)
	}
	for _, r := range out {
		if !q.wasSent(r.messageID) {
			return nil, fmt.Errorf("received a message that was not sent: %+v", r)
		}
	}
	return out, nil
}

func (q *quickstart) wasSent(messageID string) bool {
	for _, id := range q.sent {
		if id == messageID {
			return true
		}
	}
	return false
}
