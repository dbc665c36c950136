// Package imapxtest runs a local IMAP server for tests, the way
// net/http/httptest runs an HTTP server: New starts it on 127.0.0.1 with a
// generated certificate, Close stops it. It stores mail in memory (go-imap's
// imapmemserver), authenticates with AUTHENTICATE XOAUTH2 and OAUTHBEARER
// only, verifying each token with a function, and has switches for the
// failures a long-running IMAP client meets: refused tokens (also with a
// reply that quotes the client's response), dropped connections, lost
// replies, a BYE during IDLE, throttling.
//
//	srv := imapxtest.New(nil) // STARTTLS, like port 143; Options.Security: provider.ImplicitTLS for 993
//	defer srv.Close()
//	srv.Deliver("alice@example.com", "INBOX", msg)
//	mb := srv.Mailbox("alice@example.com", nil) // tokens issued by srv
//	c, err := imapx.Dial(ctx, mb, &imapx.Options{TLSConfig: srv.TLSConfig()})
package imapxtest

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/internal/testcert"
	"github.com/mailoauth/mailoauth/provider"
)

// Options configure New. A nil *Options, like the zero value, is a server
// in clear until STARTTLS (as on port 143) that offers XOAUTH2 and
// OAUTHBEARER, SASL-IR, IDLE, MOVE and UIDPLUS, and accepts the tokens it
// issued itself (IssueToken, TokenSource).
type Options struct {
	// Security is how clients reach the server: zero (provider.StartTLS)
	// is in clear until STARTTLS, offering no AUTH= mechanism and refusing
	// AUTHENTICATE before it; provider.ImplicitTLS is TLS from the first
	// byte, as on port 993; provider.Plaintext accepts AUTHENTICATE without
	// TLS, for testing a client's Plaintext mode on loopback.
	Security provider.Security
	// Verify judges each token: username is the SASL user name (XOAUTH2's
	// user=, OAUTHBEARER's authorization identity). The intended one is
	// providertest's (*Server).VerifySASL. nil: only tokens this server
	// issued (VerifyIssued).
	Verify func(username, token string) error
	// Mechanisms are the SASL mechanisms offered; nil: XOAUTH2 and
	// OAUTHBEARER. []auth.Mechanism{auth.XOAUTH2} looks like Exchange
	// Online.
	Mechanisms []auth.Mechanism
	// NoSASLIR, NoIdle, NoMove and NoUIDPlus stop the server advertising
	// SASL-IR (clients then send the response after an empty "+"), IDLE
	// (clients poll), MOVE and UIDPLUS (UID EXPUNGE).
	NoSASLIR, NoIdle, NoMove, NoUIDPlus bool
	// TokenLifetime is the lifetime of tokens from IssueToken; zero: one
	// hour.
	TokenLifetime time.Duration
	// ExpiringSessions makes the server end a session whose token (one
	// from IssueToken) has expired, as Exchange Online does: at its next
	// command, or at once while it idles, the client receives "* BYE
	// Session invalidated - AccessTokenExpired" and the connection closes.
	// ExpiredSessions counts them.
	ExpiringSessions bool
	// EditTLS changes the server's TLS configuration (for example
	// MaxVersion) before the server starts; nil: none.
	EditTLS func(*tls.Config)
}

// ByeTokenExpired is Exchange Online's BYE text when the access token a
// session was opened with has expired.
const ByeTokenExpired = "Session invalidated - AccessTokenExpired"

// defaultTokenLifetime is the lifetime of issued tokens.
const defaultTokenLifetime = time.Hour

// AuthFailure is how a failure forced by FailAuth looks on the wire.
type AuthFailure int

const (
	// FailWithChallenge sends the mechanism's JSON error challenge, then
	// NO [AUTHENTICATIONFAILED] (Google, Dovecot).
	FailWithChallenge AuthFailure = iota
	// FailLikeExchange answers "NO AUTHENTICATE failed." at once: no
	// challenge, no response code (Exchange Online).
	FailLikeExchange
	// FailEchoing answers "NO [AUTHENTICATIONFAILED]" with a text that
	// repeats what the client sent, as careless servers do: the SASL
	// response in base64 as it came over the wire, the decoded response
	// and the token alone.
	FailEchoing
	// FailEchoingBad is FailEchoing with BAD, a server that calls the
	// response malformed and quotes it.
	FailEchoingBad
)

