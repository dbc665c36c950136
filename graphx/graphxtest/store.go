package graphxtest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
)

// ErrNotFound is returned by the setup methods for a mailbox, folder or
// message that does not exist.
var ErrNotFound = errors.New("graphxtest: not found")

// Message is a message in a mailbox's folder.
type Message struct {
	ID       string // immutable: it survives moves
	Folder   string // the folder's id
	IsRead   bool
	MIME     []byte // nil for a sent message with Options.NoBodies
	Received time.Time
	Subject  string
	From     string
	// InternetMessageID is the Message-ID field's value.
	InternetMessageID string
	Draft             bool
}

// Attachment is an attachment added to a draft.
type Attachment struct {
	Name        string
	ContentType string
	ContentID   string
	Inline      bool
	Size        int64
	Sum         [32]byte // SHA-256 of the content
	Data        []byte   // nil with Options.NoBodies
	Uploaded    bool     // it came through an upload session
}

// Sent is a message the server accepted for sending.
type Sent struct {
	Mailbox    string   // the mailbox in the request's path, lower case
	From       string   // the From address, lower case; empty when none
	Recipients []string // To, Cc and Bcc addresses, lower case, each once
	Via        Route    // RouteSendMail, or RouteSend for a draft
	// MIME is the message as submitted, the draft's for RouteSend (the
	// attachments are apart); nil with Options.NoBodies.
	MIME        []byte
	Size        int64
	Sum         [32]byte // SHA-256 of the MIME as submitted
	Attachments []Attachment
	ID          string // the message's id in the mailbox's Sent Items
}

// Delivery is what one recipient of a sent message receives. The server
// takes Exchange to remove the Bcc field from every copy (RFC 5322
// §3.6.3's first way); Microsoft does not document what it does.
type Delivery struct {
	Recipient string // lower case
	Sent      int    // index into Sent()
	// Header is the header block the recipient sees, blank line included.
	Header []byte
}

// Folder names of the mailbox's well-known folders, as Graph names them
// (https://learn.microsoft.com/en-us/graph/api/resources/mailfolder).
var wellKnown = []struct{ name, display string }{
	{"msgfolderroot", "Top of Information Store"},
	{"inbox", "Inbox"}, {"drafts", "Drafts"}, {"sentitems", "Sent Items"},
	{"deleteditems", "Deleted Items"}, {"archive", "Archive"},
	{"junkemail", "Junk Email"}, {"outbox", "Outbox"},
}

type mailbox struct {
	address   string
	folders   map[string]*folder // by id
	wellKnown map[string]string  // well-known name -> id
	messages  map[string]*message
	sendAs    map[string]bool // From addresses the mailbox may send as
	seq       int64           // changes so far
}

type folder struct {
	id, name, parent string
	removed          []removal // messages that left, in order
}

type removal struct {
	seq int64
	id  string
}

type message struct {
	Message
	arrived     int64 // the change that put it in its folder
	attachments []Attachment
}

// mailboxLocked returns the mailbox of address, made on first use.
func (s *Server) mailboxLocked(address string) *mailbox {
	key := lower(address)
	if mb := s.mailboxes[key]; mb != nil {
		return mb
	}
	mb := &mailbox{address: key, folders: map[string]*folder{}, wellKnown: map[string]string{}, messages: map[string]*message{}, sendAs: map[string]bool{}}
	for _, w := range wellKnown {
		f := &folder{id: s.newIDLocked("AQMk"), name: w.display}
		if w.name != "msgfolderroot" {
			f.parent = mb.wellKnown["msgfolderroot"]
		}
		mb.folders[f.id] = f
		mb.wellKnown[w.name] = f.id
	}
	s.mailboxes[key] = mb
	return mb
}

// newIDLocked returns a new id that looks like Graph's: URL-safe base64,
// case-sensitive, ending in "=".
func (s *Server) newIDLocked(prefix string) string {
	s.nextID++
	b := make([]byte, 18)
	rand.Read(b)
	return fmt.Sprintf("%s%s%d=", prefix, base64.RawURLEncoding.EncodeToString(b), s.nextID)
}

// AddMailbox creates the mailbox of address with its well-known folders,
// unless it exists. Requests for a mailbox the server does not know
// create it too.
func (s *Server) AddMailbox(address string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mailboxLocked(address)
}

// AllowSendAs lets mailbox send messages whose From is from (Send As or
// Send on Behalf in Exchange); without it such a message gets 403
// ErrorSendAsDenied.
func (s *Server) AllowSendAs(mailbox, from string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mailboxLocked(mailbox).sendAs[lower(from)] = true
}

// folderLocked finds a folder by id, well-known name or display path
// ("Inbox/Tickets").
func (mb *mailbox) folderLocked(name string) *folder {
	if f := mb.folders[name]; f != nil {
		return f
	}
	if id, ok := mb.wellKnown[lower(name)]; ok {
		return mb.folders[id]
	}
	parent := mb.wellKnown["msgfolderroot"]
	var f *folder
	for i, seg := range strings.Split(strings.Trim(name, "/"), "/") {
		if id, ok := mb.wellKnown[lower(seg)]; i == 0 && ok {
			f = mb.folders[id]
			parent = id
			continue
		}
		f = mb.childLocked(parent, seg)
		if f == nil {
			return nil
		}
		parent = f.id
	}
	return f
}

