package imapx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailoauth/mailoauth/mailgate"
)

// How a session splits its FETCHes.
const (
	// metaBatch is the most messages one FETCH asks for.
	metaBatch = 1000
	// maxStreamBytes is about how much mail one streaming FETCH carries:
	// the actions of its messages are applied together after it, and when
	// Run is cancelled the rest of it is read and dropped (a fraction of a
	// second on a fast link, seconds on a slow one). Smaller FETCHes cost
	// throughput: each drains the pipeline for a round trip and a STORE
	// (with 16 MiB, 1,000 messages of 20 KB took two FETCHes, and
	// BenchmarkReceive's ratio to a raw loop fell from about 0.96 to 0.91).
	maxStreamBytes = 64 << 20
	// sizeSample is how many messages' sizes are asked for before the
	// first streaming FETCH, when no size has been seen yet, to judge how
	// many messages make maxStreamBytes.
	sizeSample = 16
)

// errConnClosed ends a wait when the server closed the connection.
var errConnClosed = errors.New("the connection closed")

// folderSession is the IMAP mailgate.Session: one authenticated connection
// with the watched folder selected.
type folderSession struct {
	b          *backend
	s          *session
	plan       *mailgate.Plan
	newMail    <-chan struct{}
	caps       imap.CapSet
	validity   uint32
	epoch      string
	sizes      map[imap.UID]int64 // sizes asked for and not yet fetched (MaxSize)
	warnedPlus bool               // logged that the server lacks UIDPLUS
}

// fail makes err an *Error of phase, with what the connection saw (a BYE,
// a throttling reply) and every token scrubbed. A BYE for an expired token
// invalidates the session's token.
func (fs *folderSession) fail(phase Phase, err error) error {
	if err == nil {
		return nil
	}
	e := fs.s.fail(phase, err)
	if e.expired() && fs.s.token != nil {
		fs.b.mb.Tokens.Invalidate(fs.s.token)
		fs.s.token = nil
	}
	return e
}

// open checks the destination folders and selects the watched one.
func (fs *folderSession) open(ctx context.Context) error {
	c, p, b := fs.s.c, fs.plan, fs.b
	for _, dest := range []string{p.MoveTo, p.OversizeFolder} {
		if dest == "" {
			continue
		}
		if _, err := c.Status(dest, &imap.StatusOptions{NumMessages: true}).Wait(); err != nil {
			return fs.fail(PhaseSelect, fmt.Errorf("destination folder %q: %w", dest, err))
		}
	}
	data, err := c.Select(b.opts.Folder, nil).Wait()
	if err != nil {
		return fs.fail(PhaseSelect, fmt.Errorf("folder %q: %w", b.opts.Folder, err))
	}
	fs.validity = data.UIDValidity
	fs.epoch = strconv.FormatUint(uint64(data.UIDValidity), 10)
	if b.validity != data.UIDValidity {
		// What earlier sessions left unconfirmed names other messages now.
		b.validity, b.copies, b.expunge = data.UIDValidity, make(map[imap.UID]*copyAttempt), nil
	}
	fs.caps = c.Caps()
	b.log.DebugContext(ctx, "imapx: session ready", "folder", b.opts.Folder,
		"messages", data.NumMessages, "idle", fs.caps.Has(imap.CapIdle), "move", fs.caps.Has(imap.CapMove))
	return nil
}

// Expiry implements mailgate.Expirer: the session's token expiry.
func (fs *folderSession) Expiry() time.Time {
	if fs.s.token == nil {
		return time.Time{}
	}
	return fs.s.token.Expiry
}

// Close implements mailgate.Session: LOGOUT, then close.
func (fs *folderSession) Close() error {
	fs.s.logout()
	return nil
}

