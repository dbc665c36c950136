package graphxtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// serveSendMail takes a MIME message, base64 with Content-Type text/plain
// (https://learn.microsoft.com/en-us/graph/api/user-sendmail).
func (s *Server) serveSendMail(w http.ResponseWriter, r *http.Request, c call) {
	raw, ok := s.readMIME(w, r)
	if !ok {
		return
	}
	h, ok := readHeader(w, raw)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.mailboxLocked(c.mailbox)
	if !s.sendableLocked(w, mb, h) {
		return
	}
	s.sendLocked(mb, h, raw, RouteSendMail, nil)
	w.WriteHeader(http.StatusAccepted)
}

// readMIME reads a base64 MIME body; it answers the errors itself.
func (s *Server) readMIME(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "text/plain" {
		writeError(w, http.StatusBadRequest, "ErrorInvalidRequest", "graphxtest takes MIME messages only (Content-Type: text/plain).")
		return nil, false
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return nil, false
	}
	raw, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(body)))
	if err != nil || len(raw) == 0 {
		writeError(w, http.StatusBadRequest, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
		return nil, false
	}
	return raw, true
}

// mimeHeader is what the server reads from a message's header.
type mimeHeader struct {
	block      []byte // the header block, blank line included
	recipients []string
	from       string
	boundary   string // of a multipart/mixed message
}

// readHeader parses a message's header; it answers 400 itself.
func readHeader(w http.ResponseWriter, raw []byte) (*mimeHeader, bool) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		writeError(w, http.StatusBadRequest, "ErrorMimeContentInvalid", "The MIME content is not valid: "+err.Error())
		return nil, false
	}
	end := headerLen(raw)
	h := &mimeHeader{block: raw[:end:end]}
	for _, f := range []string{"To", "Cc", "Bcc"} {
		for _, v := range m.Header[f] {
			if strings.TrimSpace(v) == "" {
				continue
			}
			list, err := mail.ParseAddressList(v)
			if err != nil {
				writeError(w, http.StatusBadRequest, "ErrorInvalidRecipients", "At least one recipient is not valid.")
				return nil, false
			}
			for _, a := range list {
				if addr := lower(a.Address); !slices.Contains(h.recipients, addr) {
					h.recipients = append(h.recipients, addr)
				}
			}
		}
	}
	if from, err := m.Header.AddressList("From"); err == nil && len(from) > 0 {
		h.from = lower(from[0].Address)
	}
	if mt, ps, err := mime.ParseMediaType(m.Header.Get("Content-Type")); err == nil && mt == "multipart/mixed" {
		h.boundary = ps["boundary"]
	}
	return h, true
}

// headerLen returns the length of raw's header block, the blank line that
// ends it included (all of raw when there is none).
func headerLen(raw []byte) int {
	if bytes.HasPrefix(raw, []byte("\r\n")) {
		return 2
	}
	if bytes.HasPrefix(raw, []byte("\n")) {
		return 1
	}
	for i := range raw {
		if raw[i] != '\n' {
			continue
		}
		if bytes.HasPrefix(raw[i+1:], []byte("\r\n")) {
			return i + 3
		}
		if bytes.HasPrefix(raw[i+1:], []byte("\n")) {
			return i + 2
		}
	}
	return len(raw)
}

// sendableLocked answers the refusals of a message that cannot be sent.
func (s *Server) sendableLocked(w http.ResponseWriter, mb *mailbox, h *mimeHeader) bool {
	if len(h.recipients) == 0 {
		writeError(w, http.StatusBadRequest, "ErrorInvalidRecipients", "At least one recipient is not valid., A message can't be sent because it contains no recipients.")
		return false
	}
	if h.from != "" && h.from != mb.address && !mb.sendAs[h.from] {
		writeError(w, http.StatusForbidden, "ErrorSendAsDenied", "The user account which was used to submit this request does not have the right to send mail on behalf of the specified sending account. Cannot submit message.")
		return false
	}
	return true
}