func (mb *mailbox) childLocked(parent, name string) *folder {
	for _, f := range mb.folders {
		if f.parent == parent && strings.EqualFold(f.name, name) {
			return f
		}
	}
	return nil
}

// CreateFolder creates a folder named name under parent (a well-known
// name, a path, or "" for the top of the mailbox) and returns its id.
func (s *Server) CreateFolder(address, parent, name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.mailboxLocked(address)
	pid := mb.wellKnown["msgfolderroot"]
	if parent != "" {
		p := mb.folderLocked(parent)
		if p == nil {
			return "", fmt.Errorf("folder %q: %w", parent, ErrNotFound)
		}
		pid = p.id
	}
	if mb.childLocked(pid, name) != nil {
		return "", fmt.Errorf("graphxtest: folder %q exists", name)
	}
	f := &folder{id: s.newIDLocked("AQMk"), name: name, parent: pid}
	mb.folders[f.id] = f
	return f.id, nil
}

// FolderID returns the id of a folder (well-known name or path).
func (s *Server) FolderID(address, name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.mailboxLocked(address).folderLocked(name)
	if f == nil {
		return "", fmt.Errorf("folder %q: %w", name, ErrNotFound)
	}
	return f.id, nil
}

// Deliver puts msg in a folder of the mailbox (a well-known name, a path
// or an id), as mail arriving, and returns its id.
func (s *Server) Deliver(address, folderName string, msg []byte) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.mailboxLocked(address)
	f := mb.folderLocked(folderName)
	if f == nil {
		return "", fmt.Errorf("folder %q: %w", folderName, ErrNotFound)
	}
	m := s.newMessageLocked(mb, f, msg)
	return m.ID, nil
}

// newMessageLocked stores a message in f.
func (s *Server) newMessageLocked(mb *mailbox, f *folder, mime []byte) *message {
	m := &message{Message: Message{ID: s.newIDLocked("AAkALg"), MIME: mime, Received: time.Now().UTC()}}
	if hm, err := mail.ReadMessage(bytes.NewReader(mime)); err == nil {
		m.Subject = hm.Header.Get("Subject")
		m.InternetMessageID = hm.Header.Get("Message-Id")
		if from, err := hm.Header.AddressList("From"); err == nil && len(from) > 0 {
			m.From = lower(from[0].Address)
		}
	}
	mb.messages[m.ID] = m
	mb.putLocked(m, f)
	return m
}

// putLocked moves m into f as a change of the mailbox.
func (mb *mailbox) putLocked(m *message, f *folder) {
	mb.seq++
	if old := mb.folders[m.Folder]; old != nil && m.Folder != f.id {
		old.removed = append(old.removed, removal{seq: mb.seq, id: m.ID})
	}
	m.Folder = f.id
	m.arrived = mb.seq
}

// removeLocked deletes m.
func (mb *mailbox) removeLocked(m *message) {
	mb.seq++
	if f := mb.folders[m.Folder]; f != nil {
		f.removed = append(f.removed, removal{seq: mb.seq, id: m.ID})
	}
	delete(mb.messages, m.ID)
}

// inFolderLocked returns f's messages in the order they arrived there.
func (mb *mailbox) inFolderLocked(f *folder) []*message {
	var ms []*message
	for _, m := range mb.messages {
		if m.Folder == f.id {
			ms = append(ms, m)
		}
	}
	slices.SortFunc(ms, func(a, b *message) int { return int(a.arrived - b.arrived) })
	return ms
}

// Messages returns copies of the messages in a folder of the mailbox, in
// the order they arrived there.
func (s *Server) Messages(address, folderName string) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.mailboxLocked(address)
	f := mb.folderLocked(folderName)
	if f == nil {
		return nil, fmt.Errorf("folder %q: %w", folderName, ErrNotFound)
	}
	var out []Message
	for _, m := range mb.inFolderLocked(f) {
		c := m.Message
		c.MIME = append([]byte(nil), m.MIME...)
		out = append(out, c)
	}
	return out, nil
}

// Sent returns copies of the messages accepted for sending, in order.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Sent, len(s.sent))
	for i, m := range s.sent {
		m.Recipients = slices.Clone(m.Recipients)
		m.Attachments = slices.Clone(m.Attachments)
		out[i] = m
	}
	return out
}

// Deliveries returns what recipient received (any recipient when it is
// empty), in order.
func (s *Server) Deliveries(recipient string) []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Delivery
	for _, d := range s.deliveries {
		if recipient == "" || d.Recipient == lower(recipient) {
			out = append(out, d)
		}
	}
	return out
}

// sum is SHA-256.
func sum(b []byte) [32]byte { return sha256.Sum256(b) }
