package smtpx

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"time"
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
	// sends it); the EHLO of the authenticated session says LocalName.
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

// SenderOptions configure a Sender. The zero value works: limits come from
// the mailbox's Limits and timings from the defaults named below.
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
	// MinBackoff and MaxBackoff bound the exponential backoff between
	// retries (with jitter); zero: DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// ShrinkFor is how long the pool stays smaller after a "432 4.3.2 too
	// many connections" reply; zero: DefaultShrinkFor.
	ShrinkFor time.Duration
	// Clock replaces the wall clock (tests); nil: the real one.
	Clock Clock
}

// Defaults of SenderOptions.
const (
	DefaultIdleTimeout = time.Minute
	DefaultNoopAfter   = 15 * time.Second
	DefaultMaxRetries  = 3
	DefaultMinBackoff  = 100 * time.Millisecond
	DefaultMaxBackoff  = 10 * time.Second
	DefaultShrinkFor   = time.Minute
)

// Clock tells the time and waits. A Sender uses it for pacing, backoff and
// idle decisions, so that tests can run them without sleeping.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done, whichever comes first, and
	// returns ctx.Err() in the second case.
	Sleep(ctx context.Context, d time.Duration) error
}

// wallClock is the real Clock.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// logger returns o's logger or one that discards.
func (o *Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}