// Server is a running test IMAP server. Its methods are safe for concurrent
// use.
//
// Deliver and Messages wait while a FETCH is writing messages of the same
// folder (up to 32 at a time for a UID FETCH of listed UIDs, else all of
// them): a handler that holds a message's body unread must not call them.
type Server struct {
	// Configuration, set by New.
	security      provider.Security
	verify        func(username, token string) error
	noSASLIR      bool
	noIdle        bool
	noMove        bool
	noUIDPlus     bool
	mechanisms    []auth.Mechanism
	tokenLifetime time.Duration
	expiring      bool
	editTLS       func(*tls.Config)

	ln             net.Listener
	pipe           *pipeListener
	imap           *imapserver.Server
	mem            *imapmemserver.Server
	cert           tls.Certificate
	pool           *x509.CertPool
	serverTLS      *tls.Config
	internalSecret string
	wg             sync.WaitGroup

	mu     sync.Mutex // guards the fields below
	users  map[string]*imapmemserver.User
	conns  map[*conn]struct{}
	tokens map[string]issuedToken
	faults faults
	closed bool

	connections     atomic.Int64
	commands        atomic.Int64
	authCommands    atomic.Int64
	inlineResponses atomic.Int64
	auths           atomic.Int64
	authFailures    atomic.Int64
	idles           atomic.Int64
	byes            atomic.Int64
	throttled       atomic.Int64
	drops           atomic.Int64
	expired         atomic.Int64
}

// issuedToken is a token from IssueToken.
type issuedToken struct {
	user    string
	expiry  time.Time
	revoked bool
}

// New starts a server on 127.0.0.1 (a random port); a nil opts means the
// defaults. It panics if it cannot listen, like httptest.NewServer.
func New(opts *Options) *Server {
	if opts == nil {
		opts = &Options{}
	}
	s := &Server{
		security:      opts.Security,
		verify:        opts.Verify,
		noSASLIR:      opts.NoSASLIR,
		noIdle:        opts.NoIdle,
		noMove:        opts.NoMove,
		noUIDPlus:     opts.NoUIDPlus,
		mechanisms:    append([]auth.Mechanism(nil), opts.Mechanisms...),
		tokenLifetime: opts.TokenLifetime,
		expiring:      opts.ExpiringSessions,
		editTLS:       opts.EditTLS,
		users:         make(map[string]*imapmemserver.User),
		conns:         make(map[*conn]struct{}),
		tokens:        make(map[string]issuedToken),
		mem:           imapmemserver.New(),
		pipe:          newPipeListener(),
	}
	if s.verify == nil {
		s.verify = s.VerifyIssued
	}
	if opts.Mechanisms == nil {
		s.mechanisms = []auth.Mechanism{auth.XOAUTH2, auth.OAUTHBEARER}
	}
	if s.tokenLifetime <= 0 {
		s.tokenLifetime = defaultTokenLifetime
	}
	var err error
	if s.cert, s.pool, err = testcert.New("imapxtest"); err != nil {
		panic(err)
	}
	s.serverTLS = &tls.Config{Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12}
	if s.editTLS != nil {
		s.editTLS(s.serverTLS)
	}
	s.internalSecret = randomString()

	caps := imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapNamespace: {}, imap.CapLiteralPlus: {}}
	if !s.noMove {
		caps[imap.CapMove] = struct{}{}
	}
	if !s.noUIDPlus {
		caps[imap.CapUIDPlus] = struct{}{}
	}
	s.imap = imapserver.New(&imapserver.Options{
		NewSession: func(ic *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			c, ok := ic.NetConn().(*conn)
			if !ok {
				return nil, nil, errors.New("imapxtest: unexpected connection type")
			}
			return &session{s: s, ic: ic, c: c}, nil, nil
		},
		Caps:   caps,
		Logger: log.New(io.Discard, "", 0),
		// Our conn hides *tls.Conn from imapserver, which then allows
		// no AUTHENTICATE (TestUpstreamAuthOnlyOnATLSConnItself);
		// session.Authenticate enforces TLS itself.
		InsecureAuth: true,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("imapxtest: listening on 127.0.0.1: %v", err))
	}
	s.ln = &listener{Listener: ln, s: s}
	s.wg.Add(2)
	go func() { defer s.wg.Done(); _ = s.imap.Serve(s.ln) }()
	go func() { defer s.wg.Done(); _ = s.imap.Serve(s.pipe) }()
	return s
}

