package smtpx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/emersion/go-smtp"
	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/internal/redact"
	"github.com/mailoauth/mailoauth/provider"
)

// defaultLocalName is the EHLO name when Options.LocalName is empty.
const defaultLocalName = "localhost"

// Dial connects to mb.SMTP, secures the connection, and authenticates with
// a token from mb.Tokens.
//
// STARTTLS is required on a StartTLS server: if the server does not offer
// it, Dial fails before any credential is sent. Plaintext is allowed only
// to a loopback address. When the server refuses the token (535 or an
// error challenge), Dial invalidates it, gets a fresh one and authenticates
// once more, on a new connection if the server closed this one.
//
// Errors are *Error values annotated for provider.Diagnose.
func Dial(ctx context.Context, mb *provider.Mailbox, opts *Options) (*Client, error) {
	if opts == nil {
		opts = &Options{}
	}
	d, err := newDialer(mb, *opts, "")
	if err != nil {
		return nil, err
	}
	c, err := d.dial(ctx)
	if err != nil {
		return nil, provider.Annotate(err)
	}
	return c, nil
}

// dialer makes authenticated connections for one mailbox.
type dialer struct {
	mb        *provider.Mailbox
	opts      Options
	log       *slog.Logger
	tlsConfig *tls.Config // nil for Plaintext
	debug     io.Writer   // serialized Options.Debug, or nil
	name      string      // transcript prefix
	conns     atomic.Int64
}

func newDialer(mb *provider.Mailbox, opts Options, name string) (*dialer, error) {
	if err := checkMailbox(mb); err != nil {
		return nil, err
	}
	d := &dialer{mb: mb, opts: opts, log: opts.logger(), name: name}
	if opts.LocalName == "" {
		d.opts.LocalName = defaultLocalName
	} else if strings.ContainsAny(opts.LocalName, "\r\n\x00 ") {
		return nil, fmt.Errorf("smtpx: Options.LocalName %q is not a host name", opts.LocalName)
	}
	if mb.SMTP.Security != provider.Plaintext {
		cfg, err := clientTLSConfig(opts.TLSConfig, mb.SMTP.Host)
		if err != nil {
			return nil, err
		}
		d.tlsConfig = cfg
	}
	if opts.Debug != nil {
		d.debug = &syncWriter{w: opts.Debug}
	}
	return d, nil
}

// checkMailbox reports what makes mb unusable for sending.
func checkMailbox(mb *provider.Mailbox) error {
	switch {
	case mb == nil:
		return errors.New("smtpx: nil Mailbox")
	case mb.Tokens == nil:
		return errors.New("smtpx: Mailbox.Tokens is nil")
	case mb.SMTP.Host == "":
		return errors.New("smtpx: Mailbox.SMTP.Host is empty")
	case mb.SMTP.Port <= 0 || mb.SMTP.Port > 65535:
		return fmt.Errorf("smtpx: Mailbox.SMTP.Port %d out of range", mb.SMTP.Port)
	}
	switch mb.SMTP.Security {
	case provider.StartTLS, provider.ImplicitTLS, provider.Plaintext:
	default:
		return fmt.Errorf("smtpx: unknown Mailbox.SMTP.Security %v", mb.SMTP.Security)
	}
	switch mb.SASLMechanism() {
	case auth.XOAUTH2, auth.OAUTHBEARER:
	default:
		return fmt.Errorf("smtpx: unknown Mailbox.Mechanism %q", string(mb.Mechanism))
	}
	if err := provider.CheckAddress("mailbox", mb.Address); err != nil {
		return fmt.Errorf("smtpx: %w", err)
	}
	return nil
}

// clientTLSConfig clones base with TLS 1.2 at least and the server name to
// verify.
func clientTLSConfig(base *tls.Config, host string) (*tls.Config, error) {
	cfg := &tls.Config{}
	if base != nil {
		cfg = base.Clone()
	}
	if cfg.InsecureSkipVerify {
		return nil, errors.New("smtpx: TLSConfig.InsecureSkipVerify is refused: a token must only go to a verified server")
	}
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	return cfg, nil
}

