package imapx

import (
	"errors"
	"io"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Message is one message given to a Mailgate's handler.
type Message struct {
	// UID identifies the message in the folder while UIDValidity holds;
	// together they make a key for deduplication.
	UID         imap.UID
	UIDValidity uint32
	Envelope    *imap.Envelope // parsed header fields; may be nil if the server sent none
	Flags       []imap.Flag    // the flags before the mailgate's action
	Size        int64          // RFC822.SIZE in bytes
	// InternalDate is when the server received the message.
	InternalDate time.Time
	// Body streams the raw RFC 5322 message (header and body) from the
	// server. It is valid only until the handler returns: read it there.
	// A read error means the connection broke; return it, and the message
	// is tried again.
	Body io.Reader
}

// errBodyAfterHandler is returned by a Message.Body read after the handler
// returned.
var errBodyAfterHandler = errors.New("imapx: Message.Body read after the handler returned")

// bodyReader is Message.Body: the literal from the FETCH response, which
// must not be read once the mailgate moved on.
type bodyReader struct {
	r    io.Reader
	done bool
	err  error // the first read error other than io.EOF
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.done {
		return 0, errBodyAfterHandler
	}
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// finish drains what the handler left unread and closes the reader. It
// returns the first read error, so that a message cut off by a broken
// connection is not taken as handled.
func (b *bodyReader) finish() error {
	if !b.done {
		if _, err := io.Copy(io.Discard, b.r); err != nil && b.err == nil {
			b.err = err
		}
		b.done = true
	}
	return b.err
}
