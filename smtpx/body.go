package smtpx

import (
	"errors"
	"io"
	"sync"
)

// copyBufferSize is the chunk in which a message is streamed.
const copyBufferSize = 32 << 10

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}

// errNotRewindable is the cause when a message would have to be read again
// and cannot be.
var errNotRewindable = errors.New("the message cannot be read again: pass an io.ReadSeeker such as *bytes.Reader")

// body is a message being sent: it streams the caller's reader, tells the
// reader's own failures from the connection's, and rewinds when the reader
// is an io.Seeker.
type body struct {
	r      io.Reader
	seeker io.Seeker // nil: the message can be read once only
	start  int64     // the seeker's offset when the send began
	n      int64     // bytes read since the start or the last rewind
	err    error     // the reader's own failure, if any
}

func newBody(msg io.Reader) *body {
	b := &body{r: msg}
	if s, ok := msg.(io.Seeker); ok {
		if pos, err := s.Seek(0, io.SeekCurrent); err == nil {
			b.seeker, b.start = s, pos
		}
	}
	return b
}

// fresh reports that nothing has been read yet, so any message can be
// (re)sent.
func (b *body) fresh() bool { return b.n == 0 && b.err == nil }

// rewind makes the next send start at the beginning again.
func (b *body) rewind() error {
	if b.fresh() {
		return nil
	}
	if b.seeker == nil {
		return errNotRewindable
	}
	if _, err := b.seeker.Seek(b.start, io.SeekStart); err != nil {
		return err
	}
	b.n, b.err = 0, nil
	return nil
}

// writeTo copies the message to w without holding more than one chunk of
// it. A failure of the reader is kept in b.err; any other is w's.
func (b *body) writeTo(w io.Writer) error {
	if wt, ok := b.r.(io.WriterTo); ok {
		cw := &countingWriter{w: w, n: &b.n}
		_, err := wt.WriteTo(cw)
		if err != nil && cw.err == nil {
			b.err = err
		}
		return err
	}
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	for {
		n, rerr := b.r.Read(buf)
		if n > 0 {
			b.n += int64(n)
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			b.err = rerr
			return rerr
		}
	}
}

// countingWriter counts what a WriterTo writes and keeps the writer's error.
type countingWriter struct {
	w   io.Writer
	n   *int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	if err != nil {
		c.err = err
	}
	return n, err
}
