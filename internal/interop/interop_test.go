//go:build interop && linux

package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/imapx"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/retry"
	"github.com/mailoauth/mailoauth/smtpx"
	"github.com/mailoauth/mailoauth/tokenstore"
)

const (
	appID     = "0a0a0a0a-1b1b-2c2c-3d3d-4e4e4e4e4e4e"
	appSecret = "interop-app-secret-value"
	scopes    = "offline_access https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All"
)

// world is one identity provider and one Dovecot + Postfix pair that trusts
// its tokens through introspection.
type world struct {
	idp   *providertest.Server
	peers *Peers
}

func newWorld(t *testing.T) *world {
	idp := providertest.New()
	t.Cleanup(idp.Close)
	idp.AddApp(providertest.App{ClientID: appID, Tenant: providertest.DefaultTenant, Secret: appSecret})
	peers := StartPeers(t, idp.PlainURL()+"/introspect")
	return &world{idp: idp, peers: peers}
}

// account is one user with a delegated grant, the way a helpdesk holds it:
// a refresh token in a store, refreshed through entra.Delegated.
type account struct {
	user         string
	firstRefresh string
	mb           *provider.Mailbox
	debug        *lockedBuffer
}

func (w *world) account(t *testing.T, user string) *account {
	t.Helper()
	ctx := context.Background()
	rt := w.idp.IssueRefreshToken(appID, user, scopes)
	store := tokenstore.NewMemory()
	key := "entra/" + user
	require.NoError(t, store.Save(ctx, key, &tokenstore.Record{Token: &oauth2.Token{RefreshToken: rt}, Account: user}))
	mb, err := entra.Delegated(ctx, entra.Config{
		TenantID:     providertest.DefaultTenant,
		ClientID:     appID,
		ClientSecret: appSecret,
		Cloud:        entra.Global.WithAuthorityHost(w.idp.URL()),
		Mailbox:      user,
		StoreKey:     key,
		HTTPClient:   w.idp.Client(),
		Lazy:         true,
	}, store)
	require.NoError(t, err)
	return &account{user: user, firstRefresh: rt, mb: mb, debug: &lockedBuffer{}}
}

func (w *world) server(port int, sec provider.Security) provider.Server {
	return provider.Server{Host: "127.0.0.1", Port: port, Security: sec}
}

func (w *world) smtpOptions(a *account) *smtpx.SenderOptions {
	return &smtpx.SenderOptions{
		Options:      smtpx.Options{TLSConfig: w.peers.TLSConfig(), LocalName: "client.example.test", Debug: a.debug},
		RetryBackoff: retry.Backoff{Min: 200 * time.Millisecond, Max: time.Second},
	}
}

func message(from, to, subject string) []byte {
	return []byte("From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.test>\r\n" +
		"Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n\r\nHello from mailoauth over " + subject + ".\r\n")
}

// receive runs a Mailgate on a's INBOX until one message has been handled
// and moved to Processed, and returns its bytes.
func (w *world) receive(t *testing.T, a *account, imap provider.Server) []byte {
	t.Helper()
	a.mb.IMAP = imap
	return receiveOne(t, w.peers, a.mb, a.debug)
}

// receiveOne runs a Mailgate on mb's INBOX at mb.IMAP until one message
// has been handled and moved to Processed, and returns its bytes.
func receiveOne(t *testing.T, peers *Peers, mb *provider.Mailbox, debug io.Writer) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	processed := countMaildir(peers.Maildir(mb.Address), ".Processed")
	got := make(chan []byte, 4)
	gate := imapx.NewMailgate(mb, &imapx.MailgateOptions{
		Options:      imapx.Options{TLSConfig: peers.TLSConfig(), Debug: debug},
		After:        imapx.Move,
		MoveTo:       "Processed",
		PollInterval: 200 * time.Millisecond,
	}, func(ctx context.Context, m *imapx.Message) error {
		b, err := io.ReadAll(m.Body)
		if err != nil {
			return err
		}
		got <- b
		return nil
	})
	done := make(chan error, 1)
	go func() { done <- gate.Run(ctx) }()
	var body []byte
	select {
	case body = <-got:
	case err := <-done:
		t.Fatalf("mailgate stopped before a message came: %v", err)
	case <-ctx.Done():
		t.Fatal("no message reached the mailgate")
	}
	// The move is applied after the handler: wait for Dovecot to show it.
	waitFor(t, 10*time.Second, "the message in Processed", func() bool {
		return countMaildir(peers.Maildir(mb.Address), ".Processed") == processed+1 && countMaildir(peers.Maildir(mb.Address), "") == 0
	})
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("mailgate: %v", err)
	}
	return body
}

