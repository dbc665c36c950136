package imapx

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailoauth/mailoauth/mailgate"
)

// Apply implements mailgate.Session: \Seen, a move, or \Deleted and UID
// EXPUNGE of exactly uids, confirmed by the server.
func (fs *folderSession) Apply(ctx context.Context, a mailgate.Action, folder string, ids []string) error {
	uids, err := parseUIDs(ids)
	if err != nil {
		return err
	}
	set := imap.UIDSetNum(uids...)
	switch a {
	case mailgate.MarkSeen:
		err = fs.s.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close()
	case mailgate.Move:
		err = fs.move(ctx, uids, folder)
	case mailgate.Delete:
		err = fs.remove(ctx, uids)
	default:
		err = fmt.Errorf("unknown action %v", a)
	}
	return fs.fail(PhaseAction, err)
}

// copyAttempt is a COPY of the move fallback whose messages are not
// flagged \Deleted yet: done once the server confirmed it; otherwise its
// reply was lost, and it may or may not have taken effect (what the
// destination held before it tells).
type copyAttempt struct {
	dest     string
	validity uint32   // the destination's UIDVALIDITY before the COPY
	uidNext  imap.UID // the destination's UIDNEXT before the COPY
	done     bool     // the server confirmed the COPY
}

// move moves uids to dest: MOVE where the server has it (RFC 6851: atomic,
// so a lost reply shows in the next session's search). Otherwise COPY, and
// only once the COPY took effect, \Deleted and UID EXPUNGE of exactly
// those messages (go-imap's own fallback pipelines the three, and a plain
// EXPUNGE would also remove messages others flagged \Deleted; its STORE and
// EXPUNGE run even when the COPY failed: v2.0.0-beta.8, no upstream issue,
// TestUpstreamMoveFallbackDeletesWhenTheCopyFails pins it). A COPY whose
// reply was lost is not repeated blindly: the destination is checked for
// the messages first (see copied).
func (fs *folderSession) move(ctx context.Context, uids []imap.UID, dest string) error {
	c := fs.s.c
	if fs.caps.Has(imap.CapMove) {
		_, err := c.Move(imap.UIDSetNum(uids...), dest).Wait()
		return err
	}
	done, todo, err := fs.copied(ctx, uids, dest)
	if err != nil {
		return err
	}
	if len(todo) > 0 {
		st, err := c.Status(dest, &imap.StatusOptions{UIDNext: true, UIDValidity: true}).Wait()
		if err != nil {
			return err
		}
		attempt := &copyAttempt{dest: dest, validity: st.UIDValidity, uidNext: st.UIDNext}
		for _, uid := range todo {
			fs.b.copies[uid] = attempt
		}
		_, err = c.Copy(imap.UIDSetNum(todo...), dest).Wait()
		switch {
		case err == nil:
			attempt.done = true
			done = append(done, todo...)
		case isServerRefusal(err):
			// Not done at all: a failed COPY leaves the destination as
			// it was (RFC 3501 §6.4.7).
			for _, uid := range todo {
				delete(fs.b.copies, uid)
			}
			return err
		default:
			return err
		}
	}
	if err := fs.remove(ctx, done); err != nil {
		return err
	}
	for _, uid := range done {
		delete(fs.b.copies, uid)
	}
	return nil
}