// List implements mailgate.Session: UID SEARCH for the unseen messages
// (MarkSeen) or all messages (Move, Delete), never those flagged \Deleted.
func (fs *folderSession) List(ctx context.Context) (*mailgate.Listing, error) {
	// Mail announced from here on is found by the search below or by the
	// next one.
	select {
	case <-fs.newMail:
	default:
	}
	if err := fs.expungeLeftovers(ctx); err != nil {
		return nil, err
	}
	crit := &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}}
	if fs.plan.After == mailgate.MarkSeen {
		crit.NotFlag = append(crit.NotFlag, imap.FlagSeen)
	}
	data, err := fs.s.c.UIDSearch(crit, nil).Wait()
	if err != nil {
		return nil, fs.fail(PhaseSearch, err)
	}
	uids := data.AllUIDs()
	ids := make([]string, len(uids))
	for i, uid := range uids {
		ids[i] = strconv.FormatUint(uint64(uid), 10)
	}
	fs.forgetCopies(uids)
	return &mailgate.Listing{Epoch: fs.epoch, IDs: ids}, nil
}

// parseUIDs turns mailgate IDs back into UIDs.
func parseUIDs(ids []string) ([]imap.UID, error) {
	uids := make([]imap.UID, len(ids))
	for i, id := range ids {
		n, err := strconv.ParseUint(id, 10, 32)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("imapx: %q is not a UID", id)
		}
		uids[i] = imap.UID(n)
	}
	return uids, nil
}

// Fetch implements mailgate.Session: one streaming FETCH of about
// maxStreamBytes of mail from the start of ids (at most metaBatch
// messages). With a MaxSize the sizes are asked for first, so that oversize
// messages are never streamed; without, the sizes seen so far judge how
// many messages one FETCH carries.
func (fs *folderSession) Fetch(ctx context.Context, ids []string, yield func(*mailgate.Message) bool) (int, error) {
	uids, err := parseUIDs(ids[:min(len(ids), metaBatch)])
	if err != nil {
		return 0, err
	}
	if fs.plan.MaxSize > 0 {
		return fs.fetchSized(ctx, uids, yield)
	}
	n, err := fs.streamCount(uids)
	if err != nil {
		return 0, err
	}
	return n, fs.stream(ctx, uids[:n], yield)
}

// askSizes returns the RFC822.SIZE of the messages uids that still exist.
func (fs *folderSession) askSizes(uids []imap.UID) (map[imap.UID]int64, error) {
	bufs, err := fs.s.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
	if err != nil {
		return nil, fs.fail(PhaseFetch, err)
	}
	sizes := make(map[imap.UID]int64, len(bufs))
	for _, b := range bufs {
		if b.UID != 0 {
			sizes[b.UID] = b.RFC822Size
		}
	}
	return sizes, nil
}

// streamCount returns how many of uids one streaming FETCH takes, judged
// from the average size of the messages seen (a sample of uids when none
// was seen yet).
func (fs *folderSession) streamCount(uids []imap.UID) (int, error) {
	if fs.b.avgSize == 0 {
		sizes, err := fs.askSizes(uids[:min(len(uids), sizeSample)])
		if err != nil {
			return 0, err
		}
		for _, size := range sizes {
			fs.b.seenSize(size)
		}
	}
	if fs.b.avgSize <= 0 {
		return len(uids), nil
	}
	return max(1, min(len(uids), int(maxStreamBytes/fs.b.avgSize))), nil
}

// seenSize adds the size of a fetched message to the moving average.
func (b *backend) seenSize(size int64) {
	const weight = 8 // the last few dozen messages count
	if b.avgSize == 0 {
		b.avgSize = float64(max(size, 1))
		return
	}
	b.avgSize += (float64(size) - b.avgSize) / weight
}

