// Package smtpxtest is a local SMTP submission server for tests, in the
// manner of net/http/httptest: New starts it on 127.0.0.1, Close stops it.
//
// It speaks go-smtp's server with STARTTLS (or implicit TLS) under a
// generated certificate, authenticates XOAUTH2 and OAUTHBEARER through a
// verify function, keeps every message it accepts, logs every command, and
// injects the faults real servers produce:
//
//	idp := providertest.New()
//	defer idp.Close()
//	srv := smtpxtest.New(&smtpxtest.Options{Verify: idp.VerifySASL})
//	defer srv.Close()
//	mb := srv.Mailbox("app@example.com", tokens)
//	c, err := smtpx.Dial(ctx, mb, &smtpx.Options{TLSConfig: srv.TLSConfig()})
package smtpxtest

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/internal/testcert"
	"github.com/mailoauth/mailoauth/provider"
)

// maxLineLength is the longest line the server reads: RFC 4954 §4 calls
// 12288 octets enough for a SASL response; a little more is allowed.
const maxLineLength = 16 << 10

// domain is the name in the server's greeting.
const domain = "smtpxtest.localhost"

// Message is a message the server accepted.
type Message struct {
	From string
	To   []string
	Data []byte   // the message as received; nil with Options.NoBodies
	Size int64    // length of the message in octets
	Sum  [32]byte // SHA-256 of the message
	User string   // the authenticated SASL user name
	Conn int      // the connection's number, from 1
}

// Command is a command line the server read, AUTH payloads replaced by
// "[redacted]".
type Command struct {
	Conn int
	Line string
}

// Stats are the server's counters since it started.
type Stats struct {
	Connections         int // connections accepted
	MaxConcurrentConns  int // most connections open at once
	Auths               int // successful AUTH exchanges
	AuthFailures        int // failed AUTH exchanges
	MaxConcurrentAuthed int // most authenticated connections open at once
	Messages            int // messages accepted
	Rejected432         int // submissions answered 432 4.3.2 by the connection cap
	Closed421           int // connections closed with a 421 fault
	Dropped             int // connections dropped in the middle of DATA
}

// RandomFaults makes the server misbehave at random, for stress tests.
// Each probability is in [0, 1].
type RandomFaults struct {
	Seed uint64
	// Reply421AtMail answers MAIL with 421 and closes the connection.
	Reply421AtMail float64
	// Reply421AfterData answers the end of a message with 421 (the message
	// is not kept) and closes the connection.
	Reply421AfterData float64
	// DropInData closes the connection in the middle of DATA.
	DropInData float64
}

// Options configure New. A nil *Options, like the zero value, is a
// STARTTLS submission server offering XOAUTH2 and OAUTHBEARER that accepts
// only the tokens given to AllowToken.
type Options struct {
	// Security is how clients reach the server: zero (provider.StartTLS)
	// is in clear until STARTTLS, as submission on port 587;
	// provider.ImplicitTLS is TLS from the first byte, as on 465;
	// provider.Plaintext offers no STARTTLS yet advertises AUTH in clear,
	// so a careless client would send its token.
	Security provider.Security
	// Verify decides whether a token opens a mailbox; providertest's
	// VerifySASL is the intended one. nil: only the pairs given to
	// AllowToken, none by default, so a forgotten Verify never lets every
	// token in.
	Verify func(username, token string) error
	// Mechanisms are the SASL mechanisms advertised and accepted; nil:
	// XOAUTH2 and OAUTHBEARER.
	Mechanisms []auth.Mechanism
	// NoErrorChallenge makes a refused token fail at once with "535 5.7.3
	// Authentication unsuccessful", as Exchange Online does, instead of the
	// JSON error challenge Google and Dovecot send first.
	NoErrorChallenge bool
	// MaxRecipients makes the server refuse recipients beyond that many in
	// one transaction with "452 4.5.3"; zero: no limit.
	MaxRecipients int
	// NoBodies keeps only the size and SHA-256 of each message, for tests
	// that send large ones.
	NoBodies bool
	// Logger gets the server's internal errors; nil discards them.
	Logger *slog.Logger
	// EditTLS changes the server's TLS configuration (for example
	// MaxVersion, or Certificates) before the server starts; nil: none.
	// TLSConfig, CertPool and Certificate still describe the certificate
	// New made.
	EditTLS func(*tls.Config)
}

// config is Options with the defaults filled in.
type config struct {
	security    provider.Security
	verify      func(username, token string) error
	mechs       []string
	noBodies    bool
	noChallenge bool
	maxRcpt     int
	logger      *slog.Logger
}

// Server is a running test SMTP server. Its methods are safe for
// concurrent use.
type Server struct {
	cfg       config
	ln        net.Listener
	tlsConfig *tls.Config
	cert      *x509.Certificate
	pool      *x509.CertPool
	port      int
	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once

	mu        sync.Mutex // guards the fields below
	conns     map[*conn]*smtp.Server
	nextConn  int
	allowed   map[[2]string]bool
	messages  []Message
	commands  []Command
	stats     Stats
	authedNow int
	slotsUsed int
	// faults
	rejectAuth   int
	echo         echoFault
	fail421After int
	dropData     int
	rcptFaults   map[string]*smtp.SMTPError
	delay        time.Duration
	maxAuthConns int
	random       RandomFaults
	rnd          *rand.Rand
}

