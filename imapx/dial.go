package imapx

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/charset"
	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/provider"
)

// IMAP ports (RFC 8314 §7, RFC 9051 §1).
const (
	portIMAPS = 993 // implicit TLS
	portIMAP  = 143 // STARTTLS
)

// Limits of our own STARTTLS exchange, which runs before go-imap's client.
const (
	startTLSTag      = "S0"
	maxPreambleLines = 16
	maxPreambleLine  = 8 << 10
)

// maxAuthAttempts: the first token, then one fresh token after a refusal.
const maxAuthAttempts = 2

// Dial connects to the mailbox's IMAP server and authenticates with a token
// from mb.Tokens: implicit TLS or STARTTLS as mb.IMAP.Security says (TLS 1.2
// or later, certificate checked for mb.IMAP.Host), AUTHENTICATE with
// mb.SASLMechanism() where the server offers it, else with the other bearer
// mechanism where it offers that (the rule smtpx follows), the initial
// response inline when the server advertises SASL-IR. When the server refuses the token (NO
// [AUTHENTICATIONFAILED], a NO without code as Exchange sends, or the JSON
// error challenge) Dial invalidates it and tries once more with a fresh one,
// on a new connection if the server closed the first.
//
// It refuses to send a token over a connection that is not TLS, except with
// provider.Plaintext to a loopback address. Errors are *Error values
// annotated for provider.Diagnose. The caller owns the returned client:
// Logout and Close it when done.
func Dial(ctx context.Context, mb *provider.Mailbox, opts *Options) (*imapclient.Client, error) {
	if opts == nil {
		opts = &Options{}
	}
	d := &dialer{mb: mb, opts: opts, log: logger(opts.Logger)}
	s, err := d.dial(ctx)
	if err != nil {
		return nil, provider.Annotate(err)
	}
	return s.c, nil
}

// dialer opens authenticated sessions for Dial and the Mailgate.
type dialer struct {
	mb   *provider.Mailbox
	opts *Options
	log  *slog.Logger
	// unilateral receives the server's unsolicited data (the Mailgate's
	// new-mail signal); nil: ignored.
	unilateral *imapclient.UnilateralDataHandler
	// minLifetime: a token that expires sooner is replaced before use.
	minLifetime time.Duration
	debugPrefix string
}

// session is one authenticated connection.
type session struct {
	c       *imapclient.Client
	wire    *wireConn
	addr    string
	mech    auth.Mechanism // the mechanism chosen for the server
	secrets *secrets       // every token sent on this connection
	token   *oauth2.Token
}

// fail makes err an *Error of phase (unless it is one already), with every
// server text scrubbed of the connection's tokens and what the connection
// saw that go-imap does not report: the "* BYE" that ended the session,
// and a throttling reply.
func (s *session) fail(phase Phase, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	e = &Error{Phase: phase, Server: s.addr, Err: s.secrets.scrubError(err)}
	bye, byeSeen, throttle := s.wire.observed()
	if byeSeen {
		e.bye = byeError(s.secrets.scrub(bye))
	}
	if throttle != "" && !isThrottle(errorText(e.Err)) && (e.bye == nil || !isThrottle(e.bye.Text)) {
		typ, text, _ := strings.Cut(s.secrets.scrub(throttle), " ")
		e.throttle = &imap.Error{Type: imap.StatusResponseType(strings.ToUpper(typ)), Text: text}
	}
	return e
}

// errorText is err's text, "" for nil.
func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// addr returns host:port with the default port filled in.
func (d *dialer) addr() string {
	s := d.mb.IMAP
	port := s.Port
	if port == 0 {
		port = portIMAP
		if s.Security == provider.ImplicitTLS {
			port = portIMAPS
		}
	}
	return net.JoinHostPort(s.Host, fmt.Sprint(port))
}