// Close stops the server and closes every connection.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	// Stop accepting and wait for Serve to return before imapserver's
	// Close, whose WaitGroup would race with a Serve that is just starting.
	_ = s.ln.Close()
	_ = s.pipe.Close()
	s.wg.Wait()
	_ = s.imap.Close() // closes the open connections
}

// randomString returns 24 random bytes in base64url.
func randomString() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Addr returns the server's address, "127.0.0.1:port".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Endpoint returns the server as a provider.Server: host 127.0.0.1, its
// port, and its Security.
func (s *Server) Endpoint() provider.Server {
	return provider.Server{Host: s.Host(), Port: s.Port(), Security: s.security}
}

// Host returns "127.0.0.1".
func (s *Server) Host() string { return "127.0.0.1" }

// Port returns the port the server listens on.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Mailbox returns a ready mailbox for user on this server: XOAUTH2 and
// tokens, or, when tokens is nil, a TokenSource of this server.
func (s *Server) Mailbox(user string, tokens auth.TokenSource) *provider.Mailbox {
	if tokens == nil {
		tokens = s.TokenSource(user)
	}
	return &provider.Mailbox{Address: user, IMAP: s.Endpoint(), Mechanism: auth.XOAUTH2, Tokens: tokens}
}

// TLSConfig returns a client TLS configuration that trusts the server's
// certificate (valid for 127.0.0.1, ::1 and localhost).
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12}
}

// CertPool returns a pool with the server's certificate.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// Certificate returns the server's certificate, its own root.
func (s *Server) Certificate() *x509.Certificate { return s.cert.Leaf }

// CertificatePEM returns the server's certificate in PEM, for programs
// configured with a CA file.
func (s *Server) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.cert.Leaf.Raw})
}

// lookupUser returns the user, or nil.
func (s *Server) lookupUser(name string) *imapmemserver.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.users[name]
}

// ensureUser returns the user, created with an INBOX if new.
func (s *Server) ensureUser(name string) *imapmemserver.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[name]
	if u == nil {
		// The password is never used: LOGIN is only for our own
		// connections, which check internalSecret.
		u = imapmemserver.NewUser(name, randomString())
		_ = u.Create("INBOX", nil)
		s.users[name] = u
		s.mem.AddUser(u)
	}
	return u
}

// CreateFolder creates folder for user (and the user, with an INBOX). A
// folder that exists already is fine.
func (s *Server) CreateFolder(user, folder string) error {
	if user == "" || folder == "" {
		return errors.New("imapxtest: CreateFolder: empty user or folder")
	}
	err := s.ensureUser(user).Create(folder, nil)
	var ie *imap.Error
	if errors.As(err, &ie) && ie.Code == imap.ResponseCodeAlreadyExists {
		return nil
	}
	return err
}

// Deliver appends msg to folder of user, creating both if needed, and
// returns its UID. Sessions idling on the folder are told at once.
func (s *Server) Deliver(user, folder string, msg []byte) (imap.UID, error) {
	if err := s.CreateFolder(user, folder); err != nil {
		return 0, err
	}
	data, err := s.ensureUser(user).Append(folder, bytes.NewReader(msg), &imap.AppendOptions{})
	if err != nil {
		return 0, err
	}
	return data.UID, nil
}

// Message is a message as stored, for assertions.
type Message struct {
	UID          imap.UID
	Flags        []imap.Flag
	InternalDate time.Time
	Body         []byte
}

// HasFlag reports whether m has flag (case-insensitive).
func (m *Message) HasFlag(flag imap.Flag) bool {
	for _, f := range m.Flags {
		if strings.EqualFold(string(f), string(flag)) {
			return true
		}
	}
	return false
}

