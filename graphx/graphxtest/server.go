// Package graphxtest is a local Microsoft Graph mail server for tests, in
// the manner of net/http/httptest: New starts it on 127.0.0.1 over HTTPS
// with a generated certificate, Close stops it.
//
// It checks bearer tokens through a verify function, keeps mailboxes with
// folders and messages, answers folders' delta queries (paged, with delta
// links, 410 Gone on demand), serves a message's MIME, marks, moves and
// deletes, accepts MIME sendMail and MIME drafts with attachments and
// upload sessions, records what each recipient would receive, and
// injects the faults a client must survive: 429 and 503 with Retry-After,
// dropped connections, answers lost after the server acted, refused
// tokens.
//
//	srv := graphxtest.New(&graphxtest.Options{Verify: verify})
//	defer srv.Close()
//	sender := graphx.NewSender(srv.Mailbox("app@example.com", tokens),
//		&graphx.Options{BaseURL: srv.URL(), TLSConfig: srv.TLSConfig()})
package graphxtest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/internal/testcert"
	"github.com/mailoauth/mailoauth/provider"
)

// Limits of Graph the server enforces.
const (
	// DefaultMaxRequestBytes is the largest request body taken: Graph's
	// 4 MB; larger ones get 413.
	DefaultMaxRequestBytes = 4 << 20
	// UploadMinimum is the smallest attachment an upload session takes.
	UploadMinimum = 3 << 20
	// MaxAttachment is the largest attachment an upload session takes.
	MaxAttachment = 150 << 20
	// MaxRange is the largest byte range of one upload.
	MaxRange = 4 << 20
	// DefaultPageSize is the delta page size when the client asks none.
	DefaultPageSize = 10
)

// Options configure New. A nil *Options, like the zero value, is a server
// that accepts only the tokens given to AllowToken.
type Options struct {
	// Verify decides whether a token is good and whose it is: the user
	// (a mailbox address) it acts for, or "" for an app-only token, which
	// acts for every mailbox as Mail.Send and Mail.ReadWrite application
	// permissions do. nil: only the tokens given to AllowToken, so a
	// forgotten Verify never lets every token in.
	Verify func(token string) (user string, err error)
	// NoBodies keeps only the size and SHA-256 of sent messages and of
	// attachments, for tests that send large ones.
	NoBodies bool
	// MaxRequestBytes is the largest request body; zero:
	// DefaultMaxRequestBytes.
	MaxRequestBytes int64
	// Logger gets the server's internal errors; nil discards them.
	Logger *log.Logger
}

// Route names a kind of Graph request, for counters and faults.
type Route string

// The routes the server answers.
const (
	RouteAny           Route = ""
	RouteSendMail      Route = "sendMail"            // POST /users/{id}/sendMail
	RouteCreateDraft   Route = "createDraft"         // POST /users/{id}/messages
	RouteAttachment    Route = "attachment"          // POST /users/{id}/messages/{id}/attachments
	RouteUploadSession Route = "createUploadSession" // POST .../attachments/createUploadSession
	RouteUpload        Route = "upload"              // PUT {uploadUrl}
	RouteSend          Route = "send"                // POST /users/{id}/messages/{id}/send
	RouteDelta         Route = "delta"               // GET /users/{id}/mailFolders/{id}/messages/delta
	RouteValue         Route = "value"               // GET /users/{id}/messages/{id}/$value
	RouteMessage       Route = "message"             // GET /users/{id}/messages/{id}
	RouteUpdate        Route = "update"              // PATCH /users/{id}/messages/{id}
	RouteMove          Route = "move"                // POST /users/{id}/messages/{id}/move
	RouteDelete        Route = "delete"              // DELETE /users/{id}/messages/{id}
	RouteFolders       Route = "folders"             // GET /users/{id}/mailFolders[/{id}[/childFolders]]
)

// Stats are the server's counters since it started.
type Stats struct {
	Requests    int // requests answered or dropped, uploads included
	Throttled   int // 429 answers, faults and the concurrency cap together
	Unavailable int // 503 answers
	Dropped     int // connections dropped before the request was handled
	LostAnswers int // requests handled whose answer was dropped or was a 504
	Refused     int // 401 answers to a Graph request (bad token, or a RejectToken fault)
	Gone        int // 410 answers to delta requests
	// MaxConcurrent is the most requests for one mailbox seen in flight.
	MaxConcurrent int
	// UploadsWithToken counts uploads that carried an Authorization
	// header; a correct client sends none.
	UploadsWithToken int
	// WithoutImmutableID counts Graph requests without Prefer:
	// IdType="ImmutableId".
	WithoutImmutableID int
}

