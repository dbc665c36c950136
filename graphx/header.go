package graphx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"slices"
	"strings"

	"github.com/mailoauth/mailoauth/provider"
)

// addressParser reads address lists without failing on a display name in
// a charset Go does not know: only the addresses matter here.
var addressParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{
	CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil },
}}

// header is what Send reads from a message's header.
type header struct {
	contentType string   // the Content-Type field; empty when none
	recipients  []string // To, Cc and Bcc addresses, lower case, each once
	from        string   // the From address, lower case; empty when none
	crlf        bool     // the header's lines end in CRLF
}

// field is a header field, its value unfolded (RFC 5322 §2.2.3).
type field struct {
	name, value string
}

// scanHeader splits a header block (the blank line that ends it may be
// missing) into the fields named in names (any case; none: every field),
// and checks the syntax of every line. A kept field's name is the one in
// names. It costs less than net/mail, which builds a map of every field.
func scanHeader(block []byte, names ...string) ([]field, error) {
	var fields []field
	keep := false // the field being read is kept
	for len(block) > 0 {
		line := block
		if i := bytes.IndexByte(block, '\n'); i >= 0 {
			line, block = block[:i], block[i+1:]
		} else {
			block = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if keep {
				fields[len(fields)-1].value += string(line)
			}
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isFieldName(line[:colon]) {
			return nil, fmt.Errorf("malformed header line %q", truncate(string(line), 64))
		}
		name := string(line[:colon])
		keep = len(names) == 0
		for _, n := range names {
			if len(n) == colon && bytes.EqualFold([]byte(n), line[:colon]) {
				keep, name = true, n
				break
			}
		}
		if keep {
			fields = append(fields, field{name: name, value: string(bytes.TrimLeft(line[colon+1:], " \t"))})
		}
	}
	return fields, nil
}

// isFieldName reports printable US-ASCII without spaces or colons
// (RFC 5322 §3.6.8's ftext).
func isFieldName(b []byte) bool {
	for _, c := range b {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// parseHeader reads a message's header block: the To, Cc and Bcc fields
// Graph takes the recipients from (it parses the MIME into the message's
// recipients, https://learn.microsoft.com/en-us/graph/outlook-things-to-know-about-send-mail,
// Cc and Bcc included, https://learn.microsoft.com/en-us/graph/outlook-send-mime-message),
// From, and Content-Type.
func parseHeader(block []byte) (*header, error) {
	if len(block) > 0 && (block[0] == ' ' || block[0] == '\t') {
		return nil, errors.New("reading the message's header: it starts with a continuation line")
	}
	fields, err := scanHeader(block, "To", "Cc", "Bcc", "From", "Content-Type")
	if err != nil {
		return nil, fmt.Errorf("reading the message's header: %w", err)
	}
	h := &header{crlf: bytes.Contains(block, []byte("\r\n")) || len(block) == 0}
	for _, f := range fields {
		switch {
		case f.name == "To" || f.name == "Cc" || f.name == "Bcc":
			list, err := addresses(f)
			if err != nil {
				return nil, err
			}
			for _, a := range list {
				if !slices.Contains(h.recipients, a) {
					h.recipients = append(h.recipients, a)
				}
			}
		case f.name == "From" && h.from == "":
			list, err := addresses(f)
			if err != nil {
				return nil, err
			}
			if len(list) > 0 {
				h.from = list[0]
			}
		case f.name == "Content-Type" && h.contentType == "":
			h.contentType = f.value
		}
	}
	return h, nil
}

// addresses returns the addresses of an address-list field, lower case.
func addresses(f field) ([]string, error) {
	if strings.TrimSpace(f.value) == "" {
		return nil, nil
	}
	if list, ok := plainAddresses(f.value); ok {
		return list, nil
	}
	parsed, err := addressParser.ParseList(f.value)
	if err != nil {
		return nil, fmt.Errorf("reading the %s field %q: %w", f.name, truncate(f.value, 200), err)
	}
	out := make([]string, len(parsed))
	for i, a := range parsed {
		out[i] = strings.ToLower(a.Address)
	}
	return out, nil
}

// plainAddresses reads the common list of "a@b" and "Name <a@b>" quickly;
// ok is false for anything else (quotes, comments, groups, encoded words,
// unusual characters), which net/mail reads.
func plainAddresses(v string) (list []string, ok bool) {
	for p := range strings.SplitSeq(v, ",") {
		p = strings.Trim(p, " \t")
		if i := strings.IndexByte(p, '<'); i >= 0 {
			if !strings.HasSuffix(p, ">") || !isPlain(p[:i], " .") {
				return nil, false
			}
			p = p[i+1 : len(p)-1]
		}
		at := strings.IndexByte(p, '@')
		if at < 0 || !isDotAtom(p[:at]) || !isDotAtom(p[at+1:]) {
			return nil, false
		}
		list = append(list, strings.ToLower(p))
	}
	return list, true
}

// isDotAtom reports atoms of letters, digits and "-_+" joined by single
// dots: a plain local part or domain.
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	return isPlain(s, ".-_+")
}

// isPlain reports ASCII letters and digits, and the bytes of extra.
func isPlain(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}

// checkEnvelope makes sure Graph will send to exactly env's recipients:
// it refuses a header recipient the envelope leaves out (Graph would send
// to it), and for envelope recipients the header leaves out it adds a Bcc
// field when addBcc is set, and refuses otherwise. It also refuses an
// envelope sender that is neither the mailbox nor the From address: Graph
// has no reverse path of its own. It returns the Bcc field to add, or nil.
func checkEnvelope(env provider.Envelope, mailbox string, h *header, addBcc bool) ([]byte, error) {
	from := strings.ToLower(env.From)
	if from != strings.ToLower(mailbox) && from != h.from {
		return nil, fmt.Errorf("the envelope's sender %q is neither the mailbox %q nor the message's From %q: Graph sends from the mailbox, and non-delivery reports go to it: %w",
			env.From, mailbox, h.from, provider.ErrInvalidAddress)
	}
	want := make([]string, 0, len(env.To))
	for _, to := range env.To {
		if a := strings.ToLower(to); !slices.Contains(want, a) {
			want = append(want, a)
		}
	}
	var extra []string
	for _, r := range h.recipients {
		if !slices.Contains(want, r) {
			extra = append(extra, r)
		}
	}
	if len(extra) > 0 {
		return nil, fmt.Errorf("the header names %s, which the envelope leaves out, and Graph sends to every address in To, Cc and Bcc: %w",
			strings.Join(extra, ", "), ErrRecipients)
	}
	var missing []string
	for _, to := range env.To {
		if !slices.Contains(h.recipients, strings.ToLower(to)) && !slices.ContainsFunc(missing, func(m string) bool { return strings.EqualFold(m, to) }) {
			missing = append(missing, to)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	if !addBcc {
		return nil, fmt.Errorf("the header's To, Cc and Bcc leave out %s, and Graph sends only to those: write them into a Bcc field, or set Options.AddBcc: %w",
			strings.Join(missing, ", "), ErrRecipients)
	}
	return bccField(missing, h.crlf), nil
}

// maxFieldLine is where bccField folds its line (RFC 5322 §2.1.1 asks for
// 78 characters).
const maxFieldLine = 78

// bccField returns "Bcc: a, b" with its line ending, folded between
// addresses. The addresses passed provider.CheckAddress: no CR or LF.
func bccField(addrs []string, crlf bool) []byte {
	eol := "\n"
	if crlf {
		eol = "\r\n"
	}
	var b strings.Builder
	b.WriteString("Bcc: ")
	line := len("Bcc: ")
	for i, a := range addrs {
		if i > 0 {
			b.WriteString(",")
			line++
			if line+1+len(a) > maxFieldLine {
				b.WriteString(eol)
				line = 0
			}
			b.WriteString(" ")
			line++
		}
		b.WriteString(a)
		line += len(a)
	}
	b.WriteString(eol)
	return []byte(b.String())
}
