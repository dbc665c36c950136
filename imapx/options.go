package imapx

import (
	"crypto/tls"
	"io"
	"log/slog"
	"time"

	"github.com/mailoauth/mailoauth/mailgate"
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

// Default values of Options, BackendOptions and MailgateOptions.
const (
	defaultDialTimeout  = 30 * time.Second
	defaultFolder       = "INBOX"
	defaultPollInterval = time.Minute
	defaultIdleRenew    = 25 * time.Minute
	maxIdleRenew        = 29 * time.Minute // RFC 9051 §6.3.13: servers may drop an IDLE after 30 minutes
	logoutTimeout       = 5 * time.Second
)

// Action is what a Mailgate does to a message after its handler succeeded
// (mailgate.Action). The zero Action is MarkSeen.
type Action = mailgate.Action

// The actions, as IMAP carries them out.
const (
	// MarkSeen sets \Seen. The mailgate then handles the folder's unseen
	// messages only.
	MarkSeen = mailgate.MarkSeen
	// Move moves the message to MailgateOptions.MoveTo: with MOVE where the
	// server has it, else COPY, \Deleted and UID EXPUNGE of that message
	// alone (a COPY whose reply was lost is checked against the
	// destination before it is repeated). The mailgate handles every
	// message in the folder.
	Move = mailgate.Move
	// Delete sets \Deleted and expunges that message alone (UID EXPUNGE).
	// The mailgate handles every message in the folder.
	Delete = mailgate.Delete
)

// BackendOptions configure NewBackend: how to reach the folder. What
// happens to its messages is mailgate.Options' business. A nil
// *BackendOptions, like the zero value, watches INBOX.
type BackendOptions struct {
	Options
	// Folder is the folder watched; empty: INBOX.
	Folder string
	// PollInterval is the time between checks on a server without IDLE;
	// zero: one minute.
	PollInterval time.Duration
	// IdleRenew is how long one IDLE lasts before the session ends it,
	// checks the folder and idles again; zero: 25 minutes. Values of 29
	// minutes or more are lowered: servers may end an IDLE after 30.
	IdleRenew time.Duration
}

// withDefaults returns o with every zero field set to its default.
func (o BackendOptions) withDefaults() BackendOptions {
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
	return o
}

// MailgateOptions configure a Mailgate: the backend's options and the
// mailgate's in one struct. A nil *MailgateOptions, like the zero value,
// watches INBOX and marks handled messages \Seen.
type MailgateOptions struct {
	Options
	// Folder, PollInterval and IdleRenew are the fields of BackendOptions:
	// the folder watched (empty: INBOX) and how it is watched.
	Folder                  string
	PollInterval, IdleRenew time.Duration
	// After, MoveTo, MaxSize, OversizeFolder, RetryBackoff,
	// ReconnectBackoff, ReconnectBeforeExpiry and Clock are the fields of
	// mailgate.Options: what happens to a message once its handler
	// succeeded, what is too large, the schedules of retries and
	// reconnections (zero: the defaults there), and the clock.
	After                          Action
	MoveTo, OversizeFolder         string
	MaxSize                        int64
	RetryBackoff, ReconnectBackoff retry.Backoff
	ReconnectBeforeExpiry          time.Duration
	Clock                          retry.Clock
}

// split returns the backend's and the mailgate's part of o.
func (o *MailgateOptions) split() (*BackendOptions, *mailgate.Options) {
	return &BackendOptions{Options: o.Options, Folder: o.Folder, PollInterval: o.PollInterval, IdleRenew: o.IdleRenew},
		&mailgate.Options{
			After: o.After, MoveTo: o.MoveTo, MaxSize: o.MaxSize, OversizeFolder: o.OversizeFolder,
			RetryBackoff: o.RetryBackoff, ReconnectBackoff: o.ReconnectBackoff,
			ReconnectBeforeExpiry: o.ReconnectBeforeExpiry, Clock: o.Clock, Logger: o.Logger,
		}
}

// logger returns l, or a logger that discards.
func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
