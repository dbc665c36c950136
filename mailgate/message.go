package mailgate

import (
	"io"
	"net/mail"
	"strconv"
	"time"
)

// Action is what a Gate does to a message once its handler succeeded. The
// zero Action is MarkSeen.
type Action int

const (
	// MarkSeen marks the message read. The gate then handles the folder's
	// unread messages only.
	MarkSeen Action = iota
	// Move moves the message to Options.MoveTo. The gate handles every
	// message in the folder.
	Move
	// Delete deletes the message. The gate handles every message in the
	// folder.
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

// Key names a message for as long as its backend keeps the name: a key for
// deduplication (the same message handed over again after a restart has the
// same Key).
type Key struct {
	// Folder is the folder the message was read from.
	Folder string
	// Epoch names the space the IDs live in: IMAP's UIDVALIDITY, in
	// decimal. When it changes, an ID may name another message. Empty for
	// a backend whose IDs never change meaning.
	Epoch string
	// ID names the message within Folder and Epoch: the IMAP UID in
	// decimal.
	ID string
	// MessageID is the message's Message-ID header field without the angle
	// brackets; empty when it has none.
	MessageID string
}

// Message is one message given to a handler, the same for every backend.
type Message struct {
	Key     Key
	Subject string
	// From is the first author (the From header field); zero when none.
	From mail.Address
	// Date is the Date header field; zero when absent or unreadable.
	Date time.Time
	// Received is when the server received the message.
	Received time.Time
	// Size is the message's size in bytes.
	Size int64
	// Seen reports whether the message was marked read before the gate's
	// action.
	Seen bool
	// Body streams the raw RFC 5322 message (header and body) from the
	// server. It is valid only until the handler returns: read it there.
	// A read error means the connection broke; return it, and the message
	// is tried again.
	Body io.Reader
}
