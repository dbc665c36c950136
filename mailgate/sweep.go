package mailgate

import (
	"context"
	"errors"
	"io"
	"time"
)

// work is one session of a Gate.
type work struct {
	g       *Gate
	s       Session
	renewAt time.Time
}

func (w *work) now() time.Time { return w.g.opts.Clock.Now() }

// renewDue reports whether the session's credentials are about to expire.
func (w *work) renewDue() bool {
	return !w.renewAt.IsZero() && !w.now().Before(w.renewAt)
}

// run sweeps and waits until something ends the session.
func (w *work) run(ctx context.Context) error {
	for {
		if err := w.sweep(ctx); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if w.renewDue() {
			return errRenew
		}
		if err := w.s.Wait(ctx, w.within()); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// within returns how long the session may wait at most: until the next
// retry or the renewal; zero when nothing is scheduled.
func (w *work) within() time.Duration {
	wake := w.g.st.nextRetry()
	if !w.renewAt.IsZero() && (wake.IsZero() || w.renewAt.Before(wake)) {
		wake = w.renewAt
	}
	if wake.IsZero() {
		return 0
	}
	return max(wake.Sub(w.now()), time.Nanosecond)
}

// sweep handles every message not yet handled.
func (w *work) sweep(ctx context.Context) error {
	l, err := w.s.List(ctx)
	if err != nil {
		return err
	}
	st := w.g.epoch(ctx, l.Epoch)
	present := make(map[string]struct{}, len(l.IDs))
	for _, id := range l.IDs {
		present[id] = struct{}{}
	}
	st.forgetMissing(present)
	if err := w.settle(ctx, l.IDs, present); err != nil {
		return err
	}
	now := w.now()
	var todo []string
	for _, id := range l.IDs {
		if !st.handled(id) && st.due(id, now) {
			todo = append(todo, id)
		}
	}
	for len(todo) > 0 {
		if ctx.Err() != nil || w.renewDue() {
			return nil
		}
		n, err := w.fetch(ctx, todo)
		if err != nil {
			return err
		}
		todo = todo[min(n, len(todo)):]
	}
	return nil
}

// settle applies the actions a broken session left unconfirmed. A message
// that is no longer a candidate shows the action took effect.
func (w *work) settle(ctx context.Context, ids []string, present map[string]struct{}) error {
	st := w.g.st
	for id := range st.pending {
		if _, ok := present[id]; !ok {
			st.confirm(id)
		}
	}
	var again []string
	for _, id := range ids {
		if st.isPending(id) {
			again = append(again, id)
		}
	}
	if len(again) == 0 {
		return nil
	}
	w.g.log.InfoContext(ctx, "mailgate: applying again actions not confirmed yet",
		"count", len(again), "action", w.g.opts.After.String())
	return w.apply(ctx, w.g.opts.After, w.g.opts.MoveTo, again)
}

// errNoProgress reports a backend whose Fetch went through no message.
var errNoProgress = errors.New("mailgate: the backend's Fetch went through no message")

// fetch hands over the messages of one Fetch of the backend and applies
// their actions; it returns how many of ids the backend went through.
func (w *work) fetch(ctx context.Context, ids []string) (int, error) {
	var (
		handled, oversize []string
		stopped           bool
	)
	n, err := w.s.Fetch(ctx, ids, func(m *Message) bool {
		if stopped || ctx.Err() != nil || w.renewDue() {
			stopped = true
			return false
		}
		switch w.deliver(ctx, m) {
		case outcomeHandled:
			handled = append(handled, m.Key.ID)
		case outcomeOversize:
			oversize = append(oversize, m.Key.ID)
		}
		return true
	})
	if err != nil {
		// The handled messages stay pending; the next session settles them.
		return 0, err
	}
	if n <= 0 {
		return 0, errNoProgress
	}
	if len(oversize) > 0 {
		if err := w.setAside(ctx, oversize); err != nil {
			return 0, err
		}
	}
	if len(handled) > 0 {
		if err := w.apply(ctx, w.g.opts.After, w.g.opts.MoveTo, handled); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// outcome is what became of a message handed over by Fetch.
type outcome int

const (
	outcomeSkipped  outcome = iota // nothing to do now
	outcomeHandled                 // the handler succeeded; the action is due
	outcomeOversize                // larger than MaxSize; to be set aside
)

// deliver calls the handler for one message and records the outcome.
func (w *work) deliver(ctx context.Context, m *Message) outcome {
	g, st := w.g, w.g.st
	id := m.Key.ID
	if st.handled(id) {
		return outcomeSkipped
	}
	if m.Body == nil {
		g.log.WarnContext(ctx, "mailgate: message larger than MaxSize not handed to the handler",
			"folder", m.Key.Folder, "id", id, "size", m.Size, "max_size", g.opts.MaxSize,
			"moved_to", g.opts.OversizeFolder, "subject", m.Subject)
		if g.opts.OversizeFolder == "" {
			st.confirm(id) // skipped for good in this process
			return outcomeSkipped
		}
		return outcomeOversize
	}
	b := &body{r: m.Body}
	handed := *m
	handed.Body = b
	err := g.call(ctx, &handed)
	bodyErr := b.finish()
	if err != nil {
		f := st.failed(id, w.now(), g.opts.RetryBackoff)
		g.log.WarnContext(ctx, "mailgate: handler failed; the message stays untouched and is tried again later",
			"folder", m.Key.Folder, "id", id, "subject", m.Subject,
			"attempts", f.attempts, "retry_at", f.next, "error", err)
		return outcomeSkipped
	}
	if bodyErr != nil {
		g.log.WarnContext(ctx, "mailgate: the handler succeeded although the message body could not be read to the end",
			"id", id, "error", bodyErr)
	}
	st.succeeded(id)
	g.log.DebugContext(ctx, "mailgate: message handled", "id", id)
	return outcomeHandled
}

// setAside moves messages larger than MaxSize to OversizeFolder.
func (w *work) setAside(ctx context.Context, ids []string) error {
	return w.apply(ctx, Move, w.g.opts.OversizeFolder, ids)
}

// apply applies a to ids and records the outcome.
func (w *work) apply(ctx context.Context, a Action, folder string, ids []string) error {
	err := w.s.Apply(ctx, a, folder, ids)
	switch {
	case err == nil:
		for _, id := range ids {
			w.g.st.confirm(id)
		}
		return nil
	case errors.Is(err, ErrRefused):
		w.g.log.ErrorContext(ctx, "mailgate: the server refused the action; trying again at the next check",
			"count", len(ids), "action", a.String(), "to", folder, "error", err)
		return nil
	}
	return err
}

// errBodyAfterHandler is returned by a Message.Body read after the handler
// returned.
var errBodyAfterHandler = errors.New("mailgate: Message.Body read after the handler returned")

// body is Message.Body as the handler sees it: it stops working when the
// handler returns, and remembers why it could not be read to the end.
type body struct {
	r    io.Reader
	done bool  // the handler returned
	err  error // the first read error other than io.EOF
}

func (b *body) Read(p []byte) (int, error) {
	if b.done {
		return 0, errBodyAfterHandler
	}
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// finish reads what the handler left unread, so that a body cut off by a
// broken connection is noticed, and closes the body. It returns the read
// error, if any.
func (b *body) finish() error {
	if !b.done && b.err == nil {
		_, _ = io.Copy(io.Discard, b)
	}
	b.done = true
	return b.err
}
