package graphx

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
)

// memoryLimit is the most of a message Send keeps in memory: a larger one
// is read where it is (an io.ReaderAt with an io.Seeker) or spooled to a
// temporary file, so that a 20 MB message never sits in memory whole.
const memoryLimit = 256 << 10

// maxHeader bounds a message's header block.
const maxHeader = memoryLimit

// source is a message Send can read as often as it needs: the header
// block in memory (with the blank line that ends it, and any field Send
// added) and the rest of the message as an io.ReaderAt.
type source struct {
	header  []byte
	body    io.ReaderAt
	bodyLen int64
	file    *os.File // the spool file, removed by close; nil when none
	encoded []byte   // the base64 of a message that is in memory whole
	// whole is the message as read, when it is in memory whole; header
	// is its start unless Send changed the header.
	whole []byte
}

// size returns the length of the message as it is sent.
func (s *source) size() int64 { return int64(len(s.header)) + s.bodyLen }

// reader returns a new reader of the whole message.
func (s *source) reader() io.Reader {
	return io.MultiReader(bytes.NewReader(s.header), io.NewSectionReader(s.body, 0, s.bodyLen))
}

// base64Body returns a new reader of the message in base64, as sendMail
// and the draft take it.
func (s *source) base64Body() (io.Reader, error) {
	if s.encoded != nil {
		return bytes.NewReader(s.encoded), nil
	}
	return newBase64Reader(s.reader(), s.size()), nil
}

// close removes the spool file, if any.
func (s *source) close() {
	if s.file != nil {
		name := s.file.Name()
		s.file.Close()
		os.Remove(name)
		s.file = nil
	}
}

// readerAtSeeker is a message Send can read in place.
type readerAtSeeker interface {
	io.ReaderAt
	io.Seeker
}

// readSource reads msg's header into memory and makes the rest readable
// again: in place when msg is an io.ReaderAt with an io.Seeker (from its
// current offset), in memory when it is small, else in a temporary file
// in dir.
func readSource(msg io.Reader, dir string) (*source, error) {
	if ra, ok := msg.(readerAtSeeker); ok {
		return inPlace(ra)
	}
	buf := make([]byte, memoryLimit)
	n, err := io.ReadFull(msg, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		buf = buf[:n]
		end := headerEnd(buf)
		if end < 0 {
			end = len(buf)
		}
		s := &source{header: buf[:end:end], body: bytes.NewReader(buf[end:]), bodyLen: int64(n - end), whole: buf}
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("reading the message: %w", err)
	}
	end := headerEnd(buf)
	if end < 0 {
		return nil, fmt.Errorf("the message's header is longer than %d octets or has no blank line after it", maxHeader)
	}
	f, err := os.CreateTemp(dir, "graphx-message-*")
	if err != nil {
		return nil, fmt.Errorf("spooling the message: %w", err)
	}
	s := &source{header: append([]byte(nil), buf[:end]...), body: f, file: f}
	if _, err := f.Write(buf[end:]); err != nil {
		s.close()
		return nil, fmt.Errorf("spooling the message: %w", err)
	}
	rest, err := io.Copy(f, msg)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("spooling the message: %w", err)
	}
	s.bodyLen = int64(len(buf)-end) + rest
	return s, nil
}

// inPlace reads the header of a message that can be read again where it
// is, from its current offset on.
func inPlace(ra readerAtSeeker) (*source, error) {
	off, err := ra.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("reading the message: %w", err)
	}
	end, err := ra.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("reading the message: %w", err)
	}
	if _, err := ra.Seek(off, io.SeekStart); err != nil {
		return nil, fmt.Errorf("reading the message: %w", err)
	}
	buf := make([]byte, min(end-off, maxHeader))
	if _, err := ra.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading the message: %w", err)
	}
	h := headerEnd(buf)
	if h < 0 {
		if int64(len(buf)) < end-off {
			return nil, fmt.Errorf("the message's header is longer than %d octets or has no blank line after it", maxHeader)
		}
		h = len(buf)
	}
	s := &source{header: buf[:h:h], body: io.NewSectionReader(ra, off+int64(h), end-off-int64(h)), bodyLen: end - off - int64(h)}
	if int64(len(buf)) == end-off {
		s.whole = buf
	}
	return s, nil
}

// headerEnd returns the length of the header block at the start of b,
// the blank line that ends it included, or -1 when b holds no blank line.
// A message that starts with a blank line has an empty header.
func headerEnd(b []byte) int {
	switch {
	case bytes.HasPrefix(b, []byte("\r\n")):
		return 2
	case bytes.HasPrefix(b, []byte("\n")):
		return 1
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		switch {
		case bytes.HasPrefix(b[i+1:], []byte("\r\n")):
			return i + 3
		case bytes.HasPrefix(b[i+1:], []byte("\n")):
			return i + 2
		}
	}
	return -1
}

// encodeSmall keeps the base64 of a message no larger than memoryLimit,
// so that each attempt sends the same bytes without reading and encoding
// them again.
func (s *source) encodeSmall() error {
	if s.size() > memoryLimit {
		return nil
	}
	raw := s.whole
	if int64(len(raw)) != s.size() || !bytes.HasPrefix(raw, s.header) {
		raw = make([]byte, s.size())
		if _, err := io.ReadFull(s.reader(), raw); err != nil {
			return fmt.Errorf("reading the message: %w", err)
		}
	}
	s.encoded = make([]byte, base64.StdEncoding.EncodedLen(len(raw)))
	base64.StdEncoding.Encode(s.encoded, raw)
	return nil
}

// base64Reader is the base64 of a reader, read as it goes: a fixed buffer,
// no goroutine.
type base64Reader struct {
	r   io.Reader
	in  []byte // raw bytes, a multiple of 3 long
	out []byte // encoded bytes not read yet (a window of enc)
	enc []byte
	err error
}

// base64Chunk is the raw size base64Reader encodes at once (a multiple of
// 3).
const base64Chunk = 24 << 10

// newBase64Reader encodes r, whose length is about size (it sizes the
// buffers).
func newBase64Reader(r io.Reader, size int64) *base64Reader {
	n := int(min(size, base64Chunk))
	n += (3 - n%3) % 3
	n = max(n, 3)
	return &base64Reader{r: r, in: make([]byte, n), enc: make([]byte, base64.StdEncoding.EncodedLen(n))}
}

func (b *base64Reader) Read(p []byte) (int, error) {
	for len(b.out) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		n, err := io.ReadFull(b.r, b.in)
		if n > 0 {
			m := base64.StdEncoding.EncodedLen(n)
			base64.StdEncoding.Encode(b.enc[:m], b.in[:n])
			b.out = b.enc[:m]
		}
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			b.err = io.EOF
		case err != nil:
			b.err = err
		}
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}
