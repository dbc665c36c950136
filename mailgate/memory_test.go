package mailgate_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/mailoauth/mailoauth/internal/testclock"
	"github.com/mailoauth/mailoauth/mailgate"
	"github.com/mailoauth/mailoauth/provider"
)

// folder is a mail folder in memory with a mailgate.Backend over it, and
// switches for the failures a backend reports: what the core must do with
// them is the same whatever the transport.
type folder struct {
	clock *testclock.Clock

	mu       sync.Mutex
	epoch    string
	msgs     map[string]*stored
	order    []string
	moved    map[string][]string // destination -> IDs
	opens    int
	openedAt []time.Time
	openErr  []error // returned by the next Opens, one each
	applyErr []error // returned by the next Applies, one each
	applies  map[string]int
	calls    int           // Apply calls
	expiry   time.Duration // sessions' credentials live this long; 0: forever
	perFetch int           // messages per Fetch; 0: all
	poke     chan struct{}
}

type stored struct {
	body string
	seen bool
}

func newFolder() *folder {
	return &folder{
		clock: testclock.New(), epoch: "1", msgs: map[string]*stored{}, moved: map[string][]string{},
		applies: map[string]int{}, poke: make(chan struct{}, 1),
	}
}

// add delivers a message with ID id.
func (f *folder) add(id, body string) {
	f.mu.Lock()
	f.msgs[id] = &stored{body: body}
	f.order = append(f.order, id)
	f.mu.Unlock()
	select {
	case f.poke <- struct{}{}:
	default:
	}
}

// renumber starts a new epoch in which the same messages have new IDs.
func (f *folder) renumber(epoch string, ids map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	msgs := map[string]*stored{}
	var order []string
	for _, old := range f.order {
		if m, ok := f.msgs[old]; ok {
			msgs[ids[old]] = m
			order = append(order, ids[old])
		}
	}
	f.epoch, f.msgs, f.order = epoch, msgs, order
}

func (f *folder) Open(ctx context.Context, p *mailgate.Plan) (mailgate.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opens++
	f.openedAt = append(f.openedAt, f.clock.Now())
	if len(f.openErr) > 0 {
		err := f.openErr[0]
		f.openErr = f.openErr[1:]
		return nil, err
	}
	s := &memSession{f: f, plan: p}
	if f.expiry > 0 {
		s.expiry = f.clock.Now().Add(f.expiry)
	}
	return s, nil
}

func (f *folder) Check(p *mailgate.Plan) error {
	if p.MoveTo == "INBOX" {
		return errors.New("MoveTo is the watched folder")
	}
	return nil
}

type memSession struct {
	f      *folder
	plan   *mailgate.Plan
	expiry time.Time
}

func (s *memSession) Expiry() time.Time { return s.expiry }

func (s *memSession) List(context.Context) (*mailgate.Listing, error) {
	f := s.f
	f.mu.Lock()
	defer f.mu.Unlock()
	l := &mailgate.Listing{Epoch: f.epoch}
	for _, id := range f.order {
		if m, ok := f.msgs[id]; ok && !(s.plan.After == mailgate.MarkSeen && m.seen) {
			l.IDs = append(l.IDs, id)
		}
	}
	return l, nil
}

func (s *memSession) Fetch(_ context.Context, ids []string, yield func(*mailgate.Message) bool) (int, error) {
	f := s.f
	n := len(ids)
	if f.perFetch > 0 {
		n = min(n, f.perFetch)
	}
	for _, id := range ids[:n] {
		f.mu.Lock()
		m, ok := f.msgs[id]
		epoch := f.epoch
		f.mu.Unlock()
		if !ok {
			continue
		}
		msg := &mailgate.Message{Key: mailgate.Key{Folder: "INBOX", Epoch: epoch, ID: id}, Subject: "ticket " + id,
			Size: int64(len(m.body)), Seen: m.seen, Body: strings.NewReader(m.body)}
		if s.plan.MaxSize > 0 && msg.Size > s.plan.MaxSize {
			msg.Body = nil
		}
		if !yield(msg) {
			break
		}
	}
	return n, nil
}

func (s *memSession) Apply(_ context.Context, a mailgate.Action, dest string, ids []string) error {
	f := s.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	var err error
	if len(f.applyErr) > 0 {
		err, f.applyErr = f.applyErr[0], f.applyErr[1:]
	}
	if err != nil && errors.Is(err, mailgate.ErrRefused) {
		return err // refused: nothing happened
	}
	// Otherwise the action takes effect, even when its answer is lost.
	for _, id := range ids {
		f.applies[id]++
		switch a {
		case mailgate.MarkSeen:
			f.msgs[id].seen = true
		case mailgate.Move:
			f.moved[dest] = append(f.moved[dest], id)
			delete(f.msgs, id)
		case mailgate.Delete:
			delete(f.msgs, id)
		}
	}
	return err
}

func (s *memSession) Wait(ctx context.Context, within time.Duration) error {
	if within > 0 {
		s.f.clock.Advance(within)
		return nil
	}
	select {
	case <-s.f.poke:
	case <-ctx.Done():
	}
	return nil
}

func (s *memSession) Close() error { return nil }

// refused is a server's refusal of one request.
func refused(text string) error { return fmt.Errorf("%w: %s", mailgate.ErrRefused, text) }

// errLost is an answer the connection lost: the action may have run.
var errLost = errors.New("connection reset")

// throttled is a server's answer asking to wait.
type throttled struct{ wait time.Duration }

func (t throttled) Error() string { return "throttled" }
func (t throttled) Reply() provider.Reply {
	return provider.Reply{Layer: provider.LayerIMAP, Status: "BAD", Text: "Request is throttled", Wait: t.wait}
}

// handlerLog records handler calls; fail decides an error per call.
type handlerLog struct {
	mu    sync.Mutex
	calls map[string]int
	ok    map[string]int
	fail  func(id string, n int) error
}

func newHandlerLog() *handlerLog {
	return &handlerLog{calls: map[string]int{}, ok: map[string]int{}}
}

func (h *handlerLog) handle(_ context.Context, m *mailgate.Message) error {
	body, err := io.ReadAll(m.Body)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls[m.Key.ID]++
	if h.fail != nil {
		if err := h.fail(m.Key.ID, h.calls[m.Key.ID]); err != nil {
			return err
		}
	}
	if len(body) == 0 {
		return errors.New("empty body")
	}
	h.ok[m.Key.ID]++
	return nil
}

func (h *handlerLog) succeeded() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ok)
}

func (h *handlerLog) callsOf(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[id]
}
