package mailgate_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/internal/testrun"
	"github.com/mailoauth/mailoauth/mailgate"
	"github.com/mailoauth/mailoauth/retry"
)

// logs is a slog JSON log in memory.
type logs = testrun.Log

// options returns gate options on f's clock with log l (nil: none).
func options(f *folder, l *logs) *mailgate.Options {
	o := &mailgate.Options{
		Clock:            f.clock,
		RetryBackoff:     retry.Backoff{Min: time.Minute, Max: time.Minute},
		ReconnectBackoff: retry.Backoff{Min: time.Second, Max: time.Second},
	}
	if l != nil {
		o.Logger = l.Logger()
	}
	return o
}

// start runs g until the test ends or stop is called; stop returns Run's
// error.
func start(t *testing.T, g *mailgate.Gate) (stop func() error) {
	t.Helper()
	return testrun.Start(t, g.Run)
}

// eventually polls cond until it holds or 10 seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testrun.Eventually(t, 10*time.Second, what, cond)
}

func (f *folder) applied(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applies[id]
}

func (f *folder) sessions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opens
}

func TestGateHandsEachMessageOverOnceAndAppliesItsAction(t *testing.T) {
	for _, after := range []mailgate.Action{mailgate.MarkSeen, mailgate.Move, mailgate.Delete} {
		t.Run(after.String(), func(t *testing.T) {
			f := newFolder()
			f.perFetch = 2 // several Fetches, each followed by its actions
			for _, id := range []string{"1", "2", "3", "4", "5"} {
				f.add(id, "body of "+id)
			}
			h := newHandlerLog()
			o := options(f, nil)
			o.After, o.MoveTo = after, "Done"
			stop := start(t, mailgate.New(f, o, h.handle))
			eventually(t, "5 messages handled and acted on", func() bool {
				return h.succeeded() == 5 && f.applied("5") == 1
			})
			f.add("6", "late")
			eventually(t, "the late one", func() bool { return f.applied("6") == 1 })
			if err := stop(); !errors.Is(err, context.Canceled) {
				t.Fatalf("Run: %v", err)
			}
			for _, id := range []string{"1", "2", "3", "4", "5", "6"} {
				if h.callsOf(id) != 1 || f.applied(id) != 1 {
					t.Errorf("message %s: %d handler calls, %d actions; want 1 and 1", id, h.callsOf(id), f.applied(id))
				}
			}
			if after == mailgate.Move && len(f.moved["Done"]) != 6 {
				t.Errorf("moved %v, want all 6 in Done", f.moved)
			}
		})
	}
}

func TestGateRetriesAFailedMessageAfterTheBackoffAndLeavesItUntouched(t *testing.T) {
	f := newFolder()
	f.add("1", "one")
	f.add("2", "two")
	h := newHandlerLog()
	var first, second time.Time
	h.fail = func(id string, n int) error {
		if id != "2" {
			return nil
		}
		switch n {
		case 1:
			first = f.clock.Now()
			return errors.New("ticket system down")
		case 2:
			second = f.clock.Now()
		}
		return nil
	}
	var l logs
	start(t, mailgate.New(f, options(f, &l), h.handle))
	eventually(t, "2 handled on its second attempt", func() bool { return h.succeeded() == 2 && f.applied("2") == 1 })
	if f.applied("1") != 1 || h.callsOf("2") != 2 {
		t.Errorf("message 1 acted on %d times, message 2 tried %d times; want 1 and 2", f.applied("1"), h.callsOf("2"))
	}
	// The backoff is one minute, with equal jitter: at least 30 seconds.
	if gap := second.Sub(first); gap < 30*time.Second {
		t.Errorf("retried after %v, before the backoff", gap)
	}
	if !strings.Contains(l.String(), "ticket system down") {
		t.Error("the handler's failure was not logged")
	}
}

func TestGateSettlesAnActionWhoseAnswerWasLost(t *testing.T) {
	f := newFolder()
	f.add("1", "one")
	f.applyErr = []error{errLost} // the \Seen took effect, its answer did not arrive
	h := newHandlerLog()
	start(t, mailgate.New(f, options(f, nil), h.handle))
	eventually(t, "a second session", func() bool { return f.sessions() >= 2 })
	f.add("2", "two")
	eventually(t, "the next message handled", func() bool { return f.applied("2") == 1 })
	if h.callsOf("1") != 1 || f.applied("1") != 1 {
		t.Errorf("message 1: %d handler calls, %d actions; want 1 and 1", h.callsOf("1"), f.applied("1"))
	}
}

