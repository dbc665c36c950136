package graphxtest

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// messageJSON is the message resource as the handlers return it.
func messageJSON(m *message) map[string]any {
	js := map[string]any{
		"id":               m.ID,
		"subject":          m.Subject,
		"receivedDateTime": m.Received.Format(time.RFC3339),
		"isRead":           m.IsRead,
		"isDraft":          m.Draft,
		"parentFolderId":   m.Folder,
	}
	if m.InternetMessageID != "" {
		js["internetMessageId"] = m.InternetMessageID
	}
	if m.From != "" {
		js["from"] = map[string]any{"emailAddress": map[string]string{"address": m.From}}
	}
	return js
}

// messageLocked returns the message of the request, or answers 404.
func (s *Server) messageLocked(w http.ResponseWriter, c call) (*mailbox, *message) {
	mb := s.mailboxLocked(c.mailbox)
	m := mb.messages[c.message]
	if m == nil {
		writeError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
	}
	return mb, m
}

// serveMessage answers GET /messages/{id}.
func (s *Server) serveMessage(w http.ResponseWriter, _ *http.Request, c call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, m := s.messageLocked(w, c); m != nil {
		writeJSON(w, http.StatusOK, messageJSON(m))
	}
}

// serveValue answers a message's MIME
// (https://learn.microsoft.com/en-us/graph/outlook-get-mime-message).
func (s *Server) serveValue(w http.ResponseWriter, _ *http.Request, c call) {
	s.mu.Lock()
	_, m := s.messageLocked(w, c)
	var mime []byte
	if m != nil {
		mime = m.MIME
	}
	s.mu.Unlock()
	if m == nil {
		return
	}
	if mime == nil {
		writeError(w, http.StatusNotFound, "ErrorItemNotFound", "graphxtest kept no body of this message (Options.NoBodies).")
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(mime)))
	w.WriteHeader(http.StatusOK)
	w.Write(mime)
}

