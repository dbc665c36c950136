package main

import (
	"errors"
	"fmt"
	"html"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode ISO-8859-x, Windows-125x, Shift_JIS... into UTF-8
	"github.com/emersion/go-message/mail"

	"github.com/mailoauth/mailoauth/imapx"
)

// maxTextBytes bounds the text body kept in a ticket; the rest is cut off
// and Ticket.TextTruncated says so.
const maxTextBytes = 1 << 20

// Ticket is what one message becomes. Its JSON form is the program's
// output.
type Ticket struct {
	// UIDValidity and UID identify the message in its folder: together
	// they are the ticket's idempotency key (a message handled again after
	// a crash gets the same key, and its file the same name).
	UIDValidity uint32    `json:"uid_validity"`
	UID         uint32    `json:"uid"`
	MessageID   string    `json:"message_id,omitempty"`
	Subject     string    `json:"subject"`
	From        []Address `json:"from"`
	Date        time.Time `json:"date,omitzero"`     // the Date header field
	Received    time.Time `json:"received,omitzero"` // when the server received it
	Text        string    `json:"text"`
	// TextSource is where Text came from: "text/plain", or "text/html"
	// with the markup stripped; empty when the message has neither.
	TextSource    string       `json:"text_source,omitempty"`
	TextTruncated bool         `json:"text_truncated,omitempty"`
	Attachments   []Attachment `json:"attachments"`
	// Problem says what could not be parsed; the ticket holds the rest.
	Problem string `json:"problem,omitempty"`
}

// Address is a sender.
type Address struct {
	Name    string `json:"name,omitempty"`
	Address string `json:"address"`
}

// Attachment is a part that is not the text body.
type Attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"` // bytes after transfer decoding
}

// newTicket reads m and makes its ticket. It returns an error only when
// reading the message failed (the connection broke): the mailgate then
// leaves the message in place and tries again. A message that is merely
// malformed still becomes a ticket, with Problem set and the envelope the
// server parsed filling the gaps.
func newTicket(m *imapx.Message) (*Ticket, error) {
	t := &Ticket{UIDValidity: m.UIDValidity, UID: uint32(m.UID), Received: m.InternalDate, Attachments: []Attachment{}}
	body := &readErrorKeeper{r: m.Body}
	parseErr := t.parse(body)
	if body.err != nil {
		return nil, body.err
	}
	if parseErr != nil {
		t.Problem = parseErr.Error()
	}
	t.fillFromEnvelope(m.Envelope)
	return t, nil
}

// parse fills t from the raw message, reading on past what it cannot
// parse; the error lists the problems met.
func (t *Ticket) parse(r io.Reader) error {
	mr, err := mail.CreateReader(r)
	if err != nil && !message.IsUnknownCharset(err) {
		return fmt.Errorf("message header: %w", err)
	}
	var problems []string
	note := func(err error) {
		if err != nil && len(problems) < 5 {
			problems = append(problems, err.Error())
		}
	}
	note(err)
	t.Subject, err = mr.Header.Subject()
	note(err)
	from, err := mr.Header.AddressList("From")
	note(err)
	for _, a := range from {
		t.From = append(t.From, Address{Name: a.Name, Address: a.Address})
	}
	t.Date, _ = mr.Header.Date() // a missing or odd date: the envelope's, or none
	t.MessageID, _ = mr.Header.MessageID()

	var plain, htmlText string
	var plainCut, htmlCut bool
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		note(err)
		if err != nil && !message.IsUnknownCharset(err) {
			break // the rest of the message cannot be read as MIME
		}
		var h message.Header
		inline := false
		switch ph := p.Header.(type) {
		case *mail.InlineHeader:
			h, inline = ph.Header, true
		case *mail.AttachmentHeader:
			h = ph.Header
		}
		contentType, _, _ := h.ContentType()
		if inline && (contentType == "text/plain" || contentType == "text/html") {
			text, cut, err := readText(p.Body)
			note(err)
			if contentType == "text/plain" && plain == "" {
				plain, plainCut = text, cut
			} else if contentType == "text/html" && htmlText == "" {
				htmlText, htmlCut = text, cut
			}
			continue
		}
		name, _ := (&mail.AttachmentHeader{Header: h}).Filename()
		size, err := io.Copy(io.Discard, p.Body)
		note(err)
		t.Attachments = append(t.Attachments, Attachment{Filename: name, ContentType: contentType, Size: size})
	}
	switch {
	case strings.TrimSpace(plain) != "":
		t.Text, t.TextSource, t.TextTruncated = tidyText(plain), "text/plain", plainCut
	case htmlText != "":
		t.Text, t.TextSource, t.TextTruncated = htmlToText(htmlText), "text/html", htmlCut
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// fillFromEnvelope takes what the message's own header did not give from
// the envelope the IMAP server parsed.
func (t *Ticket) fillFromEnvelope(env *imap.Envelope) {
	if env == nil {
		return
	}
	if t.Subject == "" {
		t.Subject = env.Subject
	}
	if len(t.From) == 0 {
		for _, a := range env.From {
			t.From = append(t.From, Address{Name: a.Name, Address: a.Addr()})
		}
	}
	if t.Date.IsZero() {
		t.Date = env.Date
	}
	if t.MessageID == "" {
		t.MessageID = env.MessageID
	}
}

// readText reads a text part up to maxTextBytes and discards the rest.
func readText(r io.Reader) (text string, truncated bool, err error) {
	b, err := io.ReadAll(io.LimitReader(r, maxTextBytes+1))
	if err != nil {
		return "", false, err
	}
	if len(b) > maxTextBytes {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return "", false, err
		}
		return strings.ToValidUTF8(string(b[:maxTextBytes]), ""), true, nil
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), false, nil
}

// tidyText gives a plain text body Unix line ends and no trailing blank
// space.
func tidyText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.TrimRight(s, " \t\r\n")
}

var (
	htmlDropped   = regexp.MustCompile(`(?is)<script\b.*?</script\s*>|<style\b.*?</style\s*>|<head\b.*?</head\s*>|<!--.*?-->`)
	htmlLineBreak = regexp.MustCompile(`(?i)<\s*(br|/p|/div|/tr|/li|/h[1-6]|/table|/blockquote)\b[^>]*>`)
	htmlTag       = regexp.MustCompile(`(?s)<[^>]*>`)
	spaces        = regexp.MustCompile(`[ \t\r\f\v\x{00a0}]+`)
	blankLines    = regexp.MustCompile(`\n{3,}`)
)

// htmlToText reduces an HTML body to its text: scripts, styles and
// comments dropped, block ends turned into line breaks, tags removed,
// entities decoded, white space tidied. It is meant for a ticket's
// preview, not for rendering.
func htmlToText(s string) string {
	s = htmlDropped.ReplaceAllString(s, "")
	s = htmlLineBreak.ReplaceAllString(s, "\n")
	s = htmlTag.ReplaceAllString(s, "")
	s = html.UnescapeString(s)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(spaces.ReplaceAllString(l, " "))
	}
	return strings.TrimSpace(blankLines.ReplaceAllString(strings.Join(lines, "\n"), "\n\n"))
}

// readErrorKeeper remembers the first read error of r other than io.EOF,
// so that a broken connection can be told from a malformed message.
type readErrorKeeper struct {
	r   io.Reader
	err error
}

func (k *readErrorKeeper) Read(p []byte) (int, error) {
	n, err := k.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && k.err == nil {
		k.err = err
	}
	return n, err
}
