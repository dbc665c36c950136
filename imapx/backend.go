package imapx

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailoauth/mailoauth/mailgate"
	"github.com/mailoauth/mailoauth/provider"
)

// NewBackend returns the IMAP folder opts.Folder of mb as a
// mailgate.Backend, for a mailgate.Gate whose handler serves every
// transport; a nil opts means the defaults. Sessions authenticate as Dial
// does; the Gate's Options say what happens to the messages.
func NewBackend(mb *provider.Mailbox, opts *BackendOptions) mailgate.Backend {
	return newBackend(mb, opts)
}

// backend is the IMAP mailgate.Backend. Besides the configuration it keeps
// what outlives a session: the sizes of the messages seen, and the COPY and
// EXPUNGE commands a broken connection left unconfirmed.
//
// Its fields are used by the Gate's Run goroutine only.
type backend struct {
	mb   *provider.Mailbox
	opts BackendOptions
	log  *slog.Logger

	sessions int     // sessions opened, for the transcript's prefix
	avgSize  float64 // moving average of the sizes of messages fetched; 0: none seen
	// current is the message being handed to the handler, as IMAP sees it
	// (see native).
	current *Message
	// Unconfirmed commands of earlier sessions, under the UIDVALIDITY
	// validity of the watched folder.
	validity uint32
	copies   map[imap.UID]*copyAttempt // COPYs whose reply was lost
	expunge  imap.UIDSet               // flagged \Deleted by us, UID EXPUNGE not confirmed
}

func newBackend(mb *provider.Mailbox, opts *BackendOptions) *backend {
	if opts == nil {
		opts = &BackendOptions{}
	}
	o := opts.withDefaults()
	if o.Debug != nil {
		o.Debug = &syncWriter{w: o.Debug}
	}
	return &backend{mb: mb, opts: o, log: logger(o.Logger), copies: make(map[imap.UID]*copyAttempt)}
}

// syncWriter serializes the transcripts of successive sessions, which may
// overlap while one logs out.
type syncWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// Check implements mailgate.Checker: the mailbox must be usable and no
// destination may be the watched folder.
func (b *backend) Check(p *mailgate.Plan) error {
	if err := (&dialer{mb: b.mb}).validate(); err != nil {
		return provider.Annotate(err)
	}
	if p.After == mailgate.Move && p.MoveTo == b.opts.Folder {
		return errf("mailgate: MoveTo is the watched folder %q", b.opts.Folder)
	}
	if p.OversizeFolder != "" && p.OversizeFolder == b.opts.Folder {
		return errf("mailgate: OversizeFolder is the watched folder %q", b.opts.Folder)
	}
	return nil
}

// LogValue names the mailbox and folder in the Gate's log lines.
func (b *backend) LogValue() slog.Value {
	var addr string
	if b.mb != nil {
		addr = b.mb.Address
	}
	return slog.GroupValue(slog.String("mailbox", addr), slog.String("folder", b.opts.Folder))
}

// Open implements mailgate.Backend: it dials, checks the destination
// folders exist and selects the watched folder.
func (b *backend) Open(ctx context.Context, p *mailgate.Plan) (mailgate.Session, error) {
	b.sessions++
	newMail := make(chan struct{}, 1)
	d := &dialer{
		mb:   b.mb,
		opts: &b.opts.Options,
		log:  b.log,
		unilateral: &imapclient.UnilateralDataHandler{
			Mailbox: func(m *imapclient.UnilateralDataMailbox) {
				if m.NumMessages != nil {
					select {
					case newMail <- struct{}{}:
					default:
					}
				}
			},
		},
		minLifetime: p.MinLifetime,
		debugPrefix: fmt.Sprintf("[%d] ", b.sessions),
	}
	s, err := d.dial(ctx)
	if err != nil {
		return nil, err
	}
	fs := &folderSession{b: b, s: s, plan: p, newMail: newMail}
	if err := fs.open(ctx); err != nil {
		s.logout()
		return nil, err
	}
	return fs, nil
}

// native returns the IMAP view of m, the message being handed over, with
// m's Body: what a handler of NewMailgate receives.
func (b *backend) native(m *mailgate.Message) *Message {
	n := *b.current
	n.Body = m.Body
	return &n
}
