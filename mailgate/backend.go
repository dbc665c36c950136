package mailgate

import (
	"context"
	"errors"
	"time"
)

// Backend is one folder of one mailbox as a transport reaches it; a Gate
// opens sessions on it. A Gate calls a Backend and its sessions from one
// goroutine, one session at a time.
//
// Errors of a Backend and its sessions say what happened: wrapping
// ErrRefused or ErrSessionExpired, and, for a server's answer, being a
// provider.Replier (Diagnose explains it in the log; a Reply's Wait, a
// throttling reply's or a Retry-After, is the pause before the next
// session).
//
// A Backend may also implement Checker, a Session Expirer, and a Backend
// slog.LogValuer (the gate's log lines then name it).
type Backend interface {
	// Open connects, authenticates and opens the folder for the work p
	// describes, checking what it can up front (the destination folders
	// exist). Errors carry the server's answer for provider.Diagnose
	// where there is one.
	Open(ctx context.Context, p *Plan) (Session, error)
}

// Plan is the work a Gate does in the sessions it opens.
type Plan struct {
	// After is the action applied to a message once its handler
	// succeeded; it also decides which messages List returns.
	After Action
	// MoveTo is the destination folder of Move.
	MoveTo string
	// MaxSize is the largest message, in bytes, Fetch hands over with its
	// body; zero: no limit.
	MaxSize int64
	// OversizeFolder receives messages larger than MaxSize; empty: they
	// stay where they are.
	OversizeFolder string
	// MinLifetime is how long the credentials a session opens with should
	// stay valid at least: a backend that authenticates sessions with a
	// token takes a fresh one rather than one expiring sooner.
	MinLifetime time.Duration
}

// Listing is what List found in the folder.
type Listing struct {
	// Epoch is the space the IDs live in (Key.Epoch). When it differs
	// from the last listing, the gate forgets what it handled.
	Epoch string
	// IDs are the folder's candidates, oldest first: the messages the
	// plan's action was not applied to. It is the whole set: a message not
	// listed is taken as acted on (or gone).
	IDs []string
}

// Session is one open folder: a connection, or what stands for one.
type Session interface {
	// List returns the folder's candidates: for MarkSeen the unread
	// messages, for Move and Delete every message (never one being
	// deleted).
	List(ctx context.Context) (*Listing, error)
	// Fetch hands messages of ids, from the first and in that order, to
	// yield, each with its body streaming from the server, and returns how
	// many of ids it went through: at least one, unless it fails. It
	// chooses how many one request carries (the gate applies the actions
	// of those messages before the next Fetch). Messages that are gone
	// are skipped; a message larger than the plan's MaxSize comes with a
	// nil Body. The Message and its Body are valid only during yield, and
	// whatever yield left unread is drained. Once yield returns false,
	// Fetch hands over no more messages and returns soon.
	Fetch(ctx context.Context, ids []string, yield func(*Message) bool) (int, error)
	// Apply applies a to the messages ids (for Move, into folder) and
	// returns once the server confirmed it. It may be called again for
	// messages whose earlier Apply failed in a broken session, and must
	// then not apply the action twice (copy a message twice, say). An
	// error that wraps ErrRefused keeps the session going.
	Apply(ctx context.Context, a Action, folder string, ids []string) error
	// Wait returns when the folder may have changed, when ctx is done, or
	// after within at the latest; a zero within sets no limit (the
	// backend's own poll or push interval applies). An error ends the
	// session.
	Wait(ctx context.Context, within time.Duration) error
	// Close ends the session. The gate calls it once, whatever happened.
	Close() error
}

// Checker is a Backend that can reject a plan, or its own configuration,
// before connecting: Run then returns Check's error at once instead of
// retrying.
type Checker interface {
	Check(p *Plan) error
}

// Expirer is a Session whose credentials expire: the gate replaces the
// session shortly before Expiry (Options.ReconnectBeforeExpiry). A zero
// time means never.
type Expirer interface {
	Expiry() time.Time
}

// Errors a Session's errors wrap to tell the gate what happened.
var (
	// ErrRefused: the server refused one request (an IMAP NO or BAD), as
	// opposed to a broken session. The gate logs it, keeps the session and
	// tries again at the next check.
	ErrRefused = errors.New("mailgate: the server refused the request")
	// ErrSessionExpired: the server ended the session because the
	// credentials it was opened with expired (Exchange Online's "BYE
	// Session invalidated - AccessTokenExpired"). The gate opens a new one
	// at once, without backoff.
	ErrSessionExpired = errors.New("mailgate: the server ended the session because its credentials expired")
)