// bccField matches a Bcc field with its folded lines.
var bccField = regexp.MustCompile(`(?im)^bcc:.*(\r?\n[ \t].*)*\r?\n`)

// sendLocked records a sent message, saves it to Sent Items and delivers
// it to each recipient, without its Bcc field.
func (s *Server) sendLocked(mb *mailbox, h *mimeHeader, raw []byte, via Route, atts []Attachment) {
	seen := bccField.ReplaceAll(h.block, nil)
	full := raw
	if len(atts) > 0 {
		full = assemble(raw, h.boundary, atts)
	}
	sent := Sent{Mailbox: mb.address, From: h.from, Recipients: h.recipients, Via: via, Size: int64(len(raw)), Sum: sum(raw), Attachments: atts}
	if !s.noBodies {
		sent.MIME = raw
	}
	stored := full
	if s.noBodies {
		stored = nil
	}
	sent.ID = s.newMessageLocked(mb, mb.folders[mb.wellKnown["sentitems"]], stored).ID
	s.sent = append(s.sent, sent)
	for _, rcpt := range h.recipients {
		s.deliveries = append(s.deliveries, Delivery{Recipient: rcpt, Sent: len(s.sent) - 1, Header: seen})
		if local := s.mailboxes[rcpt]; local != nil && full != nil && !s.noBodies {
			copyMIME := append(append([]byte(nil), seen...), full[len(h.block):]...)
			s.newMessageLocked(local, local.folders[local.wellKnown["inbox"]], copyMIME)
		}
	}
}

// assemble adds attachments to a multipart/mixed draft as the last parts,
// as the sent message carries them; attachments without data (NoBodies)
// are left out.
func assemble(raw []byte, boundary string, atts []Attachment) []byte {
	if boundary == "" {
		return raw
	}
	closing := []byte("--" + boundary + "--")
	i := bytes.LastIndex(raw, closing)
	if i < 0 {
		return raw
	}
	var b bytes.Buffer
	b.Write(raw[:i])
	for _, a := range atts {
		if a.Data == nil && a.Size > 0 {
			continue
		}
		fmt.Fprintf(&b, "--%s\r\nContent-Type: %s; name=%q\r\nContent-Disposition: attachment; filename=%q\r\nContent-Transfer-Encoding: base64\r\n",
			boundary, a.ContentType, a.Name, a.Name)
		if a.ContentID != "" {
			fmt.Fprintf(&b, "Content-ID: <%s>\r\n", a.ContentID)
		}
		b.WriteString("\r\n")
		enc := base64.StdEncoding.EncodeToString(a.Data)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	b.Write(raw[i:])
	return b.Bytes()
}

// serveCreateDraft takes a MIME draft
// (https://learn.microsoft.com/en-us/graph/api/user-post-messages).
func (s *Server) serveCreateDraft(w http.ResponseWriter, r *http.Request, c call) {
	raw, ok := s.readMIME(w, r)
	if !ok {
		return
	}
	if _, ok := readHeader(w, raw); !ok {
		return
	}
	s.mu.Lock()
	mb := s.mailboxLocked(c.mailbox)
	m := s.newMessageLocked(mb, mb.folders[mb.wellKnown["drafts"]], raw)
	m.Draft = true
	js := messageJSON(m)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, js)
}

// draftLocked returns the draft of the request, or answers 404.
func (s *Server) draftLocked(w http.ResponseWriter, c call) (*mailbox, *message) {
	mb := s.mailboxLocked(c.mailbox)
	m := mb.messages[c.message]
	if m == nil || !m.Draft {
		writeError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return nil, nil
	}
	return mb, m
}

