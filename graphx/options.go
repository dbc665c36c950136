package graphx

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"time"

	"github.com/mailoauth/mailoauth/retry"
)

// DefaultBaseURL is Microsoft Graph's service root in the global cloud,
// which GCC uses too. The national clouds have their own: US Government L4
// https://graph.microsoft.us, L5 (DoD) https://dod-graph.microsoft.us,
// China (21Vianet) https://microsoftgraph.chinacloudapi.cn
// (https://learn.microsoft.com/en-us/graph/deployments). A token works
// only in the cloud that issued it.
const DefaultBaseURL = "https://graph.microsoft.com"

// apiVersion is the Graph version every request path starts with.
const apiVersion = "/v1.0"

// Graph's Outlook limits per app and mailbox
// (https://learn.microsoft.com/en-us/graph/throttling-limits#outlook-service-limits),
// and the defaults of Options.
const (
	// DefaultMaxConcurrent is how many requests for one mailbox are in
	// flight at most: Graph allows 4 per app and mailbox.
	DefaultMaxConcurrent = 4
	// DefaultMaxRequests is how many requests for one mailbox start in
	// any RequestWindow at most: Graph allows 10,000 per 10 minutes.
	DefaultMaxRequests = 10000
	// RequestWindow is the span DefaultMaxRequests is counted in.
	RequestWindow = 10 * time.Minute
	// DefaultMaxRetries bounds the retries of one operation after
	// temporary failures.
	DefaultMaxRetries = 3
	// DefaultSendMailLimit is the largest message, in octets, that goes
	// to sendMail in one request. Graph takes about 4 MB per request
	// after base64 (4/3 of the message); a user saw MIME messages over
	// 2,240 KB refused (microsoftgraph/microsoft-graph-docs-contrib#3079),
	// so the default stays below both. Larger messages go through a draft
	// and upload sessions.
	DefaultSendMailLimit = 2_000_000
	// DefaultChunkSize is the size of the byte ranges an attachment is
	// uploaded in: under Graph's 4 MB per range, and a multiple of 320
	// KiB, which some upload sessions of Microsoft require.
	DefaultChunkSize = 12 * 320 << 10
	// DefaultPageSize is the most messages a delta page asks for.
	DefaultPageSize = 50
	// MaxAttachmentSize is the largest attachment Graph takes through an
	// upload session: 150 MB. The tenant's message size limit (35 MB
	// unless an admin raised it) usually bites first.
	MaxAttachmentSize = 150 << 20
	// uploadMinimum is the smallest attachment Graph takes through an
	// upload session: smaller ones are posted whole
	// (https://learn.microsoft.com/en-us/graph/outlook-large-attachments).
	uploadMinimum = 3 << 20
	// maxChunkSize is Graph's ceiling on one uploaded range.
	maxChunkSize = 4 << 20
)

// DefaultBackoff spaces retries when Graph did not say how long to wait.
var DefaultBackoff = retry.Backoff{Min: 500 * time.Millisecond, Max: 30 * time.Second}

// Options configure a Client. A nil *Options, like the zero value, talks
// to the global cloud with the limits above.
type Options struct {
	// BaseURL is Graph's service root, without the version: zero:
	// DefaultBaseURL. It must be https. Every link Graph returns (delta
	// pages) must point at the same scheme, host and port, or it is
	// refused: the bearer token goes nowhere else.
	BaseURL string
	// User is the user id or user principal name in request paths
	// (/users/{User}/...); zero: Mailbox.Address. Set it when the
	// mailbox's SMTP address is not its UPN (Graph answers ErrorInvalidUser
	// to an address that names no user).
	User string
	// HTTPClient sends the requests; nil: a client of the Client's own
	// with TLSConfig. Its redirects are never followed. Its Transport must
	// verify certificates: the token travels in every request.
	HTTPClient *http.Client
	// TLSConfig is used when HTTPClient is nil: cloned, MinVersion raised
	// to TLS 1.2. InsecureSkipVerify is refused.
	TLSConfig *tls.Config
	// Logger gets retries and throttling; nil discards them. No token or
	// upload URL ever reaches it.
	Logger *slog.Logger
	// Clock tells the time and waits, for Retry-After, backoff and the
	// request window; nil: retry.System.
	Clock retry.Clock
	// Backoff spaces retries after failures Graph gave no Retry-After
	// for; zero bounds: DefaultBackoff's.
	Backoff retry.Backoff
	// MaxRetries bounds the retries of one operation; zero:
	// DefaultMaxRetries; negative: none.
	MaxRetries int
	// MaxConcurrent caps the requests in flight for the mailbox, sending
	// and receiving together; zero: Mailbox.Limits.MaxConns, and when
	// that is zero too, DefaultMaxConcurrent; negative: no cap.
	MaxConcurrent int
	// MaxRequests caps the requests started in any RequestWindow; zero:
	// DefaultMaxRequests; negative: no cap.
	MaxRequests int
	// MessagesPerMinute caps the messages sent in any minute; zero:
	// Mailbox.Limits.MessagesPerMinute; both zero: no cap. Exchange
	// Online's own limit is 30.
	MessagesPerMinute int
	// MaxRecipients refuses messages with more recipients; zero:
	// Mailbox.Limits.MaxRecipients; both zero: no cap. Graph cannot split
	// a message, its recipients being in its header.
	MaxRecipients int
	// AddBcc makes Send write a Bcc: header field naming the envelope
	// recipients that the message's To, Cc and Bcc do not name. Off: Send
	// refuses such a message (ErrRecipients). Whether Exchange removes
	// that field from the copies the other recipients get is not
	// documented; see Sender.
	AddBcc bool
	// SendMailLimit is the largest message sent in one sendMail request;
	// zero: DefaultSendMailLimit. Larger messages go through a draft.
	SendMailLimit int64
	// ChunkSize is the byte range of each upload; zero: DefaultChunkSize;
	// at most 4 MiB.
	ChunkSize int64
	// PageSize is the most messages one delta page asks for; zero:
	// DefaultPageSize. Graph may return fewer.
	PageSize int
	// TempDir holds, while it is sent, a message larger than fits in
	// memory that Send cannot read twice (one that is not an io.ReaderAt
	// with an io.Seeker); zero: os.TempDir(). The file is readable by its
	// owner only and removed when Send returns.
	TempDir string
}