// Messages returns the messages in folder of user, in UID order. It reads
// them over a connection of its own that no counter or fault sees.
func (s *Server) Messages(user, folder string) ([]Message, error) {
	if s.lookupUser(user) == nil {
		return nil, fmt.Errorf("imapxtest: no user %q", user)
	}
	nc, err := s.pipe.dial(s)
	if err != nil {
		return nil, err
	}
	c := imapclient.New(nc, nil)
	defer c.Close()
	if err := c.Login(user, s.internalSecret).Wait(); err != nil {
		return nil, fmt.Errorf("imapxtest: reading %s: %w", folder, err)
	}
	sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, fmt.Errorf("imapxtest: reading %s: %w", folder, err)
	}
	var out []Message
	if sel.NumMessages > 0 {
		bufs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
			UID: true, Flags: true, InternalDate: true,
			BodySection: []*imap.FetchItemBodySection{{Peek: true}},
		}).Collect()
		if err != nil {
			return nil, fmt.Errorf("imapxtest: reading %s: %w", folder, err)
		}
		for _, b := range bufs {
			m := Message{UID: b.UID, Flags: b.Flags, InternalDate: b.InternalDate}
			for _, sec := range b.BodySection {
				m.Body = sec.Bytes
			}
			out = append(out, m)
		}
	}
	_ = c.Logout().Wait()
	return out, nil
}

// ResetUIDValidity recreates folder of user with the same messages (flags
// and dates kept, new UIDs) under a new UIDVALIDITY, and drops that user's
// connections, as a server does after rebuilding its index.
func (s *Server) ResetUIDValidity(user, folder string) error {
	msgs, err := s.Messages(user, folder)
	if err != nil {
		return err
	}
	u := s.ensureUser(user)
	if err := u.Delete(folder); err != nil {
		return err
	}
	if err := u.Create(folder, nil); err != nil {
		return err
	}
	for _, m := range msgs {
		if _, err := u.Append(folder, bytes.NewReader(m.Body), &imap.AppendOptions{Flags: m.Flags, Time: m.InternalDate}); err != nil {
			return err
		}
	}
	s.mu.Lock()
	for c := range s.conns {
		if c.user.Load() == user {
			c.kill()
		}
	}
	s.mu.Unlock()
	return nil
}

// SetFlags adds flags to the message uid in folder of user.
func (s *Server) SetFlags(user, folder string, uid imap.UID, flags ...imap.Flag) error {
	if s.lookupUser(user) == nil {
		return fmt.Errorf("imapxtest: no user %q", user)
	}
	nc, err := s.pipe.dial(s)
	if err != nil {
		return err
	}
	c := imapclient.New(nc, nil)
	defer c.Close()
	if err := c.Login(user, s.internalSecret).Wait(); err != nil {
		return err
	}
	if _, err := c.Select(folder, nil).Wait(); err != nil {
		return err
	}
	if err := c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: flags}, nil).Close(); err != nil {
		return err
	}
	return c.Logout().Wait()
}

// track registers a client connection.
func (s *Server) track(c *conn) {
	s.connections.Add(1)
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
}

// forget unregisters a closed connection.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// DropConnections closes every open client connection at once, wherever
// it is in the dialogue.
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.kill()
	}
}

// OpenConnections returns the number of client connections open now.
func (s *Server) OpenConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Connections returns the number of client connections accepted so far.
func (s *Server) Connections() int { return int(s.connections.Load()) }

// Commands returns the number of client commands received so far.
func (s *Server) Commands() int { return int(s.commands.Load()) }

// AuthAttempts returns the number of AUTHENTICATE commands received.
func (s *Server) AuthAttempts() int { return int(s.authCommands.Load()) }

// InlineResponses returns the number of AUTHENTICATE commands that carried
// the initial response inline (SASL-IR).
func (s *Server) InlineResponses() int { return int(s.inlineResponses.Load()) }

// Auths returns the number of successful AUTHENTICATE exchanges.
func (s *Server) Auths() int { return int(s.auths.Load()) }

// AuthFailures returns the number of refused AUTHENTICATE exchanges.
func (s *Server) AuthFailures() int { return int(s.authFailures.Load()) }

// Idles returns the number of IDLE commands received.
func (s *Server) Idles() int { return int(s.idles.Load()) }

// Byes returns the number of BYEs sent by ByeDuringIdle.
func (s *Server) Byes() int { return int(s.byes.Load()) }

// Throttled returns the number of throttling replies sent.
func (s *Server) Throttled() int { return int(s.throttled.Load()) }

// ExpiredSessions returns the number of sessions ended because their token
// expired (Options.ExpiringSessions).
func (s *Server) ExpiredSessions() int { return int(s.expired.Load()) }

// Drops returns the number of connections dropped by DropAfterCommands,
// DropRandomly and LoseReplies.
func (s *Server) Drops() int { return int(s.drops.Load()) }