// copied sorts uids into those an earlier COPY to dest, whose reply was
// lost, did copy, and those still to copy. Nothing new in dest since that
// COPY (its UIDNEXT unchanged) means it did not run; otherwise the
// messages that arrived in dest since are compared with the source's by
// Message-ID, or by size, date and subject when there is none. Looking
// into dest selects it for a moment, then the watched folder again.
func (fs *folderSession) copied(ctx context.Context, uids []imap.UID, dest string) (done, todo []imap.UID, err error) {
	var (
		uncertain []imap.UID
		since     imap.UID // the lowest UIDNEXT of the attempts
		now       *imap.StatusData
	)
	c := fs.s.c
	for _, uid := range uids {
		a := fs.b.copies[uid]
		switch {
		case a == nil || a.dest != dest:
			todo = append(todo, uid)
			continue
		case a.done:
			done = append(done, uid)
			continue
		}
		if now == nil {
			if now, err = c.Status(dest, &imap.StatusOptions{UIDNext: true, UIDValidity: true}).Wait(); err != nil {
				return nil, nil, err
			}
		}
		if now.UIDValidity != a.validity || now.UIDNext == a.uidNext {
			delete(fs.b.copies, uid) // nothing of ours arrived
			todo = append(todo, uid)
			continue
		}
		uncertain = append(uncertain, uid)
		if since == 0 || a.uidNext < since {
			since = a.uidNext
		}
	}
	if len(uncertain) == 0 {
		return done, todo, nil
	}
	fs.b.log.InfoContext(ctx, "imapx: checking whether a COPY whose reply was lost took effect",
		"count", len(uncertain), "folder", dest)
	opts := &imap.FetchOptions{UID: true, Envelope: true, RFC822Size: true, InternalDate: true}
	sources, err := c.Fetch(imap.UIDSetNum(uncertain...), opts).Collect()
	if err != nil {
		return nil, nil, err
	}
	if _, err := c.Select(dest, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return nil, nil, err
	}
	arrived, fetchErr := c.Fetch(imap.UIDSet{imap.UIDRange{Start: since, Stop: 0}}, opts).Collect()
	back, err := c.Select(fs.b.opts.Folder, nil).Wait()
	if err = errors.Join(fetchErr, err); err != nil {
		return nil, nil, err
	}
	if back.UIDValidity != fs.validity {
		return nil, nil, fmt.Errorf("the UIDVALIDITY of %q changed from %d to %d", fs.b.opts.Folder, fs.validity, back.UIDValidity)
	}
	taken := make([]bool, len(arrived))
	for _, src := range sources {
		found := false
		for i, a := range arrived {
			if !taken[i] && a.UID >= since && sameMessage(src, a) {
				taken[i], found = true, true
				break
			}
		}
		delete(fs.b.copies, src.UID)
		if found {
			done = append(done, src.UID)
		} else {
			todo = append(todo, src.UID)
		}
	}
	// A source message gone meanwhile is no longer ours to move.
	return done, todo, nil
}

// forgetCopies drops the COPY attempts of messages no longer listed:
// flagged \Deleted, so settled, or gone.
func (fs *folderSession) forgetCopies(listed []imap.UID) {
	if len(fs.b.copies) == 0 {
		return
	}
	set := imap.UIDSetNum(listed...)
	for uid := range fs.b.copies {
		if !set.Contains(uid) {
			delete(fs.b.copies, uid)
		}
	}
}

// sameMessage reports whether b looks like a copy of a.
func sameMessage(a, b *imapclient.FetchMessageBuffer) bool {
	if a.Envelope != nil && b.Envelope != nil && a.Envelope.MessageID != "" {
		return a.Envelope.MessageID == b.Envelope.MessageID
	}
	subject := func(m *imapclient.FetchMessageBuffer) string {
		if m.Envelope == nil {
			return ""
		}
		return strings.TrimSpace(m.Envelope.Subject)
	}
	return a.RFC822Size == b.RFC822Size && a.InternalDate.Equal(b.InternalDate) && subject(a) == subject(b)
}

// remove sets \Deleted on uids and expunges exactly those messages (UID
// EXPUNGE); without UIDPLUS they stay flagged, and searches skip them. An
// expunge whose reply is lost is repeated by the next session's List.
func (fs *folderSession) remove(ctx context.Context, uids []imap.UID) error {
	if len(uids) == 0 {
		return nil
	}
	c := fs.s.c
	plus := fs.caps.Has(imap.CapUIDPlus)
	if plus {
		// Noted first: the STORE may take effect and its reply be lost.
		// Expunging a UID that is not flagged \Deleted does nothing.
		fs.b.expunge.AddNum(uids...)
	}
	if err := c.Store(imap.UIDSetNum(uids...), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		return err
	}
	if !plus {
		fs.warnNoUIDPlus(ctx)
		return nil
	}
	if err := c.UIDExpunge(fs.b.expunge).Close(); err != nil {
		return err
	}
	fs.b.expunge = nil
	return nil
}

// expungeLeftovers expunges the messages an earlier session flagged
// \Deleted without confirming the UID EXPUNGE.
func (fs *folderSession) expungeLeftovers(ctx context.Context) error {
	if len(fs.b.expunge) == 0 || !fs.caps.Has(imap.CapUIDPlus) {
		return nil
	}
	if err := fs.s.c.UIDExpunge(fs.b.expunge).Close(); err != nil {
		return fs.fail(PhaseAction, err)
	}
	fs.b.expunge = nil
	return nil
}

// warnNoUIDPlus logs, once per session, that removed messages stay flagged.
func (fs *folderSession) warnNoUIDPlus(ctx context.Context) {
	if fs.warnedPlus {
		return
	}
	fs.warnedPlus = true
	fs.b.log.WarnContext(ctx, "imapx: the server lacks UIDPLUS: handled messages are flagged \\Deleted but not expunged (a plain EXPUNGE would also remove messages others flagged); the mailgate ignores them",
		"folder", fs.b.opts.Folder)
}

// isServerRefusal reports a NO or BAD reply, as opposed to a broken
// connection.
func isServerRefusal(err error) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && ie.Type != imap.StatusResponseTypeBye
}
