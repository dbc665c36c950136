package cli

import (
	"bytes"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
)

// Message is a plain-text message to compose.
type Message struct {
	From     string // the address of the From field
	FromName string // its display name; "" for none
	To       []string
	Subject  string
	// Body is the text; a line end is added after it.
	Body string
	// Date is the Date field; zero: now.
	Date time.Time
	// IDHost is the host part of the Message-ID; "": the domain of From.
	IDHost string
}

// Compose returns m as a message in UTF-8, its text quoted-printable and
// its header fields encoded where they are not ASCII, so that any text is
// safe, and its Message-ID.
func Compose(m Message) (data []byte, messageID string, err error) {
	var h mail.Header
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	h.SetDate(date)
	h.SetAddressList("From", []*mail.Address{{Name: m.FromName, Address: m.From}})
	to := make([]*mail.Address, len(m.To))
	for i, a := range m.To {
		to[i] = &mail.Address{Address: a}
	}
	h.SetAddressList("To", to)
	h.SetSubject(m.Subject)
	host := m.IDHost
	if host == "" {
		host = m.From[strings.LastIndexByte(m.From, '@')+1:]
	}
	if err := h.GenerateMessageIDWithHostname(host); err != nil {
		return nil, "", err
	}
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	var buf bytes.Buffer
	w, err := mail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return nil, "", err
	}
	if _, err := io.WriteString(w, m.Body+"\n"); err != nil {
		return nil, "", err
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	id, err := h.MessageID()
	return buf.Bytes(), id, err
}
