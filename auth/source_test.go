package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.Advance(d)
	return ctx.Err()
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingBase is a Refresher whose behaviour a test sets with fn; it
// counts calls and can hold them until released.
type countingBase struct {
	calls   atomic.Int64
	entered chan struct{} // when set, receives one value per call
	hold    chan struct{} // when set, calls wait until it is closed
	fn      func(n int64) (*oauth2.Token, error)
}

func (b *countingBase) Refresh(context.Context, *oauth2.Token) (*oauth2.Token, error) {
	n := b.calls.Add(1)
	if b.entered != nil {
		b.entered <- struct{}{}
	}
	if b.hold != nil {
		<-b.hold
	}
	return b.fn(n)
}

// freshTokens returns a fn that issues "tok-<n>" living life on clock.
func freshTokens(clock func() time.Time, life time.Duration) func(int64) (*oauth2.Token, error) {
	return func(n int64) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: fmt.Sprintf("tok-%d", n), Expiry: clock().Add(life)}, nil
	}
}

// downWhen returns a fn that fails with "idp down" while fail is set and
// otherwise issues "tok-<n>" living an hour on clock.
func downWhen(fail *atomic.Bool, clock *fakeClock) func(int64) (*oauth2.Token, error) {
	fresh := freshTokens(clock.Now, time.Hour)
	return func(n int64) (*oauth2.Token, error) {
		if fail.Load() {
			return nil, errors.New("idp down")
		}
		return fresh(n)
	}
}