// dial connects and authenticates, refreshing a refused token once.
func (d *dialer) dial(ctx context.Context) (*Client, error) {
	// The secrets of this attempt, shared by its connections: a server may
	// repeat the first token in its answer to the second.
	secrets := &redact.Set{}
	c, err := d.connect(ctx, secrets)
	if err != nil {
		return nil, err
	}
	tok, err := d.mb.Tokens.Token(ctx)
	if err != nil {
		c.abandon()
		return nil, tokenError(ctx, err)
	}
	first := tok
	aerr := c.authenticate(ctx, tok)
	if aerr == nil {
		return c, nil
	}
	if !tokenRefused(aerr) {
		c.abandon()
		return nil, aerr
	}
	d.log.InfoContext(ctx, "smtpx: server refused the token; retrying once with a fresh one",
		"server", d.mb.SMTP.Addr(), "code", aerr.Code)
	d.mb.Tokens.Invalidate(tok)
	tok, err = d.mb.Tokens.Token(ctx)
	if err != nil {
		c.abandon()
		return nil, tokenError(ctx, err)
	}
	// go-smtp's Client.Auth answers a final 535 with a "*" (cancel) and
	// reads the reply to it (emersion/go-smtp#316, open at v0.25.1;
	// TestGoSMTPClientCancelsAfterAFinal535 pins it), so the connection is
	// still in step for a second AUTH, unless the server closed it.
	if !c.broken {
		aerr = c.authenticate(ctx, tok)
	}
	if c.broken {
		// The server closed the connection after the refusal.
		c.abandon()
		if c, err = d.connect(ctx, secrets); err != nil {
			return nil, err
		}
		aerr = c.authenticate(ctx, tok)
	}
	if aerr != nil {
		// A token fresh from the identity provider was refused too: the
		// cause is the grant or the server's configuration, which another
		// token would not fix, so it is not invalidated. A source that gave
		// the same token again did not refresh it: that is still a stale
		// token.
		aerr.Retried = tokenRefused(aerr) && tok.AccessToken != first.AccessToken
		c.abandon()
		return nil, aerr
	}
	return c, nil
}

// tokenRefused reports a refusal that a fresh token may fix: an error
// challenge or a 535 other than a policy refusal.
func tokenRefused(e *Error) bool {
	return e.Challenge != nil ||
		e.Code == codeAuthFailed && e.EnhancedCode != enhancedPolicyRefusal
}

// connect dials, secures and greets the server, ready for AUTH. The
// connection's transcript and errors scrub secrets.
func (d *dialer) connect(ctx context.Context, secrets *redact.Set) (*Client, error) {
	srv := d.mb.SMTP
	addr := srv.Addr()
	if srv.Security == provider.Plaintext {
		ip, err := loopbackAddr(ctx, srv.Host)
		if err != nil {
			return nil, err
		}
		addr = net.JoinHostPort(ip, strconv.Itoa(srv.Port))
	}
	var nd net.Dialer
	raw, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, causeError(ctx, PhaseConnect, err)
	}
	cc := &ctxConn{Conn: raw}
	release := cc.bind(ctx)
	defer release()

	id := d.conns.Add(1)
	var tr *transcript
	if d.debug != nil {
		tr = newTranscript(d.debug, fmt.Sprintf("%s[%d] ", d.name, id), secrets)
	}
	fail := func(p Phase, err error) (*Client, error) {
		raw.Close()
		tr.flush()
		return nil, connError(ctx, p, srv.Host, err)
	}

	var sc *smtp.Client
	helloPhase := PhaseConnect
	switch srv.Security {
	case provider.ImplicitTLS:
		tc := tls.Client(cc, d.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(PhaseTLS, err)
		}
		sc = smtp.NewClient(tc)
	case provider.StartTLS:
		if tr != nil {
			cc.tap = tr
		}
		// go-smtp exports no STARTTLS of its own: NewClientStartTLS says
		// "EHLO localhost" before TLS, by design (emersion/go-smtp#297), and
		// allows the Hello below after it (emersion/go-smtp#265);
		// TestGoSMTPStartTLSSaysLocalhostBeforeTLS pins both.
		sc, err = smtp.NewClientStartTLS(cc, d.tlsConfig)
		cc.tap = nil
		if err != nil {
			var se *smtp.SMTPError
			if !errors.As(err, &se) && !isNetworkError(err) {
				// go-smtp's "server doesn't support STARTTLS": nothing
				// but EHLO was sent.
				return fail(PhaseTLS, errNoSTARTTLS)
			}
			return fail(PhaseConnect, err)
		}
		helloPhase = PhaseTLS // the handshake runs with the EHLO below
	default:
		sc = smtp.NewClient(cc)
	}
	if tr != nil {
		sc.DebugWriter = tr
	}
	if err := sc.Hello(d.opts.LocalName); err != nil {
		return fail(helloPhase, err)
	}
	if srv.Security != provider.Plaintext {
		if err := checkTLS(sc.TLSConnectionState()); err != nil {
			return fail(PhaseTLS, err)
		}
	}
	d.log.DebugContext(ctx, "smtpx: connected", "server", addr, "security", srv.Security.String(), "conn", id)
	return &Client{d: d, c: sc, conn: cc, tr: tr, secrets: secrets, id: id}, nil
}