// Server is a running test Graph server. Its methods are safe for
// concurrent use.
type Server struct {
	ts       *httptest.Server
	cert     *x509.Certificate
	pool     *x509.CertPool
	verify   func(string) (string, error)
	noBodies bool
	maxBody  int64

	flightMu sync.Mutex     // guards inflight and maxSeen
	inflight map[string]int // requests in flight per mailbox
	maxSeen  int

	mu         sync.Mutex        // guards everything below
	allowed    map[string]string // token -> user, for the default verify
	mailboxes  map[string]*mailbox
	sent       []Sent
	deliveries []Delivery
	sessions   map[string]*uploadSession
	deltas     map[string]*deltaState
	stats      Stats
	routes     map[Route]int
	maxInFl    int // SetMaxConcurrent; 0: none
	retryAfter time.Duration
	delay      time.Duration
	faults     []pendingFault
	random     RandomFaults
	rnd        *rand.Rand
	nextID     uint64
}

// New starts a server on 127.0.0.1 on a free port; a nil opts means the
// defaults. It panics if it cannot start, as httptest.NewServer does.
func New(opts *Options) *Server {
	if opts == nil {
		opts = &Options{}
	}
	cert, pool, err := testcert.New("graphxtest")
	if err != nil {
		panic(err)
	}
	s := &Server{
		cert:       cert.Leaf,
		pool:       pool,
		noBodies:   opts.NoBodies,
		maxBody:    opts.MaxRequestBytes,
		allowed:    make(map[string]string),
		mailboxes:  make(map[string]*mailbox),
		sessions:   make(map[string]*uploadSession),
		deltas:     make(map[string]*deltaState),
		routes:     make(map[Route]int),
		inflight:   make(map[string]int),
		retryAfter: time.Second,
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxRequestBytes
	}
	s.verify = opts.Verify
	if s.verify == nil {
		s.verify = s.allowedUser
	}
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	s.ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	logger := opts.Logger
	if logger == nil {
		logger = log.New(io.Discard, "", 0) // handshake noise and aborted handlers
	}
	s.ts.Config.ErrorLog = logger
	s.ts.StartTLS()
	return s
}

// Close stops the server and closes every connection.
func (s *Server) Close() { s.ts.Close() }

// URL returns the server's base URL, "https://127.0.0.1:port": graphx's
// Options.BaseURL.
func (s *Server) URL() string { return s.ts.URL }

// TLSConfig returns a new client configuration that trusts the server's
// certificate (valid for 127.0.0.1, ::1 and localhost).
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12}
}

// Client returns a new HTTP client that trusts the server's certificate.
func (s *Server) Client() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = s.TLSConfig()
	t.Proxy = nil
	return &http.Client{Transport: t}
}

// CertPool returns a pool holding the server's certificate.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// Certificate returns the server's certificate.
func (s *Server) Certificate() *x509.Certificate { return s.cert }

// CertificatePEM returns the server's certificate in PEM.
func (s *Server) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.cert.Raw})
}

// Mailbox returns a provider.Mailbox for address with tokens, and creates
// the mailbox on the server.
func (s *Server) Mailbox(address string, tokens auth.TokenSource) *provider.Mailbox {
	s.AddMailbox(address)
	return &provider.Mailbox{Address: address, Tokens: tokens}
}

// AllowToken makes the default verify (without Options.Verify) accept
// token for user; an empty user makes it an app-only token, good for
// every mailbox.
func (s *Server) AllowToken(user, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.allowed[token] = user
}

// errUnknownToken is the default verify's refusal.
var errUnknownToken = errorString("graphxtest: unknown token")

type errorString string

func (e errorString) Error() string { return string(e) }

func (s *Server) allowedUser(token string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.allowed[token]
	if !ok {
		return "", errUnknownToken
	}
	return u, nil
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.flightMu.Lock()
	maxSeen := s.maxSeen
	s.flightMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.MaxConcurrent = maxSeen
	return st
}

// Requests returns how many requests of route the server got; RouteAny:
// all of them.
func (s *Server) Requests(route Route) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if route == RouteAny {
		return s.stats.Requests
	}
	return s.routes[route]
}

// DropConnections closes every open connection at once, without an
// answer, as a server does when it restarts.
func (s *Server) DropConnections() { s.ts.CloseClientConnections() }

// lower is strings.ToLower, for mailbox and address keys.
func lower(s string) string { return strings.ToLower(s) }