// New starts a server on 127.0.0.1 on a free port; a nil opts means the
// defaults. It panics if it cannot listen, as httptest.NewServer does.
func New(opts *Options) *Server {
	if opts == nil {
		opts = &Options{}
	}
	cfg := config{
		security:    opts.Security,
		verify:      opts.Verify,
		noBodies:    opts.NoBodies,
		noChallenge: opts.NoErrorChallenge,
		maxRcpt:     opts.MaxRecipients,
		logger:      opts.Logger,
	}
	mechs := opts.Mechanisms
	if mechs == nil {
		mechs = []auth.Mechanism{auth.XOAUTH2, auth.OAUTHBEARER}
	}
	for _, m := range mechs {
		cfg.mechs = append(cfg.mechs, strings.ToUpper(string(m)))
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	cert, pool, err := testcert.New("smtpxtest")
	if err != nil {
		panic(err)
	}
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if opts.EditTLS != nil {
		opts.EditTLS(serverTLS)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("smtpxtest: listen: %v", err))
	}
	s := &Server{
		cfg:        cfg,
		ln:         ln,
		tlsConfig:  serverTLS,
		cert:       cert.Leaf,
		pool:       pool,
		port:       ln.Addr().(*net.TCPAddr).Port,
		done:       make(chan struct{}),
		conns:      make(map[*conn]*smtp.Server),
		allowed:    make(map[[2]string]bool),
		rcptFaults: make(map[string]*smtp.SMTPError),
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s
}

// Close stops the server and closes every connection.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.ln.Close()
		s.mu.Lock()
		conns := make([]*conn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
		s.wg.Wait()
	})
}

// Addr returns "127.0.0.1:port".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Host returns "127.0.0.1".
func (s *Server) Host() string { return "127.0.0.1" }

// Port returns the port the server listens on.
func (s *Server) Port() int { return s.port }

// Endpoint returns the server's address and security as a provider.Server,
// ready for a Mailbox.
func (s *Server) Endpoint() provider.Server {
	return provider.Server{Host: s.Host(), Port: s.port, Security: s.cfg.security}
}

// Mailbox returns a Mailbox for address on this server with tokens.
func (s *Server) Mailbox(address string, tokens auth.TokenSource) *provider.Mailbox {
	return &provider.Mailbox{Address: address, SMTP: s.Endpoint(), Tokens: tokens}
}

// TLSConfig returns a new client configuration that trusts the server's
// certificate (valid for 127.0.0.1, ::1 and localhost).
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12}
}

// CertPool returns a pool holding the server's certificate.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// Certificate returns the server's certificate.
func (s *Server) Certificate() *x509.Certificate { return s.cert }

// CertificatePEM returns the server's certificate in PEM, for peers
// configured with a CA file.
func (s *Server) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.cert.Raw})
}

// Connections returns the number of connections accepted so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.Connections
}

// AllowToken makes the default verify (without Options.Verify) accept token
// for username.
func (s *Server) AllowToken(username, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.allowed[[2]string{username, token}] = true
}

// Messages returns a copy of the messages accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Commands returns the command lines read so far, in order per
// connection. AUTH payloads and SASL continuation lines are not kept.
func (s *Server) Commands() []Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Command(nil), s.commands...)
}

// CommandCount returns how many commands with verb (case-insensitive)
// the server read.
func (s *Server) CommandCount(verb string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.commands {
		v, _, _ := strings.Cut(c.Line, " ")
		if strings.EqualFold(v, verb) {
			n++
		}
	}
	return n
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// OpenConnections returns the number of connections open now.
func (s *Server) OpenConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// acceptLoop serves each connection with its own go-smtp server, so that
// its command log knows which connection a line belongs to.
func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		raw, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.wg.Add(1)
		go s.serve(raw)
	}
}

func (s *Server) serve(raw net.Conn) {
	defer s.wg.Done()
	c := &conn{Conn: raw, s: s, closed: make(chan struct{})}
	c.log = &commandLog{s: s, c: c}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{s: s, c: c}, nil
	}))
	srv.Domain = domain
	srv.MaxLineLength = maxLineLength
	srv.MaxRecipients = s.cfg.maxRcpt
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.Debug = c.log
	switch s.cfg.security {
	case provider.StartTLS:
		srv.TLSConfig = s.tlsConfig
	case provider.Plaintext:
		srv.AllowInsecureAuth = true
	}
	var nc net.Conn = c
	if s.cfg.security == provider.ImplicitTLS {
		nc = tls.Server(c, s.tlsConfig)
	}

	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		raw.Close()
		return
	default:
	}
	s.nextConn++
	c.id = s.nextConn
	s.conns[c] = srv
	s.stats.Connections++
	s.stats.MaxConcurrentConns = max(s.stats.MaxConcurrentConns, len(s.conns))
	s.mu.Unlock()

	_ = srv.Serve(&oneConnListener{conn: nc, closed: c.closed})
	_ = srv.Shutdown(context.Background()) // waits for the connection's handler
}

// sleep waits the configured reply delay, if any.
func (s *Server) sleep() {
	s.mu.Lock()
	d := s.delay
	s.mu.Unlock()
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.done:
	}
}

// chance draws against probability p.
func (s *Server) chanceLocked(p float64) bool {
	return p > 0 && s.rnd != nil && s.rnd.Float64() < p
}

// store keeps an accepted message.
func (s *Server) storeLocked(c *conn, from string, to []string, data []byte, size int64, sum [32]byte) {
	s.messages = append(s.messages, Message{
		From: from, To: append([]string(nil), to...), Data: data, Size: size, Sum: sum, User: c.user, Conn: c.id,
	})
	s.stats.Messages++
	c.msgs++
}

// readMessage reads a whole message as the configuration says.
func (s *Server) readMessage(r io.Reader) (data []byte, size int64, sum [32]byte, err error) {
	h := sha256.New()
	if s.cfg.noBodies {
		size, err = io.Copy(h, r)
	} else {
		data, err = io.ReadAll(io.TeeReader(r, h))
		size = int64(len(data))
	}
	copy(sum[:], h.Sum(nil))
	return data, size, sum, err
}
