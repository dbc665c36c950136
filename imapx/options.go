package imapx

import (
	"crypto/tls"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/mailoauth/mailoauth/retry"
)

// Options configure Dial. A nil *Options means the defaults.
type Options struct {
	// TLSConfig is the base TLS configuration; nil: the system roots.
	// MinVersion is raised to TLS 1.2, ServerName defaults to the
	// server's Host, and InsecureSkipVerify is refused: a token only goes
	// to a server whose certificate was checked.
	TLSConfig *tls.Config
	// Logger receives what the package does (nil: discard). Log lines
	// never contain a token.
	Logger *slog.Logger
	// Debug, when set, receives the IMAP dialogue as lines starting with
	// "C: " and "S: ". The AUTHENTICATE command and its continuation lines
	// are replaced by "[redacted]", as is any token wherever it appears;
	// literal data (message bodies) is summarized by its size. Lines are
	// written from the connection's goroutines: a writer shared by several
	// Dial calls must be safe for concurrent use (a Mailgate serializes
	// its own sessions).
	Debug io.Writer
	// DialTimeout bounds the TCP connect; zero: 30 seconds.
	DialTimeout time.Duration
}

// Default values of Options and MailgateOptions.
const (
	defaultDialTimeout           = 30 * time.Second
	defaultFolder                = "INBOX"
	defaultPollInterval          = time.Minute
	defaultIdleRenew             = 25 * time.Minute
	maxIdleRenew                 = 29 * time.Minute // RFC 9051 §6.3.13: servers may drop an IDLE after 30 minutes
	defaultReconnectBeforeExpiry = 2 * time.Minute
	logoutTimeout                = 5 * time.Second
)

// Default spacing of a Mailgate's attempts.
var (
	defaultRetryBackoff     = retry.Backoff{Min: 30 * time.Second, Max: 30 * time.Minute}
	defaultReconnectBackoff = retry.Backoff{Min: time.Second, Max: 5 * time.Minute}
)

// Action is what a Mailgate does to a message after its handler succeeded.
// The zero Action is MarkSeen.
type Action int

const (
	// MarkSeen sets \Seen. The mailgate then handles the folder's unseen
	// messages only.
	MarkSeen Action = iota
	// Move moves the message to MailgateOptions.MoveTo: with MOVE where the
	// server has it, else COPY, \Deleted and UID EXPUNGE of that message
	// alone. The mailgate handles every message in the folder.
	Move
	// Delete sets \Deleted and expunges that message alone (UID EXPUNGE).
	// The mailgate handles every message in the folder.
	Delete
)

// String returns the name of a.
func (a Action) String() string {
	switch a {
	case MarkSeen:
		return "mark-seen"
	case Move:
		return "move"
	case Delete:
		return "delete"
	}
	return "Action(" + strconv.Itoa(int(a)) + ")"
}

// MailgateOptions configure a Mailgate. A nil *MailgateOptions, like the
// zero value, watches INBOX and marks handled messages \Seen.
type MailgateOptions struct {
	Options
	// Folder is the folder watched; empty: INBOX.
	Folder string
	// After is what happens to a message once its handler succeeded.
	After Action
	// MoveTo is the destination folder of Move. It must exist.
	MoveTo string
	// PollInterval is the time between checks on a server without IDLE;
	// zero: one minute.
	PollInterval time.Duration
	// IdleRenew is how long one IDLE lasts before the mailgate ends it,
	// checks the folder and idles again; zero: 25 minutes. Values of 29
	// minutes or more are lowered: servers may end an IDLE after 30.
	IdleRenew time.Duration
	// MaxSize is the largest message, in bytes, given to the handler;
	// zero: no limit. A larger message is moved to OversizeFolder, or,
	// when that is empty, left untouched; either way a warning is logged.
	MaxSize int64
	// OversizeFolder receives messages larger than MaxSize. It must exist.
	OversizeFolder string
	// RetryBackoff spaces the attempts at a message whose handler failed,
	// with retry.Backoff's jitter;
	// zero: from 30 seconds up to 30 minutes.
	RetryBackoff retry.Backoff
	// ReconnectBackoff spaces reconnections after a failure; zero: from
	// one second up to five minutes. A server's throttling reply sets a
	// longer wait when it asks for one.
	ReconnectBackoff retry.Backoff
	// ReconnectBeforeExpiry is how long before its access token expires a
	// session is replaced by a new one with a fresh token; zero: two
	// minutes. Sessions are kept at least half the token's lifetime.
	ReconnectBeforeExpiry time.Duration
	// Clock tells the time for token expiry and retry schedules and waits
	// between reconnections; nil: retry.System.
	Clock retry.Clock
}

// withDefaults returns o with every zero field set to its default.
func (o MailgateOptions) withDefaults() MailgateOptions {
	if o.Folder == "" {
		o.Folder = defaultFolder
	}
	if o.PollInterval <= 0 {
		o.PollInterval = defaultPollInterval
	}
	if o.IdleRenew <= 0 {
		o.IdleRenew = defaultIdleRenew
	}
	if o.IdleRenew >= maxIdleRenew {
		o.IdleRenew = maxIdleRenew - time.Minute
	}
	o.RetryBackoff = o.RetryBackoff.Or(defaultRetryBackoff)
	o.ReconnectBackoff = o.ReconnectBackoff.Or(defaultReconnectBackoff)
	if o.ReconnectBeforeExpiry <= 0 {
		o.ReconnectBeforeExpiry = defaultReconnectBeforeExpiry
	}
	o.Clock = retry.Or(o.Clock)
	return o
}

// validate reports options that cannot work.
func (o MailgateOptions) validate() error {
	switch o.After {
	case MarkSeen, Delete:
	case Move:
		if o.MoveTo == "" {
			return errf("mailgate: After is Move but MoveTo is empty")
		}
		if o.MoveTo == o.Folder {
			return errf("mailgate: MoveTo is the watched folder %q", o.Folder)
		}
	default:
		return errf("mailgate: unknown After action %d", int(o.After))
	}
	if o.MaxSize < 0 {
		return errf("mailgate: MaxSize %d is negative", o.MaxSize)
	}
	if o.OversizeFolder != "" && o.OversizeFolder == o.Folder {
		return errf("mailgate: OversizeFolder is the watched folder %q", o.Folder)
	}
	return nil
}

// logger returns l, or a logger that discards.
func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
