package imapx

import (
	"io"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailoauth/mailoauth/mailgate"
)

// Message is one message given to a Mailgate's handler: the IMAP view of
// it. (A handler that serves every transport takes a *mailgate.Message.)
type Message struct {
	// Key names the message for deduplication: folder, UIDVALIDITY, UID
	// and Message-ID.
	Key mailgate.Key
	// UID identifies the message in the folder while UIDValidity holds.
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

// bodyReader is a message's literal from the FETCH response. Its end and
// its errors are sticky: go-imap's decoder resumes as soon as the literal
// ended or failed, and reading the literal again would race with it. A
// literal that ends before its announced size (the connection closed)
// reads as io.ErrUnexpectedEOF, never as a complete message: go-imap
// v2.0.0-beta.8's literal reader returns io.EOF there (emersion/go-imap
// issue 650; the fix proposed in pull request 676 is not merged;
// TestUpstreamTruncatedLiteralReadsAsComplete pins it).
type bodyReader struct {
	r    io.Reader
	size int64 // announced literal size
	read int64
	end  error // io.EOF or the first read error
}

func newBodyReader(r io.Reader, size int64) *bodyReader {
	return &bodyReader{r: r, size: size}
}

func (b *bodyReader) Read(p []byte) (int, error) {
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

// finish drains what was left unread. It returns the read error, if the
// body could not be read to its end (the connection broke); after it the
// reader reads nothing more.
func (b *bodyReader) finish() error {
	if b.end == nil {
		_, _ = io.Copy(io.Discard, b)
	}
	if b.end == io.EOF {
		return nil
	}
	return b.end
}