func TestGateAppliesAgainAnActionTheServerRefused(t *testing.T) {
	f := newFolder()
	f.add("1", "one")
	f.applyErr = []error{refused("NO mailbox busy"), refused("NO mailbox still busy")}
	h := newHandlerLog()
	var l logs
	o := options(f, &l)
	o.After, o.MoveTo = mailgate.Move, "Done"
	start(t, mailgate.New(f, o, h.handle))
	applyCalls := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.calls
	}
	eventually(t, "the first refusal", func() bool { return applyCalls() >= 1 })
	f.add("2", "two") // a sweep: the move of 1 refused again
	eventually(t, "the second refusal", func() bool { return applyCalls() >= 2 })
	f.add("3", "three") // a sweep: the moves go through
	eventually(t, "all moved", func() bool { return f.applied("1") == 1 && f.applied("2") == 1 && f.applied("3") == 1 })
	for _, id := range []string{"1", "2", "3"} {
		if h.callsOf(id) != 1 {
			t.Errorf("message %s handled %d times, want once: the handler's success outlives the refusals", id, h.callsOf(id))
		}
	}
	if f.sessions() != 1 {
		t.Errorf("%d sessions, want 1: a refusal keeps the session", f.sessions())
	}
	if !strings.Contains(l.String(), "mailbox still busy") {
		t.Error("the refusals were not logged")
	}
}

func TestGateForgetsWhatItHandledWhenTheEpochChanges(t *testing.T) {
	f := newFolder()
	f.add("1", "one")
	h := newHandlerLog()
	h.fail = func(id string, n int) error {
		if id == "1" {
			return errors.New("not now")
		}
		return nil
	}
	var l logs
	start(t, mailgate.New(f, options(f, &l), h.handle))
	eventually(t, "the first attempt", func() bool { return h.callsOf("1") >= 1 })
	f.renumber("2", map[string]string{"1": "1"}) // same ID, another message space
	h.mu.Lock()
	h.fail = nil
	h.mu.Unlock()
	f.add("2", "two")
	eventually(t, "both handled", func() bool { return f.applied("1") == 1 && f.applied("2") == 1 })
	if !strings.Contains(l.String(), "epoch changed") {
		t.Errorf("the new epoch was not logged:\n%s", l.String())
	}
}

func TestGateSetsOversizeMessagesAside(t *testing.T) {
	for _, dest := range []string{"Too big", ""} {
		t.Run("OversizeFolder="+dest, func(t *testing.T) {
			f := newFolder()
			f.add("1", "small")
			f.add("2", strings.Repeat("x", 100))
			f.add("3", "small")
			h := newHandlerLog()
			var l logs
			o := options(f, &l)
			o.MaxSize, o.OversizeFolder = 50, dest
			start(t, mailgate.New(f, o, h.handle))
			eventually(t, "the small ones", func() bool { return f.applied("1") == 1 && f.applied("3") == 1 })
			f.add("4", "small")
			eventually(t, "a later sweep", func() bool { return f.applied("4") == 1 })
			if h.callsOf("2") != 0 {
				t.Error("the handler got the oversize message")
			}
			wantMoved := 0
			if dest != "" {
				wantMoved = 1
			}
			if f.applied("2") != wantMoved || len(f.moved[dest]) != wantMoved {
				t.Errorf("the oversize message was acted on %d times (moved %v), want %d", f.applied("2"), f.moved, wantMoved)
			}
			if n := strings.Count(l.String(), "larger than MaxSize"); n != 1 {
				t.Errorf("the oversize message was logged %d times, want once", n)
			}
		})
	}
}

func TestGateRenewsTheSessionBeforeItsCredentialsExpire(t *testing.T) {
	f := newFolder()
	f.expiry = time.Hour
	f.add("1", "one")
	h := newHandlerLog()
	h.fail = func(string, int) error { return errors.New("retry in a minute") } // keeps the clock moving
	var l logs
	o := options(f, &l)
	o.ReconnectBeforeExpiry = 10 * time.Minute
	start(t, mailgate.New(f, o, h.handle))
	eventually(t, "a renewed session", func() bool { return f.sessions() >= 2 })
	f.mu.Lock()
	renewed := f.openedAt[1].Sub(f.openedAt[0])
	f.mu.Unlock()
	if renewed != 50*time.Minute {
		t.Errorf("the session opened with credentials for an hour was renewed after %v, want 50m (10m before expiry)", renewed)
	}
	if !strings.Contains(l.String(), "renewing the session") {
		t.Error("the renewal was not logged")
	}
}