// waitIdle waits until no refresh is running.
func waitIdle(t *testing.T, s *Source) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.busy.Load() {
		if time.Now().After(deadline) {
			t.Fatal("refresh still running after 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

func mustToken(t *testing.T, s *Source) *oauth2.Token {
	t.Helper()
	tok, err := s.Token(context.Background())
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	return tok
}

func TestSourceColdStartSingleFlight(t *testing.T) {
	const callers = 1000
	base := &countingBase{hold: make(chan struct{}), fn: freshTokens(time.Now, time.Hour)}
	s := NewSource(base, nil)

	var started, done sync.WaitGroup
	results := make([]*oauth2.Token, callers)
	errs := make([]error, callers)
	for i := range callers {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			results[i], errs[i] = s.Token(context.Background())
		}()
	}
	started.Wait()
	// Give the callers time to pile up behind the held refresh; the
	// assertion below holds however many got there first.
	for base.calls.Load() == 0 {
		runtime.Gosched()
	}
	time.Sleep(20 * time.Millisecond)
	close(base.hold)
	done.Wait()

	if n := base.calls.Load(); n != 1 {
		t.Fatalf("base called %d times for %d concurrent callers, want 1", n, callers)
	}
	for i := range callers {
		if errs[i] != nil || results[i] == nil || results[i].AccessToken != "tok-1" {
			t.Fatalf("caller %d got %v, %v; want tok-1", i, results[i], errs[i])
		}
	}
	if st := s.Stats(); st != (SourceStats{Refreshes: 1}) {
		t.Errorf("Stats = %+v, want 1 refresh", st)
	}
}

func TestSourceInvalidateBurstRefreshesOnce(t *testing.T) {
	const callers = 100
	base := &countingBase{fn: freshTokens(time.Now, time.Hour)}
	s := NewSource(base, nil)
	rejected := mustToken(t, s)

	start := make(chan struct{})
	var wg sync.WaitGroup
	got := make([]*oauth2.Token, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Each goroutine saw the server refuse the same token.
			s.Invalidate(&oauth2.Token{AccessToken: rejected.AccessToken})
			got[i], _ = s.Token(context.Background())
		}()
	}
	close(start)
	wg.Wait()

	if n := base.calls.Load(); n != 2 {
		t.Fatalf("base called %d times (1 warm-up + refreshes), want 2", n)
	}
	for i, tok := range got {
		if tok == nil || tok.AccessToken != "tok-2" {
			t.Fatalf("caller %d got %v, want tok-2", i, tok)
		}
	}
	// Invalidating a token that is no longer cached changes nothing.
	s.Invalidate(rejected)
	s.Invalidate(nil)
	if tok := mustToken(t, s); tok.AccessToken != "tok-2" || base.calls.Load() != 2 {
		t.Errorf("after stale Invalidate: %v and %d calls, want tok-2 and 2", tok.AccessToken, base.calls.Load())
	}
	// Invalidating the current token does refresh.
	s.Invalidate(got[0])
	if tok := mustToken(t, s); tok.AccessToken != "tok-3" {
		t.Errorf("after Invalidate(current): %v, want tok-3", tok.AccessToken)
	}
}

func TestSourceFailureBurstIsSpacedByBackoff(t *testing.T) {
	clock := newFakeClock()
	outage := &oauth2.RetrieveError{ErrorCode: "temporarily_unavailable", ErrorDescription: "AADSTS90033"}
	var down atomic.Bool
	down.Store(true)
	base := &countingBase{fn: func(n int64) (*oauth2.Token, error) {
		if down.Load() {
			return nil, outage
		}
		return &oauth2.Token{AccessToken: "back", Expiry: clock.Now().Add(time.Hour)}, nil
	}}
	var hookErrs atomic.Int64
	s := NewSource(base, &SourceOptions{Clock: clock, OnRefreshError: func(err error) {
		if errors.Is(err, outage) {
			hookErrs.Add(1)
		}
	}})

	// 100 callers every 100 ms for 10 s of outage.
	const callers, step, period = 100, 100 * time.Millisecond, 10 * time.Second
	for elapsed := time.Duration(0); elapsed < period; elapsed += step {
		var wg sync.WaitGroup
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok, err := s.Token(context.Background())
				var re *oauth2.RetrieveError
				if tok != nil || !errors.As(err, &re) || re.ErrorCode != "temporarily_unavailable" {
					t.Errorf("Token = %v, %v; want the provider's error inside", tok, err)
				}
			}()
		}
		wg.Wait()
		waitIdle(t, s)
		clock.Advance(step)
	}
	calls := base.calls.Load()
	t.Logf("%d base calls for %d Token calls over %v", calls, callers*int(period/step), period)
	// Backoff 1 s, 2 s, 4 s, 8 s, each jittered to [d/2, d]: 4 or 5 attempts.
	if calls < 3 || calls > 6 {
		t.Errorf("base called %d times in a 10 s outage, want 3 to 6", calls)
	}
	if st := s.Stats(); st.Failures != calls || st.Refreshes != 0 {
		t.Errorf("Stats = %+v, want %d failures", st, calls)
	}
	if hookErrs.Load() != calls {
		t.Errorf("OnRefreshError called %d times, want %d", hookErrs.Load(), calls)
	}

	// When the provider is back, the next attempt after the backoff succeeds.
	down.Store(false)
	clock.Advance(failureBackoff.Max)
	if tok := mustToken(t, s); tok.AccessToken != "back" {
		t.Errorf("after recovery got %q", tok.AccessToken)
	}
	if st := s.Stats(); st.Refreshes != 1 {
		t.Errorf("Stats after recovery = %+v, want 1 refresh", st)
	}
}

func TestSourceCallerStopsWaitingWhenContextEnds(t *testing.T) {
	base := &contextBase{hold: make(chan struct{})}
	s := NewSource(base, nil)

	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), callerKey{}, "from caller"))
	errc := make(chan error, 1)
	go func() {
		_, err := s.Token(ctx)
		errc <- err
	}()
	<-base.entered()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Token after cancel = %v, want context.Canceled", err)
	}
	// The refresh goes on for the others, detached from the caller's
	// cancellation, with its values and a deadline.
	close(base.hold)
	if tok := mustToken(t, s); tok.AccessToken != "ctx-1" {
		t.Fatalf("got %q, want ctx-1", tok.AccessToken)
	}
	if base.calls.Load() != 1 {
		t.Errorf("base called %d times, want 1", base.calls.Load())
	}
	got := base.seen()
	if got.errAtReturn != nil {
		t.Errorf("refresh context ended with the caller's: %v", got.errAtReturn)
	}
	if !got.hasDeadline {
		t.Error("refresh context has no deadline")
	}
	if got.value != "from caller" {
		t.Errorf("refresh context lost the caller's values: %v", got.value)
	}
}

