package graphxtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// call is one request as the handlers see it.
type call struct {
	route   Route
	mailbox string // lower case; empty for uploads
	message string // the message id in the path, if any
	folder  string // the folder id or name in the path, if any
	child   bool   // .../mailFolders/{id}/childFolders
	session string // upload session id
}

// serveHTTP routes, counts, checks the token, injects faults and runs the
// handler.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	c, ok := parseCall(r)
	s.mu.Lock()
	s.stats.Requests++
	if ok {
		s.routes[c.route]++
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusBadRequest, "BadRequest", "graphxtest: unsupported request "+r.Method+" "+r.URL.Path)
		return
	}
	if c.route == RouteUpload {
		s.serveUpload(w, r, c)
		return
	}
	if !s.immutableIDs(r) {
		s.mu.Lock()
		s.stats.WithoutImmutableID++
		s.mu.Unlock()
	}
	done, over := s.enter(c.mailbox)
	defer done()
	fw := &flightWriter{ResponseWriter: w, done: done}
	if over {
		s.count(func(st *Stats) { st.Throttled++ })
		w.Header().Set("Retry-After", "1")
		writeError(fw, http.StatusTooManyRequests, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.")
		return
	}
	f := s.takeFault(c, r)
	if s.preFault(fw, f) {
		return
	}
	if !s.authorize(fw, r, c, f) {
		return
	}
	if f == Gone {
		s.count(func(st *Stats) { st.Gone++ })
		s.writeGone(fw, r.URL.EscapedPath())
		return
	}
	s.mu.Lock()
	delay := s.delay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	switch f {
	case LoseAnswer:
		// Act, then lose the answer.
		s.dispatch(&recorder{header: http.Header{}}, r, c)
		s.count(func(st *Stats) { st.LostAnswers++ })
		done()
		panic(http.ErrAbortHandler)
	case GatewayTimeout:
		s.dispatch(&recorder{header: http.Header{}}, r, c)
		s.count(func(st *Stats) { st.LostAnswers++ })
		writeError(fw, http.StatusGatewayTimeout, "GatewayTimeout", "The gateway did not receive a timely response.")
	default:
		s.dispatch(fw, r, c)
	}
}

// preFault answers the faults that come before the request is handled;
// it reports whether it answered.
func (s *Server) preFault(w http.ResponseWriter, f Fault) bool {
	switch f {
	case Throttle:
		s.count(func(st *Stats) { st.Throttled++ })
		w.Header().Set("Retry-After", s.retryAfterValue())
		writeError(w, http.StatusTooManyRequests, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.")
		return true
	case Unavailable:
		s.count(func(st *Stats) { st.Unavailable++ })
		w.Header().Set("Retry-After", s.retryAfterValue())
		writeError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "The service is temporarily unavailable.")
		return true
	case Drop:
		s.count(func(st *Stats) { st.Dropped++ })
		if fw, ok := w.(*flightWriter); ok {
			fw.done()
		}
		panic(http.ErrAbortHandler)
	}
	return false
}

// writeGone answers 410 Gone to a delta request, with the Location of a
// full sync (https://learn.microsoft.com/en-us/graph/delta-query-overview).
func (s *Server) writeGone(w http.ResponseWriter, path string) {
	w.Header().Set("Location", s.ts.URL+path+"?$deltatoken=")
	writeError(w, http.StatusGone, "resyncRequired", "The sync state is no longer available; a full resync is needed.")
}

// authorize checks the bearer token and that it acts for the mailbox.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, c call, f Fault) bool {
	refuse := func(msg string) bool {
		s.count(func(st *Stats) { st.Refused++ })
		w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
		writeError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
		return false
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return refuse("Access token is empty.")
	}
	if f == RejectToken {
		return refuse("Lifetime validation failed, the token is expired.")
	}
	user, err := s.verify(tok)
	if err != nil {
		return refuse("Access token validation failure.")
	}
	if user != "" && !strings.EqualFold(user, c.mailbox) {
		writeError(w, http.StatusForbidden, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
		return false
	}
	return true
}

// dispatch runs the route's handler.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, c call) {
	switch c.route {
	case RouteSendMail:
		s.serveSendMail(w, r, c)
	case RouteCreateDraft:
		s.serveCreateDraft(w, r, c)
	case RouteAttachment:
		s.serveAttachment(w, r, c)
	case RouteUploadSession:
		s.serveUploadSession(w, r, c)
	case RouteSend:
		s.serveSend(w, r, c)
	case RouteDelta:
		s.serveDelta(w, r, c)
	case RouteValue:
		s.serveValue(w, r, c)
	case RouteMessage:
		s.serveMessage(w, r, c)
	case RouteUpdate:
		s.serveUpdate(w, r, c)
	case RouteMove:
		s.serveMove(w, r, c)
	case RouteDelete:
		s.serveDelete(w, r, c)
	case RouteFolders:
		s.serveFolders(w, r, c)
	}
}