// validate reports a mailbox Dial cannot use.
func (d *dialer) validate() error {
	switch {
	case d.mb == nil:
		return errf("nil mailbox")
	case d.mb.Address == "":
		return errf("mailbox has no Address (the SASL user name)")
	case d.mb.Tokens == nil:
		return errf("mailbox %s has no Tokens", d.mb.Address)
	case d.mb.IMAP.Host == "":
		return errf("mailbox %s has no IMAP server", d.mb.Address)
	case d.mb.IMAP.Port < 0 || d.mb.IMAP.Port > 65535:
		return errf("IMAP port %d out of range", d.mb.IMAP.Port)
	}
	switch d.mb.IMAP.Security {
	case provider.ImplicitTLS, provider.StartTLS, provider.Plaintext:
	default:
		return errf("unknown IMAP security %v", d.mb.IMAP.Security)
	}
	switch d.mb.SASLMechanism() {
	case auth.XOAUTH2, auth.OAUTHBEARER:
	default:
		return errf("unsupported SASL mechanism %q", string(d.mb.SASLMechanism()))
	}
	return nil
}

// dial connects and authenticates, retrying once with a fresh token when the
// server refuses the first.
func (d *dialer) dial(ctx context.Context) (*session, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	s, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	var (
		tok         *oauth2.Token
		tokens      int // tokens tried
		connRetries int // new connections after a connection loss
	)
	for {
		if tok == nil {
			if tok, err = d.token(ctx); err != nil {
				s.close()
				return nil, err
			}
			tokens++
		}
		err = d.authenticate(ctx, s, tok)
		if err == nil {
			s.token = tok
			return s, nil
		}
		if ctx.Err() != nil {
			s.close()
			return nil, phaseError(PhaseAuth, d.addr(), ctx.Err())
		}
		var ae *Error
		stale := errors.As(err, &ae) && ae.Phase == PhaseAuth && staleToken(ae)
		switch {
		case stale && tokens < maxAuthAttempts:
			d.log.InfoContext(ctx, "imapx: the server refused the access token; retrying with a fresh one",
				"server", d.addr(), "mailbox", d.mb.Address)
			d.mb.Tokens.Invalidate(tok)
			tok = nil
		case !stale && isConnLoss(err) && connRetries < 1:
			// The connection broke before the server judged the token.
			connRetries++
		default:
			s.close()
			if stale && tokens > 1 {
				ae.Retried = true
			}
			return nil, err
		}
		if !s.usable() {
			s.close()
			if s, err = d.connect(ctx); err != nil {
				return nil, err
			}
		}
	}
}

// staleToken reports whether an AUTHENTICATE failure says the token was
// refused: the JSON error challenge, NO [AUTHENTICATIONFAILED], or a NO
// without a code (Exchange's "NO AUTHENTICATE failed.").
func staleToken(e *Error) bool {
	if e.Challenge != nil {
		return true
	}
	var ie *imap.Error
	if !errors.As(e.Err, &ie) || ie.Type != imap.StatusResponseTypeNo {
		return false
	}
	return ie.Code == imap.ResponseCodeAuthenticationFailed || ie.Code == ""
}