// contextBase records the context its refreshes get.
type contextBase struct {
	calls atomic.Int64
	hold  chan struct{}
	once  sync.Once
	in    chan struct{}

	mu   sync.Mutex
	last struct {
		errAtReturn error
		hasDeadline bool
		value       any
	}
}

func (b *contextBase) entered() chan struct{} {
	b.once.Do(func() { b.in = make(chan struct{}, 100) })
	return b.in
}

func (b *contextBase) Refresh(ctx context.Context, _ *oauth2.Token) (*oauth2.Token, error) {
	n := b.calls.Add(1)
	b.entered() <- struct{}{}
	if b.hold != nil {
		<-b.hold
	}
	_, dl := ctx.Deadline()
	b.mu.Lock()
	b.last.errAtReturn, b.last.hasDeadline = ctx.Err(), dl
	b.last.value = ctx.Value(callerKey{})
	b.mu.Unlock()
	return &oauth2.Token{AccessToken: fmt.Sprintf("ctx-%d", n), Expiry: time.Now().Add(time.Hour)}, nil
}

func (b *contextBase) seen() struct {
	errAtReturn error
	hasDeadline bool
	value       any
} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

// callerKey carries a value from a caller's context to the base.
type callerKey struct{}

func TestSourceEarlyRefreshDoesNotBlockCallers(t *testing.T) {
	clock := newFakeClock()
	base := &countingBase{fn: freshTokens(clock.Now, time.Hour)}
	expiries := make(chan time.Time, 10)
	s := NewSource(base, &SourceOptions{Clock: clock, OnRefresh: func(e time.Time) { expiries <- e }})
	first := mustToken(t, s)
	<-expiries

	clock.Advance(49 * time.Minute) // 11 minutes left: no refresh yet
	if tok := mustToken(t, s); tok != first || base.calls.Load() != 1 {
		t.Fatalf("before the margin: %v and %d calls", tok.AccessToken, base.calls.Load())
	}

	clock.Advance(2 * time.Minute) // 9 minutes left: inside the 10-minute margin
	base.entered = make(chan struct{}, 10)
	base.hold = make(chan struct{})
	if tok := mustToken(t, s); tok != first {
		t.Fatalf("inside the margin got %v, want the cached token at once", tok.AccessToken)
	}
	<-base.entered // the background refresh is running and held
	for range 50 {
		if tok := mustToken(t, s); tok != first {
			t.Fatalf("during the refresh got %v, want the cached token", tok.AccessToken)
		}
	}
	if n := base.calls.Load(); n != 2 {
		t.Fatalf("base called %d times, want 2", n)
	}
	close(base.hold)
	if e := <-expiries; !e.Equal(clock.Now().Add(time.Hour)) {
		t.Errorf("OnRefresh got expiry %v, want %v", e, clock.Now().Add(time.Hour))
	}
	waitIdle(t, s)
	if tok := mustToken(t, s); tok.AccessToken != "tok-2" {
		t.Errorf("after the background refresh got %v, want tok-2", tok.AccessToken)
	}
}

func TestSourceEarlyRefreshFailureKeepsToken(t *testing.T) {
	clock := newFakeClock()
	var fail atomic.Bool
	base := &countingBase{fn: downWhen(&fail, clock)}
	s := NewSource(base, &SourceOptions{Clock: clock})
	first := mustToken(t, s)
	fail.Store(true)
	clock.Advance(55 * time.Minute)
	for range 20 {
		if tok := mustToken(t, s); tok != first {
			t.Fatalf("got %v, want the still-valid token", tok.AccessToken)
		}
		waitIdle(t, s)
	}
	if n := base.calls.Load(); n != 2 {
		t.Fatalf("base called %d times, want 2: a failed early refresh waits for its backoff", n)
	}
	clock.Advance(failureBackoff.Min) // past the first backoff
	fail.Store(false)
	mustToken(t, s)
	waitIdle(t, s)
	if tok := mustToken(t, s); tok.AccessToken != "tok-3" {
		t.Errorf("after the backoff got %v, want tok-3", tok.AccessToken)
	}
}

