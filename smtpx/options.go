package smtpx

import (
	"crypto/tls"
	"io"
	"log/slog"
	"time"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/retry"
)

// InitialResponse chooses how AUTH carries the client's first SASL message.
type InitialResponse int

const (
	// InitialResponseAuto sends the response on the AUTH line while that
	// line stays within 512 octets (RFC 4954 §4), and in the two-step form
	// (AUTH, an empty 334, then the response) otherwise.
	InitialResponseAuto InitialResponse = iota
	// InitialResponseAlways always sends the response on the AUTH line.
	InitialResponseAlways
	// InitialResponseNever always uses the two-step form, as Microsoft's
	// own sample does.
	InitialResponseNever
)

// maxCommandLine is the longest SMTP command line, CRLF included
// (RFC 5321 §4.5.3.1.4), which the AUTH line with an initial response must
// respect (RFC 4954 §4).
const maxCommandLine = 512

// Options configure Dial. A nil *Options means defaults.
type Options struct {
	// TLSConfig is cloned for every connection. MinVersion is raised to TLS
	// 1.2 and ServerName defaults to the mailbox's Server.Host; set it when
	// dialling an address the certificate does not name.
	// InsecureSkipVerify is refused.
	TLSConfig *tls.Config
	// LocalName is the name given in EHLO; zero: "localhost". With STARTTLS
	// the EHLO before TLS says "localhost" whatever LocalName is (go-smtp
	// v0.25.1 sends it, by design: emersion/go-smtp#297); the EHLO over
	// TLS, the one the server keeps (RFC 3207 §4.2), says LocalName.
	LocalName string
	// Logger gets connection, authentication and retry events; nil
	// discards them. No token ever reaches it.
	Logger *slog.Logger
	// Debug, when set, gets a transcript of every connection, with each
	// AUTH payload and every base64 or raw form of a token replaced by
	// "[redacted]". Message contents are included.
	Debug io.Writer
	// InitialResponse chooses where the SASL response goes; zero: auto.
	InitialResponse InitialResponse
}

// SenderOptions configure a Sender. A nil *SenderOptions, like the zero
// value, works: limits come from the mailbox's Limits and timings from the
// defaults named below.
type SenderOptions struct {
	Options
	// MaxConns caps the pool's connections; zero: Mailbox.Limits.MaxConns;
	// both zero: no cap (one connection per concurrent Send at most).
	MaxConns int
	// MessagesPerMinute paces transactions, shared by all callers; zero:
	// Mailbox.Limits.MessagesPerMinute; both zero: no pacing.
	MessagesPerMinute int
	// MaxRecipients per transaction; zero: Mailbox.Limits.MaxRecipients;
	// both zero: no split. A message with more recipients is sent in
	// several transactions, which needs a rewindable message.
	MaxRecipients int
	// MaxMessagesPerConn closes a connection after that many messages;
	// zero: no cap.
	MaxMessagesPerConn int
	// IdleTimeout closes connections idle that long; zero:
	// DefaultIdleTimeout; negative: never.
	IdleTimeout time.Duration
	// NoopAfter makes a connection idle that long prove itself with NOOP
	// before it carries a message; zero: DefaultNoopAfter; negative: never.
	NoopAfter time.Duration
	// MaxRetries bounds the retries of one message after temporary
	// failures; zero: DefaultMaxRetries; negative: no retry.
	MaxRetries int
	// RetryBackoff spaces the retries of a message, with retry.Backoff's
	// jitter; zero bounds: DefaultRetryBackoff's.
	RetryBackoff retry.Backoff
	// ShrinkFor is how long the pool stays smaller after a "432 4.3.2 too
	// many connections" reply; zero: DefaultShrinkFor.
	ShrinkFor time.Duration
	// Clock tells the time and waits, for pacing, backoff and idle
	// decisions; nil: retry.System. Tests give one that does not sleep.
	Clock retry.Clock
}

// Defaults of SenderOptions.
const (
	DefaultIdleTimeout = time.Minute
	DefaultNoopAfter   = 15 * time.Second
	DefaultMaxRetries  = 3
	DefaultShrinkFor   = time.Minute
)

// DefaultRetryBackoff spaces a Sender's retries when
// SenderOptions.RetryBackoff is zero.
var DefaultRetryBackoff = retry.Backoff{Min: 100 * time.Millisecond, Max: 10 * time.Second}

// logger returns o's logger or one that discards.
func (o *Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// Envelope is who a message goes from and to: the reverse path given in
// MAIL FROM and the recipients given in RCPT TO (provider.Envelope, which
// other senders take too). Addresses are checked before any connection is
// made; a bad one gives an error wrapping provider.ErrInvalidAddress.
type Envelope = provider.Envelope
