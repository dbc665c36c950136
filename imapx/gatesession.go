package imapx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// How a mailgate session splits its work.
const (
	// metaBatch is the number of messages whose sizes one FETCH asks for.
	metaBatch = 1000
	// maxStreamBytes bounds the message bytes one streaming FETCH carries.
	// The actions of its messages are applied together after it, and when
	// Run is cancelled the rest of it is read and dropped; smaller FETCHes
	// cost throughput (each one drains and refills the pipeline).
	maxStreamBytes = 16 << 20
)

// errConnClosed ends a wait when the server closed the connection.
var errConnClosed = errors.New("the connection closed")

// gateSession is one authenticated session of a Mailgate.
type gateSession struct {
	g           *Mailgate
	s           *session
	addr        string
	newMail     <-chan struct{}
	caps        imap.CapSet
	reconnectAt time.Time
	selected    bool
	warnedPlus  bool // logged that the server lacks UIDPLUS
}

func (gs *gateSession) now() time.Time { return gs.g.opts.Clock.Now() }

// run selects the folder, then sweeps and waits until something ends the
// session.
func (gs *gateSession) run(ctx context.Context) error {
	g, c := gs.g, gs.s.c
	for _, dest := range []string{g.movePlace(), g.opts.OversizeFolder} {
		if dest == "" {
			continue
		}
		if _, err := c.Status(dest, &imap.StatusOptions{NumMessages: true}).Wait(); err != nil {
			return phaseError(PhaseSelect, gs.addr, fmt.Errorf("destination folder %q: %w", dest, err))
		}
	}
	data, err := c.Select(g.opts.Folder, nil).Wait()
	if err != nil {
		return phaseError(PhaseSelect, gs.addr, fmt.Errorf("folder %q: %w", g.opts.Folder, err))
	}
	gs.selected = true
	if g.st == nil || g.st.validity != data.UIDValidity {
		if g.st != nil {
			g.log.WarnContext(ctx, "imapx: mailgate: the folder's UIDVALIDITY changed; forgetting what was handled under the old one",
				"folder", g.opts.Folder, "old", g.st.validity, "new", data.UIDValidity,
				"unconfirmed", len(g.st.pending))
		}
		g.st = newGateState(data.UIDValidity)
	}
	gs.caps = c.Caps()
	g.log.DebugContext(ctx, "imapx: mailgate: session ready", "folder", g.opts.Folder,
		"messages", data.NumMessages, "idle", gs.caps.Has(imap.CapIdle), "move", gs.caps.Has(imap.CapMove))
	for {
		if err := gs.sweep(ctx); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if gs.renewDue() {
			return errPlannedReconnect
		}
		if err := gs.wait(ctx); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// movePlace returns the folder handled messages move to, or "".
func (g *Mailgate) movePlace() string {
	if g.opts.After == Move {
		return g.opts.MoveTo
	}
	return ""
}

// renewDue reports whether the session's token is about to expire.
func (gs *gateSession) renewDue() bool {
	return !gs.reconnectAt.IsZero() && !gs.now().Before(gs.reconnectAt)
}

// sweep handles every message not yet handled.
func (gs *gateSession) sweep(ctx context.Context) error {
	// Mail announced from here on is found by the search below or by the
	// next sweep.
	select {
	case <-gs.newMail:
	default:
	}
	st := gs.g.st
	uids, err := gs.search()
	if err != nil {
		return err
	}
	present := make(map[imap.UID]struct{}, len(uids))
	for _, uid := range uids {
		present[uid] = struct{}{}
	}
	st.forgetMissing(present)
	if err := gs.settle(ctx, present); err != nil {
		return err
	}
	now := gs.now()
	todo := uids[:0:0]
	for _, uid := range uids {
		if !st.handled(uid) && st.due(uid, now) {
			todo = append(todo, uid)
		}
	}
	for len(todo) > 0 {
		if ctx.Err() != nil || gs.renewDue() {
			return nil
		}
		n := min(len(todo), metaBatch)
		if err := gs.batch(ctx, todo[:n]); err != nil {
			return err
		}
		todo = todo[n:]
	}
	return nil
}

// search returns the UIDs of the candidates, ascending: unseen messages for
// MarkSeen, all messages for Move and Delete; never those flagged \Deleted.
func (gs *gateSession) search() ([]imap.UID, error) {
	crit := &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}}
	if gs.g.opts.After == MarkSeen {
		crit.NotFlag = append(crit.NotFlag, imap.FlagSeen)
	}
	data, err := gs.s.c.UIDSearch(crit, nil).Wait()
	if err != nil {
		return nil, phaseError(PhaseSearch, gs.addr, err)
	}
	return data.AllUIDs(), nil
}