// isConnLoss reports an error of the connection rather than a server reply.
func isConnLoss(err error) bool {
	var ie *imap.Error
	return !errors.As(err, &ie) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// token asks the mailbox's source for a token that lives at least
// d.minLifetime.
func (d *dialer) token(ctx context.Context) (*oauth2.Token, error) {
	for i := 0; ; i++ {
		tok, err := d.mb.Tokens.Token(ctx)
		if err != nil {
			return nil, phaseError(PhaseToken, d.addr(), err)
		}
		if tok == nil || tok.AccessToken == "" {
			return nil, phaseError(PhaseToken, d.addr(), errors.New("the token source returned no access token"))
		}
		if d.minLifetime <= 0 || tok.Expiry.IsZero() || time.Until(tok.Expiry) >= d.minLifetime || i > 0 {
			return tok, nil
		}
		// About to expire: a session opened with it would be cut off soon.
		d.mb.Tokens.Invalidate(tok)
	}
}

// connect dials, secures the connection and reads the greeting and
// capabilities; it checks the server offers the mechanism.
func (d *dialer) connect(ctx context.Context) (*session, error) {
	addr := d.addr()
	sec := d.mb.IMAP.Security
	host := d.mb.IMAP.Host
	if sec == provider.Plaintext {
		if ip := net.ParseIP(strings.Trim(host, "[]")); ip != nil && !ip.IsLoopback() {
			return nil, phaseError(PhaseConnect, addr, errors.New("refusing Plaintext to a non-loopback address: a token must not travel unencrypted"))
		}
	}
	timeout := d.opts.DialTimeout
	if timeout <= 0 {
		timeout = defaultDialTimeout
	}
	nd := &net.Dialer{Timeout: timeout}
	raw, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, phaseError(PhaseConnect, addr, err)
	}
	// Until the session is ready, cancelling ctx closes the connection,
	// which ends every blocking step below.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	fail := func(phase Phase, err error) (*session, error) {
		stop()
		raw.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, phaseError(phase, addr, err)
	}
	if sec == provider.Plaintext {
		if ta, ok := raw.RemoteAddr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
			return fail(PhaseConnect, errors.New("refusing Plaintext to a non-loopback address: a token must not travel unencrypted"))
		}
	}
	secrets := &secrets{}
	wire := newWireConn(raw, newTranscript(d.opts.Debug, d.debugPrefix, secrets))
	var conn net.Conn = wire
	switch sec {
	case provider.ImplicitTLS:
		cfg, err := d.tlsConfig(true)
		if err != nil {
			return fail(PhaseTLS, err)
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(PhaseTLS, err)
		}
		wire.swap(tc)
	case provider.StartTLS:
		cfg, err := d.tlsConfig(false)
		if err != nil {
			return fail(PhaseTLS, err)
		}
		if err := startTLS(wire); err != nil {
			return fail(PhaseTLS, err)
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(PhaseTLS, err)
		}
		wire.swap(tc)
		// go-imap's client starts by waiting for a greeting; the real
		// one came before STARTTLS and its capabilities no longer hold.
		conn = &prefixConn{Conn: wire, r: strings.NewReader("* OK TLS established\r\n")}
	}
	c := imapclient.New(conn, &imapclient.Options{
		UnilateralDataHandler: d.unilateral,
		WordDecoder:           &mime.WordDecoder{CharsetReader: charset.Reader},
	})
	s := &session{c: c, wire: wire, addr: addr, secrets: secrets}
	if err := c.WaitGreeting(); err != nil {
		s.close()
		return fail(PhaseConnect, err)
	}
	if st := c.State(); st != imap.ConnStateNotAuthenticated {
		s.close()
		return fail(PhaseConnect, fmt.Errorf("server greeting left the connection in state %v, want not authenticated", st))
	}
	caps := c.Caps()
	if caps == nil {
		s.close()
		return fail(PhaseConnect, errors.New("no CAPABILITY answer"))
	}
	mech, ok := auth.Pick(d.mb.SASLMechanism(), caps.AuthMechanisms())
	if !ok {
		s.close()
		return fail(PhaseAuth, fmt.Errorf("the server offers neither AUTH=%s nor AUTH=%s (it offers %s); no token was sent",
			auth.XOAUTH2, auth.OAUTHBEARER, strings.Join(caps.AuthMechanisms(), ", ")))
	}
	s.mech = mech
	if !stop() {
		s.close()
		return fail(PhaseConnect, ctx.Err())
	}
	return s, nil
}

// tlsConfig returns the TLS configuration: the caller's, TLS 1.2 or later,
// verifying Server.Host unless the caller named another server.
func (d *dialer) tlsConfig(implicit bool) (*tls.Config, error) {
	cfg := &tls.Config{}
	if d.opts.TLSConfig != nil {
		cfg = d.opts.TLSConfig.Clone()
	}
	if cfg.InsecureSkipVerify {
		return nil, errors.New("TLSConfig.InsecureSkipVerify is set: a token must only go to a server whose certificate was checked")
	}
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if cfg.ServerName == "" {
		cfg.ServerName = strings.Trim(d.mb.IMAP.Host, "[]")
	}
	if implicit && cfg.NextProtos == nil {
		cfg.NextProtos = []string{"imap"}
	}
	return cfg, nil
}

