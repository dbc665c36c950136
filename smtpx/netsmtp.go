package smtpx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"strings"
	"sync"

	"github.com/emersion/go-sasl"
	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/provider"
)

// NetSMTPAuth returns a net/smtp Auth that authenticates as mb with a token
// from mb.Tokens fetched at each authentication, so that a program built
// on net/smtp.SendMail gains OAuth2 in one line:
//
//	err := smtp.SendMail(addr, smtpx.NetSMTPAuth(mb), from, to, msg)
//
// Like net/smtp's PlainAuth, it refuses to send the token over a
// connection without TLS unless the server is on a loopback address, and
// to a server other than mb.SMTP.Host. It answers an error challenge as
// the mechanism requires and then invalidates the refused token, so the
// next authentication uses a fresh one. A server that refuses without a
// challenge (Exchange's bare "535 5.7.3") never reaches the Auth, so a
// token that no "235" confirmed is invalidated when the next
// authentication starts. net/smtp gives no context: the token is fetched
// with context.Background.
//
// Create the Auth once and reuse it, as with net/smtp's PlainAuth: the
// memory of an unconfirmed token lives in it. An Auth shared by concurrent
// connections works but may refresh a token more often than needed.
func NetSMTPAuth(mb *provider.Mailbox) smtp.Auth {
	return &netSMTPAuth{mb: mb}
}

type netSMTPAuth struct {
	mb *provider.Mailbox

	mu     sync.Mutex    // guards the exchange in progress
	tok    *oauth2.Token // the token of the exchange; nil once a 235 confirmed it
	client sasl.Client
}

func (a *netSMTPAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if a.mb == nil || a.mb.Tokens == nil {
		return "", nil, errors.New("smtpx: NetSMTPAuth: mailbox without a TokenSource")
	}
	if !server.TLS && !isLoopbackHost(server.Name) {
		return "", nil, errors.New("smtpx: NetSMTPAuth: refusing to send a token over a connection without TLS")
	}
	if a.mb.SMTP.Host != "" && !strings.EqualFold(server.Name, a.mb.SMTP.Host) {
		return "", nil, fmt.Errorf("smtpx: NetSMTPAuth: connected to %q, but the mailbox's server is %q", server.Name, a.mb.SMTP.Host)
	}
	mech, err := pickMechanism(a.mb.SASLMechanism(), server.Auth)
	if err != nil {
		return "", nil, err
	}
	a.mu.Lock()
	unconfirmed := a.tok
	a.tok = nil
	a.mu.Unlock()
	if unconfirmed != nil {
		// The last exchange ended without a 235: refused without a
		// challenge, or cut off. Either way, take a fresh token.
		a.mb.Tokens.Invalidate(unconfirmed)
	}
	tok, err := a.mb.Tokens.Token(context.Background())
	if err != nil {
		return "", nil, provider.Annotate(tokenError(context.Background(), err))
	}
	c := auth.NewClient(mech, a.mb.Address, tok.AccessToken)
	name, ir, err := c.Start()
	if err != nil {
		return "", nil, fmt.Errorf("smtpx: NetSMTPAuth: %w", err)
	}
	a.mu.Lock()
	a.tok, a.client = tok, c
	a.mu.Unlock()
	return name, ir, nil
}

func (a *netSMTPAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		// net/smtp calls Next with more == false on the server's 235.
		a.mu.Lock()
		a.tok = nil
		a.mu.Unlock()
		return nil, nil
	}
	a.mu.Lock()
	c, tok := a.client, a.tok
	a.mu.Unlock()
	if c == nil {
		return nil, errors.New("smtpx: NetSMTPAuth: Next before Start")
	}
	resp, err := c.Next(fromServer)
	if ch := auth.Challenge(c); ch != nil {
		a.mb.Tokens.Invalidate(tok)
	}
	return resp, err
}

// pickMechanism applies Dial's rule (auth.Pick) to a list of offered
// mechanisms.
func pickMechanism(want auth.Mechanism, offered []string) (auth.Mechanism, error) {
	if m, ok := auth.Pick(want, offered); ok {
		return m, nil
	}
	return "", fmt.Errorf("smtpx: the server offers neither XOAUTH2 nor OAUTHBEARER (AUTH %s); no credential was sent",
		strings.Join(offered, " "))
}

// isLoopbackHost reports "localhost" or a loopback IP address, as net/smtp
// does for PlainAuth.
func isLoopbackHost(name string) bool {
	if strings.EqualFold(name, "localhost") {
		return true
	}
	ip := net.ParseIP(name)
	return ip != nil && ip.IsLoopback()
}