// serveUpdate answers PATCH /messages/{id}: isRead only.
func (s *Server) serveUpdate(w http.ResponseWriter, r *http.Request, c call) {
	var in struct {
		IsRead *bool `json:"isRead"`
	}
	if !s.readJSON(w, r, &in, "The request body is not JSON.") {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, m := s.messageLocked(w, c)
	if m == nil {
		return
	}
	if in.IsRead != nil && m.IsRead != *in.IsRead {
		m.IsRead = *in.IsRead
		mb.seq++
	}
	writeJSON(w, http.StatusOK, messageJSON(m))
}

// serveMove answers POST /messages/{id}/move; the id stays the same, as
// an immutable id does.
func (s *Server) serveMove(w http.ResponseWriter, r *http.Request, c call) {
	var in struct {
		DestinationID string `json:"destinationId"`
	}
	const bad = "A destinationId is expected."
	if !s.readJSON(w, r, &in, bad) {
		return
	}
	if in.DestinationID == "" {
		writeError(w, http.StatusBadRequest, "ErrorInvalidRequest", bad)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, m := s.messageLocked(w, c)
	if m == nil {
		return
	}
	dest := mb.folders[in.DestinationID]
	if id, ok := mb.wellKnown[lower(in.DestinationID)]; dest == nil && ok {
		dest = mb.folders[id]
	}
	if dest == nil {
		writeError(w, http.StatusNotFound, "ErrorItemNotFound", "The destination folder was not found.")
		return
	}
	if m.Folder != dest.id {
		mb.putLocked(m, dest)
	}
	writeJSON(w, http.StatusCreated, messageJSON(m))
}

// serveDelete answers DELETE /messages/{id}.
func (s *Server) serveDelete(w http.ResponseWriter, _ *http.Request, c call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, m := s.messageLocked(w, c)
	if m == nil {
		return
	}
	mb.removeLocked(m)
	w.WriteHeader(http.StatusNoContent)
}

// folderFilter reads the one $filter the server knows.
var folderFilter = regexp.MustCompile(`^displayName eq '((?:[^']|'')*)'$`)

// serveFolders answers GET /mailFolders (the top level),
// /mailFolders/{id} and /mailFolders/{id}/childFolders, with $filter on
// displayName.
func (s *Server) serveFolders(w http.ResponseWriter, r *http.Request, c call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.mailboxLocked(c.mailbox)
	parent := mb.folders[mb.wellKnown["msgfolderroot"]]
	if c.folder != "" {
		parent = mb.folders[c.folder]
		if id, ok := mb.wellKnown[lower(c.folder)]; parent == nil && ok {
			parent = mb.folders[id]
		}
		if parent == nil {
			writeError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified folder was not found in the store.")
			return
		}
		if !c.child {
			writeJSON(w, http.StatusOK, folderJSON(parent))
			return
		}
	}
	name, filtered := "", false
	if f := r.URL.Query().Get("$filter"); f != "" {
		m := folderFilter.FindStringSubmatch(f)
		if m == nil {
			writeError(w, http.StatusBadRequest, "ErrorInvalidUrlQueryFilter", "graphxtest filters on displayName eq '...' only.")
			return
		}
		name, filtered = strings.ReplaceAll(m[1], "''", "'"), true
	}
	list := []map[string]any{}
	for _, f := range mb.folders {
		if f.parent == parent.id && (!filtered || strings.EqualFold(f.name, name)) {
			list = append(list, folderJSON(f))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": list})
}

func folderJSON(f *folder) map[string]any {
	return map[string]any{"id": f.id, "displayName": f.name, "parentFolderId": f.parent}
}

// deltaState is what a delta link stands for.
type deltaState struct {
	mailbox, folder string // folder: its id
	createdOnly     bool
	// snapshot is the mailbox's change count when the round started: the
	// next round lists what changed after it.
	snapshot int64
	pending  []deltaItem // what is left to list in this round
}

type deltaItem struct {
	id      string
	removed bool
}

// serveDelta answers a folder's delta query
// (https://learn.microsoft.com/en-us/graph/api/message-delta): a full sync
// without a token, the rest of a round with $skiptoken, the changes since
// a round with $deltatoken; 410 Gone for a token it does not know.
func (s *Server) serveDelta(w http.ResponseWriter, r *http.Request, c call) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.mailboxLocked(c.mailbox)
	f := mb.folders[c.folder]
	if id, ok := mb.wellKnown[lower(c.folder)]; f == nil && ok {
		f = mb.folders[id]
	}
	if f == nil {
		writeError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified folder was not found in the store.")
		return
	}
	var st *deltaState
	switch {
	case q.Has("$skiptoken"):
		st = s.deltas[q.Get("$skiptoken")]
	case q.Has("$deltatoken") && q.Get("$deltatoken") != "":
		prev := s.deltas[q.Get("$deltatoken")]
		if prev != nil {
			st = &deltaState{mailbox: mb.address, folder: f.id, createdOnly: prev.createdOnly, snapshot: mb.seq}
			st.pending = changesSince(mb, f, prev.snapshot, prev.createdOnly)
		}
	default:
		st = &deltaState{mailbox: mb.address, folder: f.id, createdOnly: q.Get("changeType") == "created", snapshot: mb.seq}
		for _, m := range mb.inFolderLocked(f) {
			st.pending = append(st.pending, deltaItem{id: m.ID})
		}
	}
	if st == nil || st.mailbox != mb.address || st.folder != f.id {
		s.stats.Gone++
		s.writeGone(w, r.URL.EscapedPath())
		return
	}
	n := min(pageSizeOf(r), len(st.pending))
	page, rest := st.pending[:n], st.pending[n:]
	items := []map[string]any{}
	for _, it := range page {
		if it.removed {
			items = append(items, map[string]any{"id": it.id, "@removed": map[string]string{"reason": "deleted"}})
		} else if m := mb.messages[it.id]; m != nil {
			items = append(items, messageJSON(m))
		}
	}
	out := map[string]any{"value": items}
	next := &deltaState{mailbox: st.mailbox, folder: st.folder, createdOnly: st.createdOnly, snapshot: st.snapshot, pending: rest}
	tok := s.newIDLocked("dt")
	s.deltas[tok] = next
	if len(rest) > 0 {
		out["@odata.nextLink"] = s.deltaURL(mb, f, "$skiptoken", tok)
	} else {
		next.pending = nil
		out["@odata.deltaLink"] = s.deltaURL(mb, f, "$deltatoken", tok)
	}
	writeJSON(w, http.StatusOK, out)
}

// changesSince lists f's changes after the change count since.
func changesSince(mb *mailbox, f *folder, since int64, createdOnly bool) []deltaItem {
	var items []deltaItem
	present := map[string]bool{}
	for _, m := range mb.inFolderLocked(f) {
		present[m.ID] = true
		if m.arrived > since {
			items = append(items, deltaItem{id: m.ID})
		}
	}
	if !createdOnly {
		for _, rm := range f.removed {
			if rm.seq > since && !present[rm.id] {
				items = append(items, deltaItem{id: rm.id, removed: true})
				present[rm.id] = true
			}
		}
	}
	return items
}

func (s *Server) deltaURL(mb *mailbox, f *folder, param, tok string) string {
	return s.ts.URL + "/v1.0/users/" + url.PathEscape(mb.address) + "/mailFolders/" + url.PathEscape(f.id) +
		"/messages/delta?" + param + "=" + url.QueryEscape(tok)
}

// pageSizeOf reads Prefer: odata.maxpagesize.
func pageSizeOf(r *http.Request) int {
	for _, v := range preferValues(r) {
		if n, ok := strings.CutPrefix(v, "odata.maxpagesize="); ok {
			if k, err := strconv.Atoi(n); err == nil && k > 0 {
				return k
			}
		}
	}
	return DefaultPageSize
}