// checkTLS is the last guard before AUTH: the connection go-smtp reports
// (ok is false without TLS) has completed a handshake at TLS 1.2 or later.
func checkTLS(st tls.ConnectionState, ok bool) error {
	if !ok || !st.HandshakeComplete || st.Version < tls.VersionTLS12 {
		return errNotTLS12
	}
	return nil
}

// tlsAlertOp is the net.OpError.Op of crypto/tls's error for an alert the
// peer sent ("remote error: tls: protocol version not supported").
const tlsAlertOp = "remote error"

// errNotTLS12 is the cause when a connection that must be secure is not.
var errNotTLS12 = errors.New("the connection is not protected by TLS 1.2 or later; no credential was sent")

// errNoSTARTTLS is the cause when a StartTLS server does not offer STARTTLS.
var errNoSTARTTLS = errors.New("the server does not offer STARTTLS; no credential was sent")

// connError classifies a failure to connect or secure the connection:
// certificate problems and the server's refusal of the handshake are
// permanent, network failures temporary.
func connError(ctx context.Context, p Phase, host string, err error) *Error {
	var (
		cve *tls.CertificateVerificationError
		hn  x509.HostnameError
		ua  x509.UnknownAuthorityError
		ci  x509.CertificateInvalidError
		op  *net.OpError
	)
	if errors.As(err, &cve) || errors.As(err, &hn) || errors.As(err, &ua) || errors.As(err, &ci) {
		return &Error{Phase: PhaseTLS, Message: fmt.Sprintf("the server's certificate is not valid for %q", host), Err: err}
	}
	if errors.As(err, &op) && op.Op == tlsAlertOp {
		// A TLS alert from the server: no TLS version or cipher in
		// common, which the next attempt would not change.
		return &Error{Phase: PhaseTLS, Message: "the server refused the TLS handshake", Err: err}
	}
	if err == errNoSTARTTLS || err == errNotTLS12 {
		return &Error{Phase: PhaseTLS, Message: err.Error(), Err: err}
	}
	return causeError(ctx, p, err)
}

// loopbackAddr resolves host and returns one of its addresses, if every
// one of them is a loopback address; otherwise an error: Plaintext never
// leaves the machine.
func loopbackAddr(ctx context.Context, host string) (string, error) {
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return "", causeError(ctx, PhaseConnect, err)
	}
	if len(addrs) == 0 {
		return "", &Error{Phase: PhaseConnect, Message: fmt.Sprintf("%q has no address", host)}
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return "", &Error{Phase: PhaseConnect, Message: fmt.Sprintf(
				"plaintext is allowed only to a loopback address, and %q resolves to %s", host, a.IP)}
		}
	}
	return addrs[0].IP.String(), nil
}

// authenticate runs AUTH with tok.
func (c *Client) authenticate(ctx context.Context, tok *oauth2.Token) *Error {
	release := c.conn.bind(ctx)
	defer release()
	mech, err := c.mechanism()
	if err != nil {
		return err
	}
	sc := auth.NewClient(mech, c.d.mb.Address, tok.AccessToken)
	_, ir, serr := sc.Start()
	if serr != nil {
		return &Error{Phase: PhaseAuth, Message: "cannot build the SASL message", Err: serr}
	}
	c.secrets.Add(tok.AccessToken, string(ir))
	if c.twoStep(mech, ir) {
		sc = auth.TwoStep(sc)
	}
	if err := c.c.Auth(sc); err != nil {
		e := c.fail(ctx, PhaseAuth, err)
		e.Challenge = scrubChallenge(auth.Challenge(sc), c.secrets)
		return e
	}
	c.token = tok
	c.d.log.DebugContext(ctx, "smtpx: authenticated", "mechanism", string(mech), "conn", c.id)
	return nil
}

// twoStep decides whether the response waits for the server's 334.
func (c *Client) twoStep(mech auth.Mechanism, ir []byte) bool {
	switch c.d.opts.InitialResponse {
	case InitialResponseAlways:
		return false
	case InitialResponseNever:
		return true
	}
	line := len("AUTH ") + len(mech) + 1 + base64Len(len(ir)) + len("\r\n")
	return line > maxCommandLine
}

func base64Len(n int) int { return (n + 2) / 3 * 4 }

// mechanism picks the SASL mechanism: the mailbox's when the server offers
// it, else the other bearer mechanism when the server offers that.
func (c *Client) mechanism() (auth.Mechanism, *Error) {
	ok, params := c.c.Extension("AUTH")
	if !ok {
		return "", &Error{Phase: PhaseAuth, Message: "the server offers no AUTH; no credential was sent"}
	}
	mech, err := pickMechanism(c.d.mb.SASLMechanism(), strings.Fields(params))
	if err != nil {
		return "", &Error{Phase: PhaseAuth, Message: strings.TrimPrefix(err.Error(), "smtpx: ")}
	}
	return mech, nil
}
