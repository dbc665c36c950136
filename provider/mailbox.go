// Package provider holds what every identity provider and every transport
// share: the Mailbox a transport connects with, the Envelope and Sender of
// outgoing mail, and Diagnose, which turns an error from any layer into the
// fix an operator must make. It imports no mail protocol library: the
// transports' errors hand Diagnose their server's Reply.
package provider

import (
	"strconv"

	"github.com/mailoauth/mailoauth/auth"
)

// Security says how a connection to a mail server is protected.
type Security int

const (
	// StartTLS connects in clear and upgrades with STARTTLS before any
	// credential is sent (SMTP submission on 587, IMAP on 143).
	StartTLS Security = iota
	// ImplicitTLS speaks TLS from the first byte (SMTP on 465, IMAP on 993).
	ImplicitTLS
	// Plaintext never uses TLS. Transports allow it only to a loopback
	// address: it exists for tests.
	Plaintext
)

// String returns the name of s.
func (s Security) String() string {
	switch s {
	case StartTLS:
		return "starttls"
	case ImplicitTLS:
		return "tls"
	case Plaintext:
		return "plaintext"
	}
	return "Security(" + strconv.Itoa(int(s)) + ")"
}

// Server is the address of a mail server and how to secure the connection.
type Server struct {
	Host     string
	Port     int
	Security Security
}

// Addr returns host:port.
func (s Server) Addr() string {
	return joinHostPort(s.Host, s.Port)
}

// Limits are a provider's sending limits for one mailbox. Zero means no limit.
type Limits struct {
	MaxConns          int // concurrent SMTP connections
	MessagesPerMinute int
	MaxRecipients     int // recipients in one SMTP transaction
}

// Mailbox is everything a transport needs to reach one mailbox: its address,
// its servers, the SASL mechanism and a source of access tokens.
type Mailbox struct {
	Address    string // the mailbox; the SASL user name
	SMTP, IMAP Server
	Mechanism  auth.Mechanism // zero: XOAUTH2
	Tokens     auth.TokenSource
	Limits     Limits // the provider's recommended sending limits
}

// SASLMechanism returns the mechanism to use: m.Mechanism, or XOAUTH2 when
// it is empty.
func (m *Mailbox) SASLMechanism() auth.Mechanism {
	if m.Mechanism == "" {
		return auth.XOAUTH2
	}
	return m.Mechanism
}