// settle applies the actions a broken session left unconfirmed. A message
// that is no longer a candidate shows the action took effect.
func (gs *gateSession) settle(ctx context.Context, present map[imap.UID]struct{}) error {
	st := gs.g.st
	var again []imap.UID
	for _, uid := range st.pendingUIDs() {
		if _, ok := present[uid]; ok {
			again = append(again, uid)
		} else {
			st.confirm(uid)
		}
	}
	if len(again) == 0 {
		return nil
	}
	gs.g.log.InfoContext(ctx, "imapx: mailgate: applying actions left unconfirmed by an earlier session",
		"count", len(again), "action", gs.g.opts.After.String())
	return gs.applyNow(ctx, again)
}

// meta is what the FETCH responses tell about a message.
type meta struct {
	uid      imap.UID
	flags    []imap.Flag
	envelope *imap.Envelope
	size     int64
	date     time.Time
}

// batch handles up to metaBatch messages: their sizes first (they decide
// what is streamed, and in how many FETCHes), then everything else, body
// included, in streaming FETCHes.
func (gs *gateSession) batch(ctx context.Context, uids []imap.UID) error {
	bufs, err := gs.s.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
	if err != nil {
		return phaseError(PhaseFetch, gs.addr, err)
	}
	sizes := make(map[imap.UID]int64, len(bufs))
	for _, b := range bufs {
		if b.UID != 0 {
			sizes[b.UID] = b.RFC822Size
		}
	}
	var body, oversize []*meta
	for _, uid := range uids {
		size, ok := sizes[uid]
		switch {
		case !ok: // expunged meanwhile
		case gs.g.opts.MaxSize > 0 && size > gs.g.opts.MaxSize:
			oversize = append(oversize, &meta{uid: uid, size: size})
		default:
			body = append(body, &meta{uid: uid, size: size})
		}
	}
	if len(oversize) > 0 {
		if err := gs.oversize(ctx, oversize); err != nil {
			return err
		}
	}
	for len(body) > 0 {
		if ctx.Err() != nil || gs.renewDue() {
			return nil
		}
		k, total := 0, int64(0)
		for k < len(body) && (k == 0 || total+body[k].size <= maxStreamBytes) {
			total += body[k].size
			k++
		}
		if err := gs.stream(ctx, body[:k]); err != nil {
			return err
		}
		body = body[k:]
	}
	return nil
}

// oversize moves messages larger than MaxSize to OversizeFolder, or skips
// them; a warning names each.
func (gs *gateSession) oversize(ctx context.Context, ms []*meta) error {
	g, st := gs.g, gs.g.st
	dest := g.opts.OversizeFolder
	uids := make([]imap.UID, len(ms))
	for i, m := range ms {
		uids[i] = m.uid
	}
	// The subjects, for the log.
	bufs, err := gs.s.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, Envelope: true}).Collect()
	if err != nil {
		return phaseError(PhaseFetch, gs.addr, err)
	}
	subjects := make(map[imap.UID]string, len(bufs))
	for _, b := range bufs {
		subjects[b.UID] = subject(b.Envelope)
	}
	for _, m := range ms {
		g.log.WarnContext(ctx, "imapx: mailgate: message larger than MaxSize not handed to the handler",
			"folder", g.opts.Folder, "uid", uint32(m.uid), "size", m.size, "max_size", g.opts.MaxSize,
			"moved_to", dest, "subject", subjects[m.uid])
	}
	if dest == "" {
		for _, uid := range uids {
			st.confirm(uid) // skipped for good in this process
		}
		return nil
	}
	err = gs.move(ctx, uids, dest)
	switch {
	case err == nil:
		for _, uid := range uids {
			st.confirm(uid)
		}
		return nil
	case isServerRefusal(err):
		g.log.ErrorContext(ctx, "imapx: mailgate: could not move oversize messages; trying again at the next check",
			"folder", dest, "error", err)
		return nil
	}
	return err
}

// subject returns the envelope's subject for log lines.
func subject(e *imap.Envelope) string {
	if e == nil {
		return ""
	}
	return e.Subject
}