// messageRoutes are the routes below /messages/{id}, by method and the
// rest of the path.
var messageRoutes = map[[2]string]Route{
	{http.MethodGet, ""}:                                 RouteMessage,
	{http.MethodPatch, ""}:                               RouteUpdate,
	{http.MethodDelete, ""}:                              RouteDelete,
	{http.MethodGet, "$value"}:                           RouteValue,
	{http.MethodPost, "move"}:                            RouteMove,
	{http.MethodPost, "send"}:                            RouteSend,
	{http.MethodPost, "attachments"}:                     RouteAttachment,
	{http.MethodPost, "attachments/createUploadSession"}: RouteUploadSession,
}

// parseCall finds the route of r.
func parseCall(r *http.Request) (call, bool) {
	path := r.URL.EscapedPath()
	if rest, ok := strings.CutPrefix(path, "/upload/"); ok && r.Method == http.MethodPut {
		return call{route: RouteUpload, session: rest}, true
	}
	rest, ok := strings.CutPrefix(path, "/v1.0/users/")
	if !ok {
		return call{}, false
	}
	segs := strings.Split(rest, "/")
	for i, sg := range segs {
		u, err := url.PathUnescape(sg)
		if err != nil {
			return call{}, false
		}
		segs[i] = u
	}
	c := call{mailbox: lower(segs[0])}
	segs = segs[1:]
	m := r.Method
	switch {
	case len(segs) == 1 && segs[0] == "sendMail" && m == http.MethodPost:
		c.route = RouteSendMail
	case len(segs) == 1 && segs[0] == "messages" && m == http.MethodPost:
		c.route = RouteCreateDraft
	case len(segs) >= 2 && segs[0] == "messages":
		c.message = segs[1]
		r, ok := messageRoutes[[2]string{m, strings.Join(segs[2:], "/")}]
		if !ok {
			return call{}, false
		}
		c.route = r
	case len(segs) >= 1 && segs[0] == "mailFolders" && m == http.MethodGet:
		switch {
		case len(segs) == 1:
			c.route = RouteFolders
		case len(segs) == 2:
			c.route, c.folder = RouteFolders, segs[1]
		case len(segs) == 3 && segs[2] == "childFolders":
			c.route, c.folder, c.child = RouteFolders, segs[1], true
		case len(segs) == 4 && segs[2] == "messages" && segs[3] == "delta":
			c.route, c.folder = RouteDelta, segs[1]
		default:
			return call{}, false
		}
	default:
		return call{}, false
	}
	return c, true
}

// immutableIDs reports whether r asks for immutable ids.
func (s *Server) immutableIDs(r *http.Request) bool {
	for _, v := range preferValues(r) {
		if v == `IdType="ImmutableId"` {
			return true
		}
	}
	return false
}

// preferValues splits r's Prefer header fields into their values.
func preferValues(r *http.Request) []string {
	var out []string
	for _, v := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// enter counts a request in flight for mailbox and reports whether it is
// over the cap; done ends it (once). It takes flightMu only, as done runs
// inside handlers that hold mu.
func (s *Server) enter(mailbox string) (done func(), over bool) {
	s.mu.Lock()
	limit := s.maxInFl
	s.mu.Unlock()
	s.flightMu.Lock()
	s.inflight[mailbox]++
	n := s.inflight[mailbox]
	s.maxSeen = max(s.maxSeen, n)
	s.flightMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.flightMu.Lock()
			s.inflight[mailbox]--
			s.flightMu.Unlock()
		})
	}, limit > 0 && n > limit
}

// flightWriter ends the request's flight when the answer starts, so that
// a client that starts its next request once it read this answer is never
// counted twice.
type flightWriter struct {
	http.ResponseWriter
	done func()
}

func (w *flightWriter) WriteHeader(code int) {
	w.done()
	w.ResponseWriter.WriteHeader(code)
}

func (w *flightWriter) Write(p []byte) (int, error) {
	w.done()
	return w.ResponseWriter.Write(p)
}

// recorder is a ResponseWriter that keeps nothing, for answers that are
// lost.
type recorder struct {
	header http.Header
	code   int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(p []byte) (int, error) { return len(p), nil }
func (r *recorder) WriteHeader(code int)        { r.code = code }

func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.stats)
}

func (s *Server) retryAfterValue() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strconv.Itoa(max(int(s.retryAfter.Seconds()), 0))
}

// writeError writes Graph's error answer
// (https://learn.microsoft.com/en-us/graph/errors).
func writeError(w http.ResponseWriter, status int, code, msg string) {
	body, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code": code, "message": msg,
		"innerError": map[string]string{"request-id": "graphxtest-" + strconv.Itoa(status)},
	}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// readJSON reads a JSON request body into v; it answers the errors
// itself, with bad as the message of a body that is not the JSON expected.
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, v any, bad string) bool {
	body, ok := s.readBody(w, r)
	if !ok {
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		writeError(w, http.StatusBadRequest, "ErrorInvalidRequest", bad)
		return false
	}
	return true
}

// readBody reads a request body up to the server's request limit; it
// answers 413 itself and returns false beyond it.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.ContentLength > s.maxBody {
		writeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", fmt.Sprintf("The request is larger than %d bytes.", s.maxBody))
		return nil, false
	}
	var b bytes.Buffer
	n, err := b.ReadFrom(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		if n >= s.maxBody {
			writeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", fmt.Sprintf("The request is larger than %d bytes.", s.maxBody))
		} else {
			panic(http.ErrAbortHandler) // the client went away
		}
		return nil, false
	}
	return b.Bytes(), true
}
