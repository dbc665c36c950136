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
// must not be read once the mailgate moved on. Its end and its errors are
// sticky: go-imap's decoder resumes as soon as the literal ended or failed,
// and reading the literal again would race with it. A literal that ends
// before its announced size (the connection closed) reads as
// io.ErrUnexpectedEOF, never as a complete message.
type bodyReader struct {
	r    io.Reader
	size int64 // announced literal size
	read int64
	done bool  // the handler returned
	end  error // io.EOF or the first read error
}

func newBodyReader(r io.Reader, size int64) *bodyReader {
	return &bodyReader{r: r, size: size}
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.done {
		return 0, errBodyAfterHandler
	}
	if b.end != nil {
		return 0, b.end
	}
	n, err := b.r.Read(p)
	b.read += int64(n)
	if err == io.EOF && b.read < b.size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		b.end = err
	}
	return n, err
}

// finish drains what the handler left unread and closes the reader. It
// returns the read error, if the body could not be read to its end (the
// connection broke).
func (b *bodyReader) finish() error {
	if !b.done && b.end == nil {
		_, _ = io.Copy(io.Discard, b)
	}
	b.done = true
	if b.end == io.EOF {
		return nil
	}
	return b.end
}