func TestSourceShortLifetimeRefreshesAtHalfLife(t *testing.T) {
	clock := newFakeClock()
	base := &countingBase{fn: freshTokens(clock.Now, 10*time.Minute)}
	s := NewSource(base, &SourceOptions{Clock: clock}) // margin 10 min > half of 10 min
	mustToken(t, s)
	clock.Advance(5*time.Minute - time.Second)
	mustToken(t, s)
	waitIdle(t, s)
	if n := base.calls.Load(); n != 1 {
		t.Fatalf("refreshed before half life: %d calls", n)
	}
	clock.Advance(time.Second)
	mustToken(t, s)
	waitIdle(t, s)
	if n := base.calls.Load(); n != 2 {
		t.Fatalf("no refresh at half life: %d calls", n)
	}
}

func TestSourceSpacesEarlyRefreshOfACachingBase(t *testing.T) {
	clock := newFakeClock()
	expiry := clock.Now().Add(15 * time.Minute)
	// A base that keeps handing back its cached token, which is inside the
	// margin for most of its life.
	base := &countingBase{fn: func(int64) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: "cached", Expiry: expiry}, nil
	}}
	s := NewSource(base, &SourceOptions{Clock: clock})
	const step = 100 * time.Millisecond
	for clock.Now().Before(expiry.Add(-time.Second)) {
		mustToken(t, s)
		waitIdle(t, s)
		clock.Advance(step)
	}
	calls := base.calls.Load()
	t.Logf("%d base calls over %v of Token calls every %v", calls, 15*time.Minute, step)
	// Expected: the first call, early attempts at 7.5 min (half life),
	// 11.25 and 13.1 min, perhaps one more spaced by the backoff, then the
	// blocking refreshes at the end of the token's validity (14:50, 14:57.5).
	// Halving alone, without the backoff, makes 10 calls, most of them in
	// the last minute.
	if calls > 7 {
		t.Errorf("base called %d times, want at most 7", calls)
	}
}

func TestSourceZeroExpiryNeverRefreshes(t *testing.T) {
	clock := newFakeClock()
	base := &countingBase{fn: func(int64) (*oauth2.Token, error) { return &oauth2.Token{AccessToken: "forever"}, nil }}
	s := NewSource(base, &SourceOptions{Clock: clock})
	for range 10 {
		mustToken(t, s)
		clock.Advance(1000 * time.Hour)
		waitIdle(t, s)
	}
	if n := base.calls.Load(); n != 1 {
		t.Errorf("base called %d times for a token without expiry, want 1", n)
	}
}

func TestSourceRejectsUnusableTokens(t *testing.T) {
	clock := newFakeClock()
	for name, tc := range map[string]struct {
		tok  *oauth2.Token
		want string
	}{
		"nil":     {nil, "returned no token"},
		"empty":   {&oauth2.Token{Expiry: clock.Now().Add(time.Hour)}, "without an access token"},
		"expired": {&oauth2.Token{AccessToken: "old", Expiry: clock.Now()}, "expired at 2026-03-01T12:00:00Z"},
	} {
		t.Run(name, func(t *testing.T) {
			s := NewSource(&countingBase{fn: func(int64) (*oauth2.Token, error) { return tc.tok, nil }}, &SourceOptions{Clock: clock})
			tok, err := s.Token(context.Background())
			if err == nil || tok != nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Token = %v, %v; want an error containing %q", tok, err, tc.want)
			}
			if st := s.Stats(); st.Failures != 1 {
				t.Errorf("Stats = %+v, want 1 failure", st)
			}
		})
	}
}

func TestSourceNilBase(t *testing.T) {
	if _, err := NewSource(nil, nil).Token(context.Background()); err == nil || !strings.Contains(err.Error(), "nil Refresher") {
		t.Errorf("err = %v, want one naming the nil base", err)
	}
}

