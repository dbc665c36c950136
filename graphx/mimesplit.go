package graphx

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"slices"
	"strings"
)

// part is a top-level part of a multipart/mixed message, as offsets into
// the message's body (the octets after the header's blank line).
type part struct {
	// cut is the range the part leaves behind when it is taken out: from
	// the line break before its delimiter line to the line break before
	// the next delimiter (RFC 2046 §5.1.1: that line break belongs to the
	// delimiter).
	cutStart, cutEnd int64
	// content is the part's body, after its own header.
	contentStart, contentEnd int64

	index       int
	name        string
	contentType string
	contentID   string
	inline      bool
	encoding    string // Content-Transfer-Encoding, lower case
	decoded     int64  // the content's length once decoded; -1: not known yet
}

// draftPlan is a large message cut in two: a draft made of the header and
// the parts that stay, and the attachments that are added to the draft
// apart.
type draftPlan struct {
	src         *source
	keep        [][2]int64 // ranges of the body that stay in the draft, in order
	draftLen    int64      // header plus kept ranges
	attachments []*part    // taken out, in the message's order
}

// draft returns a new reader of the draft's MIME.
func (p *draftPlan) draft() io.Reader {
	rs := []io.Reader{bytes.NewReader(p.src.header)}
	for _, k := range p.keep {
		rs = append(rs, io.NewSectionReader(p.src.body, k[0], k[1]-k[0]))
	}
	return io.MultiReader(rs...)
}

// content returns a new reader of an attachment's decoded content.
func (p *draftPlan) content(a *part) io.Reader {
	r := io.Reader(io.NewSectionReader(p.src.body, a.contentStart, a.contentEnd-a.contentStart))
	switch a.encoding {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, r)
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

// planDraft takes top-level attachments out of a multipart/mixed message,
// the largest first, until the rest fits in limit octets; a negative limit
// takes every one out. It fails with ErrTooLarge when the message is not
// multipart/mixed or the rest does not fit even without every attachment.
func planDraft(src *source, h *header, limit int64) (*draftPlan, error) {
	mt, params, err := mime.ParseMediaType(h.contentType)
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		return nil, fmt.Errorf("the message is %d octets, more than one request takes, and it is not multipart/mixed with attachments to add apart: %w", src.size(), ErrTooLarge)
	}
	parts, err := splitParts(src.body, src.bodyLen, params["boundary"])
	if err != nil {
		return nil, err
	}
	var candidates []*part
	for _, p := range parts[min(1, len(parts)):] { // the first part is the text
		if p.contentType != "" && !strings.HasPrefix(p.contentType, "multipart/") && !strings.HasPrefix(p.contentType, "message/") {
			candidates = append(candidates, p)
		}
	}
	slices.SortStableFunc(candidates, func(a, b *part) int {
		return cmp.Compare(b.cutEnd-b.cutStart, a.cutEnd-a.cutStart) // largest first
	})
	plan := &draftPlan{src: src, draftLen: src.size()}
	for _, c := range candidates {
		if limit >= 0 && plan.draftLen <= limit {
			break
		}
		if err := plan.measure(c); err != nil {
			return nil, err
		}
		plan.attachments = append(plan.attachments, c)
		plan.draftLen -= c.cutEnd - c.cutStart
	}
	if limit >= 0 && plan.draftLen > limit || len(plan.attachments) == 0 {
		return nil, fmt.Errorf("the message without its %d attachments is still %d octets, more than one request takes (%d): %w",
			len(plan.attachments), plan.draftLen, limit, ErrTooLarge)
	}
	slices.SortFunc(plan.attachments, func(a, b *part) int { return a.index - b.index })
	at := int64(0)
	for _, a := range plan.attachments {
		plan.keep = append(plan.keep, [2]int64{at, a.cutStart})
		at = a.cutEnd
	}
	plan.keep = append(plan.keep, [2]int64{at, src.bodyLen})
	return plan, nil
}

// measure decodes an attachment once to learn its size, which the upload
// session needs before the first byte, and to find bad encodings before
// anything is sent.
func (p *draftPlan) measure(a *part) error {
	switch a.encoding {
	case "", "7bit", "8bit", "binary", "base64", "quoted-printable":
	default:
		return fmt.Errorf("attachment %q: unknown Content-Transfer-Encoding %q", a.name, a.encoding)
	}
	n, err := io.Copy(io.Discard, p.content(a))
	if err != nil {
		return fmt.Errorf("attachment %q: %w", a.name, err)
	}
	if n > MaxAttachmentSize {
		return fmt.Errorf("attachment %q is %d octets; Graph takes %d at most: %w", a.name, n, MaxAttachmentSize, ErrTooLarge)
	}
	a.decoded = n
	return nil
}