func TestGateWaitsAsLongAsTheServerAsks(t *testing.T) {
	f := newFolder()
	f.openErr = []error{throttled{wait: 5 * time.Minute}}
	h := newHandlerLog()
	t0 := f.clock.Now()
	var l logs
	start(t, mailgate.New(f, options(f, &l), h.handle))
	eventually(t, "the second session", func() bool { return f.sessions() >= 2 })
	if waited := f.clock.Now().Sub(t0); waited < 5*time.Minute {
		t.Errorf("reconnected after %v, before the 5 minutes the server asked for", waited)
	}
	if !strings.Contains(l.String(), "throttling") {
		t.Error("the throttling was not logged")
	}
}

func TestGateOpensANewSessionAtOnceWhenTheServerSaysItsCredentialsExpired(t *testing.T) {
	f := newFolder()
	h := newHandlerLog()
	var l logs
	o := options(f, &l)
	o.ReconnectBackoff = retry.Backoff{Min: time.Hour, Max: time.Hour}
	start(t, mailgate.New(&expiringSession{folder: f}, o, h.handle))
	eventually(t, "a second session", func() bool { return f.sessions() >= 2 })
	f.mu.Lock()
	waited := f.openedAt[1].Sub(f.openedAt[0])
	f.mu.Unlock()
	if waited != 0 {
		t.Errorf("the gate waited %v before the new session, want no wait", waited)
	}
	if strings.Contains(l.String(), `"level":"WARN"`) {
		t.Errorf("an expected end of session was logged as a warning:\n%s", l.String())
	}
}

// expiringSession is a backend whose first session's Wait fails with
// mailgate.ErrSessionExpired.
type expiringSession struct {
	*folder
	ended bool
}

func (e *expiringSession) Open(ctx context.Context, p *mailgate.Plan) (mailgate.Session, error) {
	s, err := e.folder.Open(ctx, p)
	if err != nil || e.ended {
		return s, err
	}
	e.ended = true
	return &endingSession{Session: s}, nil
}

type endingSession struct{ mailgate.Session }

func (endingSession) Wait(context.Context, time.Duration) error {
	return mailgate.ErrSessionExpired
}

func TestGateRejectsWhatCannotWork(t *testing.T) {
	f := newFolder()
	h := newHandlerLog()
	cases := map[string]*mailgate.Options{
		"Move without MoveTo":   {After: mailgate.Move},
		"unknown action":        {After: mailgate.Action(42)},
		"negative MaxSize":      {MaxSize: -1},
		"rejected by the Check": {After: mailgate.Move, MoveTo: "INBOX"},
	}
	for name, o := range cases {
		if err := mailgate.New(f, o, h.handle).Run(context.Background()); err == nil {
			t.Errorf("%s: Run accepted it", name)
		}
	}
	if err := mailgate.New(f, nil, nil).Run(context.Background()); err == nil {
		t.Error("Run accepted a nil handler")
	}
	if f.sessions() != 0 {
		t.Errorf("%d sessions opened for unusable options", f.sessions())
	}
}

func TestGateFinishesTheMessageInHandWhenCancelled(t *testing.T) {
	f := newFolder()
	f.add("1", "one")
	f.add("2", "two")
	in, release := make(chan struct{}), make(chan struct{})
	var handlerCtxErr error
	h := newHandlerLog()
	h.fail = func(id string, n int) error {
		if id == "1" {
			close(in)
			<-release
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	g := mailgate.New(f, options(f, nil), func(hctx context.Context, m *mailgate.Message) error {
		err := h.handle(hctx, m)
		handlerCtxErr = hctx.Err()
		return err
	})
	go func() { done <- g.Run(ctx) }()
	<-in
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) while the handler was working", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	if handlerCtxErr != nil || f.applied("1") != 1 || h.callsOf("2") != 0 {
		t.Errorf("handler context %v, message 1 acted on %d times, message 2 handled %d times; want nil, 1, 0",
			handlerCtxErr, f.applied("1"), h.callsOf("2"))
	}
}

func TestGateBodyIsValidOnlyDuringTheHandler(t *testing.T) {
	f := newFolder()
	f.add("1", "one")
	var kept *mailgate.Message
	got := make(chan struct{})
	g := mailgate.New(f, options(f, nil), func(_ context.Context, m *mailgate.Message) error {
		kept = m
		close(got)
		return nil
	})
	stop := start(t, g)
	<-got
	eventually(t, "the action", func() bool { return f.applied("1") == 1 })
	stop()
	if _, err := kept.Body.Read(make([]byte, 8)); err == nil {
		t.Error("the body could be read after the handler returned")
	}
}