// countMaildir counts messages in a Maildir folder ("" is INBOX).
func countMaildir(root, folder string) int {
	n := 0
	for _, sub := range []string{"new", "cur"} {
		es, _ := os.ReadDir(filepath.Join(root, folder, sub))
		n += len(es)
	}
	return n
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSendAndReceive sends through each submission server with each
// mechanism and reads the message back with the mailgate, over implicit TLS
// and STARTTLS in turn.
func TestSendAndReceive(t *testing.T) {
	w := newWorld(t)
	cases := []struct {
		name    string
		port    int
		mech    auth.Mechanism
		imapTLS provider.Security
	}{
		{"dovecot-submission/XOAUTH2", w.peers.Submission, auth.XOAUTH2, provider.ImplicitTLS},
		{"dovecot-submission/OAUTHBEARER", w.peers.Submission, auth.OAUTHBEARER, provider.StartTLS},
		{"postfix-submission/XOAUTH2", w.peers.PostfixSubmission, auth.XOAUTH2, provider.StartTLS},
		{"postfix-submission/OAUTHBEARER", w.peers.PostfixSubmission, auth.OAUTHBEARER, provider.ImplicitTLS},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			user := fmt.Sprintf("user%d@example.test", i)
			a := w.account(t, user)
			a.mb.Mechanism = c.mech
			a.mb.SMTP = w.server(c.port, provider.StartTLS)
			sender := smtpx.NewSender(a.mb, w.smtpOptions(a))
			msg := message(user, user, "case "+strings.ReplaceAll(c.name, "/", " "))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			require.NoError(t, sender.Send(ctx, smtpx.Envelope{From: user, To: []string{user}}, bytes.NewReader(msg)))
			require.NoError(t, sender.Close())

			imapPort := w.peers.IMAPS
			if c.imapTLS == provider.StartTLS {
				imapPort = w.peers.IMAP
			}
			got := w.receive(t, a, w.server(imapPort, c.imapTLS))
			require.True(t, bytes.HasSuffix(got, msg), "the delivered message must end with the bytes sent (servers only prepend trace headers)\n%s", got)
			require.Contains(t, a.debug.String(), "AUTH "+string(c.mech), "the transcript shows the mechanism used")
			require.NotContains(t, a.debug.String(), a.firstRefresh)
			t.Logf("%s: sent, delivered, read back over IMAP %v, moved", c.name, c.imapTLS)
		})
	}
}

// TestRevokedTokenIsReplacedOnce revokes the access token at the identity
// provider between two sends: Dovecot's introspection refuses it, the
// server sends its error challenge, the client invalidates the token, takes
// exactly one new one, and the second send succeeds.
func TestRevokedTokenIsReplacedOnce(t *testing.T) {
	w := newWorld(t)
	user := "revoked@example.test"
	a := w.account(t, user)
	a.mb.SMTP = w.server(w.peers.Submission, provider.StartTLS)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	send := func(subject string) error {
		c, err := smtpx.Dial(ctx, a.mb, &smtpx.Options{TLSConfig: w.peers.TLSConfig(), Debug: a.debug})
		if err != nil {
			return err
		}
		defer c.Close()
		return c.Send(ctx, user, []string{user}, bytes.NewReader(message(user, user, subject)))
	}
	require.NoError(t, send("first"))
	tok, err := a.mb.Tokens.Token(ctx)
	require.NoError(t, err)
	before := w.idp.Requests("refresh_token")
	w.idp.RevokeToken(tok.AccessToken)

	require.NoError(t, send("second"))
	require.Equal(t, before+1, w.idp.Requests("refresh_token"), "exactly one new token after the refusal")
	require.Contains(t, a.debug.String(), "334 eyJzdGF0dXMiOiI0MDEi", "Dovecot's error challenge is in the transcript")
	waitFor(t, 10*time.Second, "two delivered messages", func() bool { return countMaildir(w.peers.Maildir(user), "") == 2 })
}

// TestRevokedGrantIsDiagnosed revokes the whole grant: no token can be had,
// the error says the mailbox must be authorized again, and nothing is sent.
func TestRevokedGrantIsDiagnosed(t *testing.T) {
	w := newWorld(t)
	user := "gone@example.test"
	a := w.account(t, user)
	a.mb.SMTP = w.server(w.peers.Submission, provider.StartTLS)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := a.mb.Tokens.Token(ctx)
	require.NoError(t, err)
	w.idp.RevokeGrant(a.firstRefresh)
	w.idp.RevokeToken(tok.AccessToken)

	sender := smtpx.NewSender(a.mb, w.smtpOptions(a))
	defer sender.Close()
	err = sender.Send(ctx, smtpx.Envelope{From: user, To: []string{user}}, bytes.NewReader(message(user, user, "never")))
	require.Error(t, err)
	d := provider.Diagnose(err)
	require.NotNil(t, d, "the error must be diagnosed: %v", err)
	require.Equal(t, provider.Reauthorize, d.Kind, "diagnosis: %v", d)
	time.Sleep(500 * time.Millisecond)
	require.Zero(t, countMaildir(w.peers.Maildir(user), ""), "nothing may be delivered")
	t.Logf("revoked grant: %v", d)
}