func TestSourceRefreshTimeoutWithoutContextBase(t *testing.T) {
	base := &countingBase{hold: make(chan struct{}), fn: freshTokens(time.Now, time.Hour)}
	defer close(base.hold)
	s := NewSource(base, &SourceOptions{RefreshTimeout: 20 * time.Millisecond})
	_, err := s.Token(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "did not answer") {
		t.Errorf("err = %v, want the refresh timeout", err)
	}
}

func TestSourceLogsWithoutToken(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clock := newFakeClock()
	var fail atomic.Bool
	base := &countingBase{fn: func(int64) (*oauth2.Token, error) {
		if fail.Load() {
			return nil, errors.New("invalid_grant")
		}
		return &oauth2.Token{AccessToken: "SECRET-ACCESS-TOKEN", RefreshToken: "SECRET-REFRESH", Expiry: clock.Now().Add(time.Hour)}, nil
	}}
	s := NewSource(base, &SourceOptions{Clock: clock, Logger: logger})
	tok := mustToken(t, s)
	s.Invalidate(tok)
	fail.Store(true)
	s.Token(context.Background()) // returns once the failure is logged
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	for _, want := range []string{"token refreshed", "cached token invalidated", "token refresh failed", "invalid_grant"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "SECRET") {
		t.Errorf("log shows a token:\n%s", out)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestSourceWarmTokenDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := NewSource(&countingBase{fn: freshTokens(time.Now, time.Hour)}, nil)
	ctx := context.Background()
	mustToken(t, s)
	if n := testing.AllocsPerRun(1000, func() { s.Token(ctx) }); n != 0 {
		t.Errorf("warm Token allocates %v times per call, want 0", n)
	}
}

// TestSourceReportsEachFailureOnce: a failure a caller receives is its
// error, not also a WARN line, and promises no attempt that may never come;
// a failed background refresh, which no caller sees, is logged once at WARN.
func TestSourceReportsEachFailureOnce(t *testing.T) {
	t.Run("caller receives it", func(t *testing.T) {
		var buf bytes.Buffer
		var mu sync.Mutex
		logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
		clock := newFakeClock()
		base := &countingBase{fn: func(int64) (*oauth2.Token, error) { return nil, errors.New("invalid_client") }}
		s := NewSource(base, &SourceOptions{Clock: clock, Logger: logger})
		_, err := s.Token(context.Background())
		if err == nil {
			t.Fatal("a failed refresh gave no error")
		}
		if msg := err.Error(); strings.Contains(msg, "next attempt") || strings.Contains(msg, "in a row") {
			t.Errorf("the first failure's error %q promises an attempt or counts one failure", msg)
		}
		clock.Advance(failureBackoff.Max)
		_, err = s.Token(context.Background())
		if err == nil || !strings.Contains(err.Error(), "2 in a row") || strings.Contains(err.Error(), "next attempt") {
			t.Errorf("the second failure's error %v, want it to say 2 in a row and no next attempt", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if strings.Contains(buf.String(), "level=WARN") {
			t.Errorf("a failure the caller received was logged at WARN too:\n%s", buf.String())
		}
	})
	t.Run("background refresh", func(t *testing.T) {
		var buf bytes.Buffer
		var mu sync.Mutex
		logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
		clock := newFakeClock()
		var fail atomic.Bool
		base := &countingBase{fn: downWhen(&fail, clock)}
		s := NewSource(base, &SourceOptions{Clock: clock, Logger: logger})
		mustToken(t, s)
		fail.Store(true)
		clock.Advance(55 * time.Minute) // inside the margin: refreshed in the background
		for range 5 {
			mustToken(t, s)
			waitIdle(t, s)
		}
		mu.Lock()
		defer mu.Unlock()
		if n := strings.Count(buf.String(), "level=WARN"); n != 1 || !strings.Contains(buf.String(), "idp down") {
			t.Errorf("%d WARN lines for one failed background refresh, want 1 naming the failure:\n%s", n, buf.String())
		}
	})
}