// serveAttachment adds a fileAttachment to a draft
// (https://learn.microsoft.com/en-us/graph/api/message-post-attachments).
func (s *Server) serveAttachment(w http.ResponseWriter, r *http.Request, c call) {
	var in struct {
		Type         string `json:"@odata.type"`
		Name         string `json:"name"`
		ContentType  string `json:"contentType"`
		IsInline     bool   `json:"isInline"`
		ContentID    string `json:"contentId"`
		ContentBytes []byte `json:"contentBytes"`
	}
	const bad = "A fileAttachment with a name and contentBytes is expected."
	if !s.readJSON(w, r, &in, bad) {
		return
	}
	if in.Type != "#microsoft.graph.fileAttachment" || in.Name == "" {
		writeError(w, http.StatusBadRequest, "ErrorInvalidRequest", bad)
		return
	}
	a := Attachment{Name: in.Name, ContentType: in.ContentType, ContentID: in.ContentID, Inline: in.IsInline,
		Size: int64(len(in.ContentBytes)), Sum: sum(in.ContentBytes)}
	if !s.noBodies {
		a.Data = in.ContentBytes
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, m := s.draftLocked(w, c)
	if m == nil {
		return
	}
	m.attachments = append(m.attachments, a)
	writeJSON(w, http.StatusCreated, map[string]any{"id": s.newIDLocked("AAMkAtt"), "name": a.Name, "size": a.Size})
}

// uploadSession is an attachment being uploaded.
type uploadSession struct {
	id, token string
	mailbox   string
	message   string
	att       Attachment

	mu       sync.Mutex // guards the fields below; held while a range is read
	received int64
	hash     hash.Hash
	data     []byte
	broken   bool // a range was cut short: the session takes no more
}

// serveUploadSession opens an upload session for an attachment of a
// draft (https://learn.microsoft.com/en-us/graph/api/attachment-createuploadsession).
func (s *Server) serveUploadSession(w http.ResponseWriter, r *http.Request, c call) {
	var in struct {
		Item struct {
			AttachmentType string `json:"attachmentType"`
			Name           string `json:"name"`
			Size           int64  `json:"size"`
			ContentType    string `json:"contentType"`
			IsInline       bool   `json:"isInline"`
			ContentID      string `json:"contentId"`
		} `json:"AttachmentItem"`
	}
	const bad = "An AttachmentItem of type file with a name and a size is expected."
	if !s.readJSON(w, r, &in, bad) {
		return
	}
	if in.Item.AttachmentType != "file" || in.Item.Name == "" {
		writeError(w, http.StatusBadRequest, "ErrorInvalidRequest", bad)
		return
	}
	switch {
	case in.Item.Size < UploadMinimum:
		writeError(w, http.StatusBadRequest, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize", "The attachment size is less than the minimum size of an upload session.")
		return
	case in.Item.Size > MaxAttachment:
		writeError(w, http.StatusBadRequest, "ErrorMessageSizeExceeded", "The message exceeds the maximum supported size.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, m := s.draftLocked(w, c)
	if m == nil {
		return
	}
	us := &uploadSession{
		id: s.newIDLocked("Sess"), token: s.newIDLocked("tok"), mailbox: c.mailbox, message: m.ID,
		att:  Attachment{Name: in.Item.Name, ContentType: in.Item.ContentType, ContentID: in.Item.ContentID, Inline: in.Item.IsInline, Size: in.Item.Size, Uploaded: true},
		hash: sha256.New(),
	}
	s.sessions[us.id] = us
	writeJSON(w, http.StatusCreated, map[string]any{
		"uploadUrl":          s.ts.URL + "/upload/" + us.id + "?authtoken=" + us.token,
		"expirationDateTime": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		"nextExpectedRanges": []string{"0-"},
	})
}

// contentRange reads "bytes a-b/total".
var contentRange = regexp.MustCompile(`^bytes (\d+)-(\d+)/(\d+)$`)

// serveUpload takes one byte range of an upload session. The URL is
// pre-authenticated: a request with an Authorization header is refused
// as Outlook refuses a Graph token.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request, c call) {
	f := s.takeFault(c, r)
	if s.preFault(w, f) {
		return
	}
	if r.Header.Get("Authorization") != "" {
		s.count(func(st *Stats) { st.UploadsWithToken++ })
		writeError(w, http.StatusUnauthorized, "InvalidAudienceForResource", "The audience claim value is invalid for current resource.")
		return
	}
	s.mu.Lock()
	us := s.sessions[c.session]
	s.mu.Unlock()
	if us == nil || r.URL.Query().Get("authtoken") != us.token {
		writeError(w, http.StatusNotFound, "ErrorItemNotFound", "The upload session was not found.")
		return
	}
	m := contentRange.FindStringSubmatch(r.Header.Get("Content-Range"))
	if m == nil {
		writeError(w, http.StatusBadRequest, "InvalidContentRange", "Content-Range bytes {start}-{end}/{total} is expected.")
		return
	}
	start, _ := strconv.ParseInt(m[1], 10, 64)
	end, _ := strconv.ParseInt(m[2], 10, 64)
	total, _ := strconv.ParseInt(m[3], 10, 64)
	n := end - start + 1
	us.mu.Lock()
	defer us.mu.Unlock()
	switch {
	case us.broken:
		writeError(w, http.StatusBadRequest, "ErrorUploadSessionBroken", "A range of this session was cut short.")
		return
	case total != us.att.Size || start != us.received || n <= 0 || end >= total:
		writeError(w, http.StatusRequestedRangeNotSatisfiable, "InvalidRange", fmt.Sprintf("The range %d-%d/%d does not follow %d of %d.", start, end, total, us.received, us.att.Size))
		return
	case n > MaxRange || r.ContentLength != n:
		writeError(w, http.StatusBadRequest, "InvalidRange", fmt.Sprintf("A range holds at most %d bytes and matches Content-Length.", MaxRange))
		return
	}
	sink := io.Writer(us.hash)
	var data bytes.Buffer
	if !s.noBodies {
		sink = io.MultiWriter(us.hash, &data)
	}
	got, err := io.Copy(sink, io.LimitReader(r.Body, n))
	if err != nil || got != n {
		us.broken = true
		panic(http.ErrAbortHandler)
	}
	us.data = append(us.data, data.Bytes()...)
	us.received += n
	out := w
	if f == LoseAnswer {
		out = &recorder{header: http.Header{}}
	}
	if us.received < us.att.Size {
		writeJSON(out, http.StatusOK, map[string]any{
			"expirationDateTime": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
			"nextExpectedRanges": []string{strconv.FormatInt(us.received, 10) + "-"},
		})
	} else {
		s.finishUpload(out, us)
	}
	if f == LoseAnswer {
		s.count(func(st *Stats) { st.LostAnswers++ })
		panic(http.ErrAbortHandler)
	}
}

// finishUpload adds a complete upload to its draft.
func (s *Server) finishUpload(w http.ResponseWriter, us *uploadSession) {
	a := us.att
	copy(a.Sum[:], us.hash.Sum(nil))
	a.Data = us.data
	s.mu.Lock()
	delete(s.sessions, us.id)
	mb := s.mailboxLocked(us.mailbox)
	m := mb.messages[us.message]
	if m == nil || !m.Draft {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "ErrorItemNotFound", "The draft of the upload session is gone.")
		return
	}
	m.attachments = append(m.attachments, a)
	attID := s.newIDLocked("AAMkAtt")
	s.mu.Unlock()
	w.Header().Set("Location", s.ts.URL+"/v1.0/users/"+us.mailbox+"/messages/"+us.message+"/attachments/"+attID)
	w.WriteHeader(http.StatusCreated)
}

// serveSend sends a draft (https://learn.microsoft.com/en-us/graph/api/message-send).
func (s *Server) serveSend(w http.ResponseWriter, r *http.Request, c call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, m := s.draftLocked(w, c)
	if m == nil {
		return
	}
	h, ok := readHeader(w, m.MIME)
	if !ok || !s.sendableLocked(w, mb, h) {
		return
	}
	mb.removeLocked(m)
	s.sendLocked(mb, h, m.MIME, RouteSend, m.attachments)
	w.WriteHeader(http.StatusAccepted)
}