// stream fetches the bodies of ms in one command and gives each message to
// the handler as it arrives. The actions of the handled messages are
// applied together once the FETCH is over: go-imap cannot take another
// command safely while a FETCH streams (a failed write then races with the
// decoder), and one command for the lot is cheaper.
func (gs *gateSession) stream(ctx context.Context, ms []*meta) error {
	byUID := make(map[imap.UID]*meta, len(ms))
	uids := make([]imap.UID, len(ms))
	for i, m := range ms {
		uids[i] = m.uid
		byUID[m.uid] = m
	}
	cmd := gs.s.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{
		UID: true, Flags: true, Envelope: true, RFC822Size: true, InternalDate: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	var (
		handled []imap.UID
		stopped bool
	)
	for {
		msg := cmd.Next() // discards what the previous message left unread
		if msg == nil {
			break
		}
		if stopped || ctx.Err() != nil || gs.renewDue() {
			stopped = true
			continue
		}
		if uid, ok := gs.message(ctx, msg, byUID); ok {
			handled = append(handled, uid)
		}
	}
	if err := cmd.Close(); err != nil {
		// The handled messages stay pending; the next session settles them.
		return phaseError(PhaseFetch, gs.addr, err)
	}
	if len(handled) > 0 {
		return gs.applyNow(ctx, handled)
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

// message reads one FETCH response: it gathers the metadata and calls the
// handler with the body. Servers send the body last; should one send it
// earlier, the body is read into memory and the handler called at the end.
// It reports the UID when the handler succeeded.
func (gs *gateSession) message(ctx context.Context, msg *imapclient.FetchMessageData, byUID map[imap.UID]*meta) (handledUID imap.UID, ok bool) {
	var (
		m     meta
		got   int
		early []byte // a body that came before the metadata
		body  bool   // a body was seen
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
			if got != gotAll {
				b, err := io.ReadAll(newBodyReader(it.Literal, it.Literal.Size()))
				if err != nil {
					gs.abort()
					return 0, false // the connection broke; Close reports it
				}
				early = b
				continue
			}
			ok = gs.deliver(ctx, byUID[m.uid], &m, it.Literal, it.Literal.Size())
		}
	}
	if early != nil && m.uid != 0 {
		ok = gs.deliver(ctx, byUID[m.uid], &m, bytes.NewReader(early), int64(len(early)))
	}
	return m.uid, ok
}

// deliver calls the handler for one message and records the outcome; it
// reports whether the handler succeeded.
func (gs *gateSession) deliver(ctx context.Context, asked *meta, m *meta, r io.Reader, size int64) bool {
	body := newBodyReader(r, size)
	if asked == nil || gs.g.st.handled(m.uid) {
		// Not a message to hand over; read it here, where a broken
		// connection is noticed.
		if body.finish() != nil {
			gs.abort()
		}
		return false
	}
	g, st := gs.g, gs.g.st
	err := g.call(ctx, &Message{
		UID:          m.uid,
		UIDValidity:  st.validity,
		Envelope:     m.envelope,
		Flags:        m.flags,
		Size:         m.size,
		InternalDate: m.date,
		Body:         body,
	})
	bodyErr := body.finish()
	if bodyErr != nil {
		// The connection broke in the middle of the literal.
		gs.abort()
	}
	if err != nil {
		next := st.failed(m.uid, gs.now(), g.opts.RetryBackoff)
		g.log.WarnContext(ctx, "imapx: mailgate: handler failed; the message stays untouched and is tried again later",
			"folder", g.opts.Folder, "uid", uint32(m.uid), "subject", subject(m.envelope),
			"attempts", st.failures[m.uid].attempts, "retry_at", next, "error", err)
		return false
	}
	if bodyErr != nil {
		g.log.WarnContext(ctx, "imapx: mailgate: the handler succeeded although the message body could not be read to the end",
			"uid", uint32(m.uid), "error", bodyErr)
	}
	st.succeeded(m.uid)
	g.log.DebugContext(ctx, "imapx: mailgate: message handled", "uid", uint32(m.uid))
	return true
}

// abort closes a connection that broke in the middle of a message: once
// go-imap's decoder has stopped, nothing else reads the stream while the
// FETCH is wound up.
func (gs *gateSession) abort() {
	_ = gs.s.c.Close()
	// Close returns early when closing the TLS connection reports an
	// error; wait for the decoder all the same.
	<-gs.s.c.Closed()
}

// call runs the handler; a panic becomes an error.
func (g *Mailgate) call(ctx context.Context, m *Message) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("imapx: mailgate: handler panicked: %v\n%s", v, debug.Stack())
		}
	}()
	return g.handle(context.WithoutCancel(ctx), m)
}