// startTLS reads the greeting and asks for STARTTLS on a connection that is
// still in clear. go-imap's own STARTTLS puts TLS inside the connection it
// was given, which would hide the dialogue after it from our wireConn (by
// design upstream, no issue; TestUpstreamStartTLSHidesTheDialogueFromTheConnection
// pins it), and it hands bytes buffered after the OK to TLS; here they are
// refused: they would be a STARTTLS injection (RFC 9051 §6.2.1).
func startTLS(c net.Conn) error {
	br := bufio.NewReaderSize(c, maxPreambleLine)
	greeting, err := readPreambleLine(br)
	if err != nil {
		return fmt.Errorf("reading the greeting: %w", err)
	}
	kind, text, _ := strings.Cut(strings.TrimPrefix(greeting, "* "), " ")
	switch strings.ToUpper(kind) {
	case "OK":
	case "PREAUTH":
		return errors.New("the server sent PREAUTH on a connection in clear")
	case "BYE":
		return byeError(text)
	default:
		return fmt.Errorf("unexpected greeting %q", greeting)
	}
	if _, err := io.WriteString(c, startTLSTag+" STARTTLS\r\n"); err != nil {
		return err
	}
	for i := 0; i < maxPreambleLines; i++ {
		line, err := readPreambleLine(br)
		if err != nil {
			return fmt.Errorf("reading the STARTTLS reply: %w", err)
		}
		tag, rest, _ := strings.Cut(line, " ")
		if tag != startTLSTag {
			continue // untagged data, e.g. capabilities
		}
		status, text, _ := strings.Cut(rest, " ")
		switch strings.ToUpper(status) {
		case "OK":
			if br.Buffered() > 0 {
				return errors.New("the server sent data after its STARTTLS reply (possible STARTTLS injection)")
			}
			return nil
		case "NO", "BAD":
			return &imap.Error{Type: imap.StatusResponseType(strings.ToUpper(status)), Text: text}
		default:
			return fmt.Errorf("unexpected STARTTLS reply %q", line)
		}
	}
	return errors.New("no reply to STARTTLS")
}

// readPreambleLine reads one line of the STARTTLS exchange.
func readPreambleLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", errors.New("line too long")
	}
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

// authenticate runs AUTHENTICATE with tok. A refusal is an *Error in
// PhaseAuth carrying the server's status response and the challenge.
func (d *dialer) authenticate(ctx context.Context, s *session, tok *oauth2.Token) error {
	s.secrets.add(tok.AccessToken)
	sc := auth.NewClient(s.mech, d.mb.Address, tok.AccessToken)
	stop := context.AfterFunc(ctx, func() { s.c.Close() })
	err := s.c.Authenticate(sc)
	if !stop() {
		return phaseError(PhaseAuth, s.addr, ctx.Err())
	}
	if err == nil {
		return nil
	}
	e := s.fail(PhaseAuth, err)
	e.Challenge = auth.Challenge(sc)
	return e
}

// usable reports whether the connection can take another AUTHENTICATE.
func (s *session) usable() bool {
	select {
	case <-s.c.Closed():
		return false
	default:
	}
	return s.c.State() == imap.ConnStateNotAuthenticated
}

// close ends the connection without ceremony.
func (s *session) close() {
	if s != nil && s.c != nil {
		s.c.Close()
	}
}

// logout says goodbye, waiting a bounded time for the server's answer,
// then closes the connection.
func (s *session) logout() {
	if s == nil || s.c == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.c.Logout().Wait()
	}()
	t := time.NewTimer(logoutTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-s.c.Closed():
	}
	s.c.Close()
}