// TestIntrospectionOutageIsTransient makes the introspection endpoint fail:
// Dovecot answers with a temporary failure, which is diagnosed Transient and
// retried, never taken for a refused token or a lost grant.
func TestIntrospectionOutageIsTransient(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("smtp", func(t *testing.T) {
		user := "outage-smtp@example.test"
		a := w.account(t, user)
		a.mb.SMTP = w.server(w.peers.Submission, provider.StartTLS)
		_, err := a.mb.Tokens.Token(ctx)
		require.NoError(t, err)
		refreshes := w.idp.Requests("refresh_token")

		// One failure: a single connection attempt sees 454 4.7.0.
		w.idp.FailIntrospection(1, 503)
		_, err = smtpx.Dial(ctx, a.mb, &smtpx.Options{TLSConfig: w.peers.TLSConfig()})
		require.Error(t, err)
		require.True(t, smtpx.IsTemporary(err), "454 is temporary: %v", err)
		d := provider.Diagnose(err)
		require.NotNil(t, d, "%v", err)
		require.Equal(t, provider.Transient, d.Kind, "diagnosis: %v", d)

		// The Sender retries through a short outage and delivers.
		w.idp.FailIntrospection(1, 503)
		sender := smtpx.NewSender(a.mb, w.smtpOptions(a))
		require.NoError(t, sender.Send(ctx, smtpx.Envelope{From: user, To: []string{user}}, bytes.NewReader(message(user, user, "after outage"))))
		require.NoError(t, sender.Close())
		require.Equal(t, refreshes, w.idp.Requests("refresh_token"), "a temporary failure must not cost a refresh")
		waitFor(t, 10*time.Second, "the delivered message", func() bool { return countMaildir(w.peers.Maildir(user), "") == 1 })
	})

	t.Run("imap", func(t *testing.T) {
		a := w.account(t, "outage-imap@example.test")
		a.mb.IMAP = w.server(w.peers.IMAPS, provider.ImplicitTLS)
		w.idp.FailIntrospection(1, 503)
		_, err := imapx.Dial(ctx, a.mb, &imapx.Options{TLSConfig: w.peers.TLSConfig()})
		require.Error(t, err)
		d := provider.Diagnose(err)
		require.NotNil(t, d, "%v", err)
		require.Equal(t, provider.Transient, d.Kind, "NO [UNAVAILABLE] is transient: %v", d)
		c, err := imapx.Dial(ctx, a.mb, &imapx.Options{TLSConfig: w.peers.TLSConfig()})
		require.NoError(t, err, "once the endpoint is back, the same token works")
		c.Close()
	})
}

// TestNoTokenBeforeTLS: Dovecot counts loopback as secure and offers AUTH
// before STARTTLS, but our client must not send a token in clear. The
// server's own log tells whether each login was under TLS.
func TestNoTokenBeforeTLS(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := w.account(t, "tls@example.test")
	a.mb.SMTP = w.server(w.peers.Submission, provider.StartTLS)
	a.mb.IMAP = w.server(w.peers.IMAP, provider.StartTLS)

	c, err := smtpx.Dial(ctx, a.mb, &smtpx.Options{TLSConfig: w.peers.TLSConfig(), Debug: a.debug})
	require.NoError(t, err)
	c.Close()
	ic, err := imapx.Dial(ctx, a.mb, &imapx.Options{TLSConfig: w.peers.TLSConfig(), Debug: a.debug})
	require.NoError(t, err)
	ic.Close()

	tr := a.debug.String()
	// Dovecot advertised AUTH before STARTTLS (loopback counts as secure
	// for it); the client's own lines show the order it chose.
	require.Contains(t, tr, "250-AUTH XOAUTH2")
	starttls, authLine := strings.Index(tr, "C: STARTTLS"), strings.Index(tr, "C: AUTH ")
	require.True(t, starttls >= 0 && authLine > starttls, "STARTTLS must come before AUTH in the SMTP transcript:\n%s", tr)
	imapStartTLS := regexp.MustCompile(`C: \S+ STARTTLS`).FindStringIndex(tr)
	require.NotNil(t, imapStartTLS, "no IMAP STARTTLS in the transcript")
	require.Less(t, imapStartTLS[0], strings.Index(tr, "AUTHENTICATE"), "STARTTLS must come before AUTHENTICATE in the IMAP transcript")

	// Dovecot logs every login with ", TLS" when it was secured by TLS.
	waitFor(t, 5*time.Second, "two logins in Dovecot's log", func() bool {
		return strings.Count(w.peers.Log("dovecot"), "Login: user=<tls@example.test>") >= 2
	})
	for _, line := range strings.Split(w.peers.Log("dovecot"), "\n") {
		if strings.Contains(line, "Login: user=<tls@example.test>") {
			require.Contains(t, line, ", TLS", "a login without TLS: %s", line)
		}
	}
}