// applyNow applies the action to uids and waits for each reply.
func (gs *gateSession) applyNow(ctx context.Context, uids []imap.UID) error {
	g, st, c := gs.g, gs.g.st, gs.s.c
	set := imap.UIDSetNum(uids...)
	var err error
	switch g.opts.After {
	case MarkSeen:
		err = c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close()
	case Move:
		err = gs.move(ctx, uids, g.opts.MoveTo)
	default:
		err = gs.deleteNow(ctx, set)
	}
	switch {
	case err == nil:
		for _, uid := range uids {
			st.confirm(uid)
		}
		return nil
	case isServerRefusal(err):
		g.log.ErrorContext(ctx, "imapx: mailgate: the server refused the action; trying again at the next check",
			"count", len(uids), "action", g.opts.After.String(), "error", err)
		return nil
	}
	return phaseError(PhaseAction, gs.addr, err)
}

// deleteNow sets \Deleted on set and expunges exactly those messages.
func (gs *gateSession) deleteNow(ctx context.Context, set imap.UIDSet) error {
	c := gs.s.c
	if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		return err
	}
	if gs.caps.Has(imap.CapUIDPlus) {
		return c.UIDExpunge(set).Close()
	}
	gs.warnNoUIDPlus(ctx)
	return nil
}

// move moves uids to dest: MOVE where the server has it; otherwise COPY,
// and only once COPY succeeded, \Deleted and UID EXPUNGE of exactly those
// messages (go-imap's own fallback pipelines the three, and a plain
// EXPUNGE would also remove messages others flagged \Deleted).
func (gs *gateSession) move(ctx context.Context, uids []imap.UID, dest string) error {
	c := gs.s.c
	set := imap.UIDSetNum(uids...)
	if gs.caps.Has(imap.CapMove) {
		_, err := c.Move(set, dest).Wait()
		return err
	}
	if _, err := c.Copy(set, dest).Wait(); err != nil {
		return err
	}
	return gs.deleteNow(ctx, set)
}

// warnNoUIDPlus logs, once per session, that removed messages stay flagged.
func (gs *gateSession) warnNoUIDPlus(ctx context.Context) {
	if gs.warnedPlus {
		return
	}
	gs.warnedPlus = true
	gs.g.log.WarnContext(ctx, "imapx: mailgate: the server lacks UIDPLUS: handled messages are flagged \\Deleted but not expunged (a plain EXPUNGE would also remove messages others flagged); the mailgate ignores them",
		"folder", gs.g.opts.Folder)
}

// isServerRefusal reports a NO or BAD reply, as opposed to a broken
// connection.
func isServerRefusal(err error) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && ie.Type != imap.StatusResponseTypeBye
}

// wait returns when there may be work: new mail, the IDLE renewal or poll
// interval, a retry that is due, the session's renewal time, or ctx.
func (gs *gateSession) wait(ctx context.Context) error {
	g, c := gs.g, gs.s.c
	idle := gs.caps.Has(imap.CapIdle)
	now := gs.now()
	every := g.opts.PollInterval
	if idle {
		every = g.opts.IdleRenew
	}
	wake := now.Add(every)
	if r := g.st.nextRetry(); !r.IsZero() && r.Before(wake) {
		wake = r
	}
	if !gs.reconnectAt.IsZero() && gs.reconnectAt.Before(wake) {
		wake = gs.reconnectAt
	}
	timer := time.NewTimer(max(wake.Sub(now), 0))
	defer timer.Stop()

	var cmd *imapclient.IdleCommand
	if idle {
		var err error
		if cmd, err = c.Idle(); err != nil {
			return phaseError(PhaseIdle, gs.addr, err)
		}
	}
	var closed bool
	select {
	case <-gs.newMail:
	case <-timer.C:
	case <-ctx.Done():
	case <-c.Closed():
		closed = true
	}
	if cmd != nil {
		closeErr := cmd.Close()
		waitErr := cmd.Wait()
		if err := errors.Join(closeErr, waitErr); err != nil {
			return phaseError(PhaseIdle, gs.addr, err)
		}
	}
	if closed {
		return phaseError(PhaseIdle, gs.addr, errConnClosed)
	}
	return nil
}