// fetchSized hands over messages when Plan.MaxSize is set: sizes first
// (kept for the next call), then oversize messages without their body and
// a FETCH of at most maxStreamBytes of the others.
func (fs *folderSession) fetchSized(ctx context.Context, uids []imap.UID, yield func(*mailgate.Message) bool) (int, error) {
	if fs.sizes == nil {
		fs.sizes = make(map[imap.UID]int64)
	}
	var unknown []imap.UID
	for _, uid := range uids {
		if _, ok := fs.sizes[uid]; !ok {
			unknown = append(unknown, uid)
		}
	}
	if len(unknown) > 0 {
		sizes, err := fs.askSizes(unknown)
		if err != nil {
			return 0, err
		}
		for _, uid := range unknown {
			size, ok := sizes[uid]
			if !ok {
				size = -1 // expunged meanwhile
			}
			fs.sizes[uid] = size
		}
	}
	var (
		oversize, body []imap.UID
		total          int64
		n              int
	)
	for _, uid := range uids {
		size := fs.sizes[uid]
		if size > fs.plan.MaxSize {
			oversize = append(oversize, uid)
		} else if size >= 0 {
			if len(body) > 0 && total+size > maxStreamBytes {
				break
			}
			body, total = append(body, uid), total+size
		}
		delete(fs.sizes, uid)
		n++
	}
	if len(oversize) > 0 {
		if err := fs.announce(ctx, oversize, yield); err != nil {
			return 0, err
		}
	}
	if len(body) > 0 {
		if err := fs.stream(ctx, body, yield); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// announce hands over messages without their body (larger than MaxSize).
func (fs *folderSession) announce(ctx context.Context, uids []imap.UID, yield func(*mailgate.Message) bool) error {
	bufs, err := fs.s.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{
		UID: true, Flags: true, Envelope: true, RFC822Size: true, InternalDate: true,
	}).Collect()
	if err != nil {
		return fs.fail(PhaseFetch, err)
	}
	for _, b := range bufs {
		if b.UID == 0 {
			continue
		}
		m := &meta{uid: b.UID, flags: b.Flags, envelope: b.Envelope, size: b.RFC822Size, date: b.InternalDate}
		if !fs.hand(m, nil, 0, yield) {
			return nil
		}
	}
	return nil
}

// meta is what the FETCH responses tell about a message.
type meta struct {
	uid      imap.UID
	flags    []imap.Flag
	envelope *imap.Envelope
	size     int64
	date     time.Time
}

// stream fetches uids in one command and hands over each message as it
// arrives. go-imap cannot take another command safely while a FETCH
// streams (a failed write then races with the decoder): the gate applies
// the actions once this returns.
func (fs *folderSession) stream(ctx context.Context, uids []imap.UID, yield func(*mailgate.Message) bool) error {
	asked := make(map[imap.UID]bool, len(uids))
	for _, uid := range uids {
		asked[uid] = true
	}
	cmd := fs.s.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{
		UID: true, Flags: true, Envelope: true, RFC822Size: true, InternalDate: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	stopped := false
	for {
		msg := cmd.Next() // discards what the previous message left unread
		if msg == nil {
			break
		}
		if !stopped && !fs.message(msg, asked, yield) {
			stopped = true
		}
	}
	if err := cmd.Close(); err != nil {
		return fs.fail(PhaseFetch, err)
	}
	return nil
}

// Items of a FETCH response the handler needs before the body.
const (
	gotUID = 1 << iota
	gotFlags
	gotEnvelope
	gotDate
	gotAll = gotUID | gotFlags | gotEnvelope | gotDate
)

// message reads one FETCH response: it gathers the metadata and hands the
// message over with its body. Servers send the body last; should one send
// it earlier, the body is read into memory and the message handed over at
// the end. It returns false once yield asked for no more messages.
func (fs *folderSession) message(msg *imapclient.FetchMessageData, asked map[imap.UID]bool, yield func(*mailgate.Message) bool) bool {
	var (
		m     meta
		got   int
		early []byte // a body that came before the metadata
		body  bool   // a body was seen
		more  = true
	)
	for item := msg.Next(); item != nil; item = msg.Next() {
		switch it := item.(type) {
		case imapclient.FetchItemDataUID:
			m.uid, got = it.UID, got|gotUID
		case imapclient.FetchItemDataFlags:
			m.flags, got = it.Flags, got|gotFlags
		case imapclient.FetchItemDataEnvelope:
			m.envelope, got = it.Envelope, got|gotEnvelope
		case imapclient.FetchItemDataInternalDate:
			m.date, got = it.Time, got|gotDate
		case imapclient.FetchItemDataRFC822Size:
			m.size = it.Size
		case imapclient.FetchItemDataBodySection:
			if it.Literal == nil || body {
				continue
			}
			body = true
			fs.b.seenSize(it.Literal.Size())
			if got != gotAll {
				b, err := io.ReadAll(newBodyReader(it.Literal, it.Literal.Size()))
				if err != nil {
					fs.abort()
					return false // the connection broke; Close reports it
				}
				early = b
				continue
			}
			more = fs.deliver(&m, it.Literal, it.Literal.Size(), asked, yield)
		}
	}
	if early != nil && m.uid != 0 {
		more = fs.deliver(&m, bytes.NewReader(early), int64(len(early)), asked, yield)
	}
	return more
}

// deliver hands over one message with its body, or, for a message not
// asked for, reads the body here, where a broken connection is noticed.
func (fs *folderSession) deliver(m *meta, r io.Reader, size int64, asked map[imap.UID]bool, yield func(*mailgate.Message) bool) bool {
	if !asked[m.uid] {
		if newBodyReader(r, size).finish() != nil {
			fs.abort()
		}
		return true
	}
	return fs.hand(m, r, size, yield)
}

// hand builds the message, in the mailgate's view and IMAP's, and gives it
// to yield; r nil hands it over without a body.
func (fs *folderSession) hand(m *meta, r io.Reader, size int64, yield func(*mailgate.Message) bool) bool {
	id := strconv.FormatUint(uint64(m.uid), 10)
	gm := &mailgate.Message{
		Key:      mailgate.Key{Folder: fs.b.opts.Folder, Epoch: fs.epoch, ID: id},
		Size:     m.size,
		Received: m.date,
	}
	for _, f := range m.flags {
		if strings.EqualFold(string(f), string(imap.FlagSeen)) {
			gm.Seen = true
		}
	}
	if e := m.envelope; e != nil {
		gm.Key.MessageID, gm.Subject, gm.Date = e.MessageID, e.Subject, e.Date
		if len(e.From) > 0 {
			gm.From = mail.Address{Name: e.From[0].Name, Address: e.From[0].Addr()}
		}
	}
	var body *bodyReader
	if r != nil {
		body = newBodyReader(r, size)
		gm.Body = body
	}
	fs.b.current = &Message{
		Key: gm.Key, UID: m.uid, UIDValidity: fs.validity, Envelope: m.envelope,
		Flags: m.flags, Size: m.size, InternalDate: m.date,
	}
	more := yield(gm)
	fs.b.current = nil
	if body != nil && body.finish() != nil {
		// The connection broke in the middle of the literal.
		fs.abort()
	}
	return more
}

// abort closes a connection that broke in the middle of a message: once
// go-imap's decoder has stopped, nothing else reads the stream while the
// FETCH is wound up.
func (fs *folderSession) abort() {
	_ = fs.s.c.Close()
	// Close returns early when closing the TLS connection reports an
	// error; wait for the decoder all the same.
	<-fs.s.c.Closed()
}

// Wait implements mailgate.Session: IDLE where the server has it, else a
// pause of PollInterval, ended early by new mail, within, ctx or the
// server closing the connection.
func (fs *folderSession) Wait(ctx context.Context, within time.Duration) error {
	c, o := fs.s.c, fs.b.opts
	idle := fs.caps.Has(imap.CapIdle)
	d := o.PollInterval
	if idle {
		d = o.IdleRenew
	}
	if within > 0 {
		d = min(d, within)
	}
	timer := time.NewTimer(d)
	defer timer.Stop()

	var cmd *imapclient.IdleCommand
	if idle {
		var err error
		if cmd, err = c.Idle(); err != nil {
			return fs.fail(PhaseIdle, err)
		}
	}
	var closed bool
	select {
	case <-fs.newMail:
	case <-timer.C:
	case <-ctx.Done():
	case <-c.Closed():
		closed = true
	}
	if cmd != nil {
		closeErr := cmd.Close()
		waitErr := cmd.Wait()
		if err := errors.Join(closeErr, waitErr); err != nil {
			return fs.fail(PhaseIdle, err)
		}
	}
	if closed {
		return fs.fail(PhaseIdle, errConnClosed)
	}
	return nil
}
