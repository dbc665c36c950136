package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Length limits of RFC 5321 §4.5.3.1.
const (
	maxLocalPart = 64
	maxDomain    = 255
	maxPath      = 256 // including the angle brackets
)

// ErrInvalidAddress is wrapped by the error for an envelope address that is
// not a valid RFC 5321 mailbox or holds CR, LF or NUL. Senders return it
// before any connection is made.
var ErrInvalidAddress = errors.New("invalid envelope address")

// Envelope is who a message goes from and to, apart from its header: the
// reverse path and the recipients (SMTP's MAIL FROM and RCPT TO). The
// message's own From, To and Cc header fields are not read: Bcc recipients
// appear only here.
type Envelope struct {
	From string   // zero: the mailbox's address
	To   []string // at least one
}

// Sender sends messages for one mailbox: smtpx.Sender over SMTP, and any
// other transport that delivers a MIME message to an envelope's
// recipients. A nil error means the server accepted the message for every
// recipient, not that it was delivered.
type Sender interface {
	Send(ctx context.Context, env Envelope, msg io.Reader) error
}

// Validate checks every address of the envelope; its errors wrap
// ErrInvalidAddress.
func (env *Envelope) Validate() error {
	if err := CheckAddress("sender", env.From); err != nil {
		return err
	}
	if len(env.To) == 0 {
		return fmt.Errorf("no recipients: %w", ErrInvalidAddress)
	}
	for _, to := range env.To {
		if err := CheckAddress("recipient", to); err != nil {
			return err
		}
	}
	return nil
}

// CheckAddress reports why addr is not a valid RFC 5321 Mailbox
// (Local-part "@" Domain, with the UTF-8 of RFC 6531 allowed); role names
// it in the error ("sender", "recipient"). The error wraps
// ErrInvalidAddress and quotes addr with Go escapes, so a CR or LF in it
// cannot forge a log line.
func CheckAddress(role, addr string) error {
	if why := mailboxProblem(addr); why != "" {
		return fmt.Errorf("%s %q: %s: %w", role, addr, why, ErrInvalidAddress)
	}
	return nil
}

// mailboxProblem returns what is wrong with addr, or "".
func mailboxProblem(addr string) string {
	if addr == "" {
		return "empty address"
	}
	if strings.ContainsAny(addr, "\r\n\x00") {
		return "contains CR, LF or NUL"
	}
	if !utf8.ValidString(addr) {
		return "not UTF-8"
	}
	if len(addr)+2 > maxPath {
		return fmt.Sprintf("longer than %d octets", maxPath-2)
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return `no "@"`
	}
	local, domain := addr[:at], addr[at+1:]
	if why := localPartProblem(local); why != "" {
		return why
	}
	return domainProblem(domain)
}

func localPartProblem(local string) string {
	switch {
	case local == "":
		return "empty local part"
	case len(local) > maxLocalPart:
		return fmt.Sprintf("local part longer than %d octets", maxLocalPart)
	case local[0] == '"':
		return quotedStringProblem(local)
	}
	for _, atom := range strings.Split(local, ".") {
		if atom == "" {
			return "empty atom in the local part (leading, trailing or double dot)"
		}
		for _, r := range atom {
			if !isAtext(r) {
				return fmt.Sprintf("character %q not allowed in an unquoted local part", r)
			}
		}
	}
	return ""
}

// quotedStringProblem checks a Quoted-string local part (RFC 5321 §4.1.2).
func quotedStringProblem(s string) string {
	if len(s) < 2 || s[len(s)-1] != '"' {
		return "unterminated quoted local part"
	}
	body := s[1 : len(s)-1]
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '\\':
			if i+1 >= len(body) || body[i+1] < ' ' || body[i+1] > '~' {
				return "bad quoted pair in the local part"
			}
			i++
		case c == '"':
			return "unescaped quote in the local part"
		case c < ' ' || c == 0x7f:
			return "control character in the local part"
		}
	}
	return ""
}

func domainProblem(domain string) string {
	switch {
	case domain == "":
		return "empty domain"
	case len(domain) > maxDomain:
		return fmt.Sprintf("domain longer than %d octets", maxDomain)
	case domain[0] == '[':
		if domain[len(domain)-1] != ']' || len(domain) < 3 {
			return "bad address literal"
		}
		for _, c := range []byte(domain[1 : len(domain)-1]) {
			if c < '!' || c > '~' || c == '[' || c == ']' || c == '\\' {
				return "bad character in the address literal"
			}
		}
		return ""
	}
	for _, label := range strings.Split(domain, ".") {
		if label == "" {
			return "empty label in the domain"
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "domain label starts or ends with '-'"
		}
		for _, r := range label {
			if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= utf8.RuneSelf) {
				return fmt.Sprintf("character %q not allowed in a domain", r)
			}
		}
	}
	return ""
}

// isAtext reports an RFC 5322 atext character, or any non-ASCII character
// (RFC 6531).
func isAtext(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r >= utf8.RuneSelf:
		return true
	}
	return strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
}