// maxPartHeader bounds the header of a part.
const maxPartHeader = 64 << 10

// splitParts finds the top-level parts of a multipart body with boundary.
func splitParts(body io.ReaderAt, size int64, boundary string) ([]*part, error) {
	delim := []byte("--" + boundary)
	br := bufio.NewReaderSize(io.NewSectionReader(body, 0, size), 64<<10)
	var (
		parts    []*part
		pos      int64 // offset of the next byte br returns
		atStart  = true
		prevEOL  int64 // length of the line break before this line
		closed   bool
		lineOpen bool // the line at lineStart goes on past the buffer
	)
	var open *part
	for !closed {
		lineStart := pos
		line, err := br.ReadSlice('\n')
		pos += int64(len(line))
		if err == bufio.ErrBufferFull {
			atStart, lineOpen = false, true
			continue
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("reading the message: %w", err)
		}
		if atStart && !lineOpen && bytes.HasPrefix(line, delim) {
			rest := bytes.TrimRight(line[len(delim):], " \t\r\n")
			isClose := bytes.Equal(rest, []byte("--"))
			if len(rest) == 0 || isClose {
				cut := lineStart - prevEOL
				if lineStart == 0 {
					cut = 0
				}
				if open != nil {
					open.cutEnd, open.contentEnd = cut, cut
					parts = append(parts, open)
					open = nil
				}
				if isClose {
					closed = true
					break
				}
				open = &part{index: len(parts), cutStart: cut, contentStart: pos, decoded: -1}
			}
		}
		lineOpen = false
		atStart = true
		switch {
		case bytes.HasSuffix(line, []byte("\r\n")):
			prevEOL = 2
		case bytes.HasSuffix(line, []byte("\n")):
			prevEOL = 1
		default:
			prevEOL = 0
		}
		if err == io.EOF {
			break
		}
	}
	if !closed {
		return nil, errors.New("the multipart message has no closing delimiter")
	}
	for _, p := range parts {
		if err := readPartHeader(body, p); err != nil {
			return nil, err
		}
	}
	return parts, nil
}

// readPartHeader reads a part's header and moves contentStart past it.
func readPartHeader(body io.ReaderAt, p *part) error {
	n := min(p.contentEnd-p.contentStart, maxPartHeader)
	buf := make([]byte, n)
	if _, err := body.ReadAt(buf, p.contentStart); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the message: %w", err)
	}
	end := headerEnd(buf)
	if end < 0 {
		if n == maxPartHeader {
			return fmt.Errorf("part %d: header longer than %d octets", p.index+1, maxPartHeader)
		}
		end = len(buf) // a part with a header and no content
	}
	fields, err := scanHeader(buf[:end], "Content-Type", "Content-Disposition", "Content-ID", "Content-Transfer-Encoding")
	if err != nil {
		return fmt.Errorf("part %d: %w", p.index+1, err)
	}
	p.contentStart += int64(end)
	get := func(name string) string {
		for _, f := range fields {
			if strings.EqualFold(f.name, name) {
				return f.value
			}
		}
		return ""
	}
	p.contentType = "text/plain" // RFC 2045 §5.2
	var params map[string]string
	if v := get("Content-Type"); v != "" {
		if mt, ps, err := mime.ParseMediaType(v); err == nil {
			p.contentType, params = mt, ps
		}
	}
	var dparams map[string]string
	if v := get("Content-Disposition"); v != "" {
		if d, ps, err := mime.ParseMediaType(v); err == nil {
			p.inline = d == "inline"
			dparams = ps
		}
	}
	p.name = dparams["filename"]
	if p.name == "" {
		p.name = params["name"]
	}
	if dec, err := addressParser.WordDecoder.DecodeHeader(p.name); err == nil {
		p.name = dec
	}
	if p.name == "" {
		p.name = fmt.Sprintf("attachment-%d", p.index)
	}
	p.contentID = strings.Trim(strings.TrimSpace(get("Content-ID")), "<>")
	p.encoding = strings.ToLower(strings.TrimSpace(get("Content-Transfer-Encoding")))
	return nil
}
