package tokenstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/tokenstore"
)

// The Refresher is what auth.Source wraps: an oauth2.TokenSource with the
// TokenContext method of auth.ContextTokenSource (matched structurally, so
// tokenstore need not import auth).
var (
	_ oauth2.TokenSource = (*tokenstore.Refresher)(nil)
	_ interface {
		TokenContext(context.Context) (*oauth2.Token, error)
	} = (*tokenstore.Refresher)(nil)
)

// clock is a settable clock for the Refresher.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.Advance(d)
	return ctx.Err()
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// withClock returns opts (nil: none) with clk as the clock.
func withClock(opts *tokenstore.RefresherOptions, clk *clock) *tokenstore.RefresherOptions {
	o := tokenstore.RefresherOptions{}
	if opts != nil {
		o = *opts
	}
	o.Clock = clk
	return &o
}

// idp is a fake token endpoint: each refresh issues access-N and, unless
// rotate is off, refresh-N, valid for an hour.
type idp struct {
	clock    *clock
	calls    atomic.Int64
	noRotate bool
	err      error
	mu       sync.Mutex
	gotRT    []string // refresh tokens presented
}

func (p *idp) refresh(ctx context.Context, rec *tokenstore.Record) (*oauth2.Token, error) {
	n := p.calls.Add(1)
	p.mu.Lock()
	p.gotRT = append(p.gotRT, rec.Token.RefreshToken)
	p.mu.Unlock()
	if p.err != nil {
		return nil, p.err
	}
	t := &oauth2.Token{AccessToken: fmt.Sprintf("access-%d", n), TokenType: "Bearer", Expiry: p.clock.Now().Add(time.Hour)}
	if !p.noRotate {
		t.RefreshToken = fmt.Sprintf("refresh-%d", n)
	}
	return t, nil
}

// storeGrant saves a grant whose access token expires after remaining and
// was issued long before (so the margin, not half the lifetime, applies).
func storeGrant(t *testing.T, s tokenstore.Store, c *clock, remaining time.Duration) {
	t.Helper()
	rec := &tokenstore.Record{
		Token:     &oauth2.Token{AccessToken: "access-0", RefreshToken: "refresh-0", Expiry: c.Now().Add(remaining)},
		UpdatedAt: c.Now().Add(-24 * time.Hour),
	}
	if err := s.Save(t.Context(), "grant", rec); err != nil {
		t.Fatal(err)
	}
}

func TestRefresherRefreshesOnlyNearExpiry(t *testing.T) {
	cases := []struct {
		name    string
		token   func(now time.Time) *oauth2.Token
		updated time.Duration // UpdatedAt relative to now; 0 for a day ago
		opts    *tokenstore.RefresherOptions
		refresh bool
	}{
		{"valid for an hour", expiresIn(time.Hour), 0, nil, false},
		{"just outside the default margin", expiresIn(11*time.Minute + time.Second), 0, nil, false},
		{"at the default margin", expiresIn(11 * time.Minute), 0, nil, true},
		{"inside auth.Source's 10 minutes", expiresIn(10 * time.Minute), 0, nil, true},
		{"expired", expiresIn(-time.Minute), 0, nil, true},
		{"no access token", func(time.Time) *oauth2.Token { return &oauth2.Token{RefreshToken: "refresh-0"} }, 0, nil, true},
		{"no expiry", func(time.Time) *oauth2.Token {
			return &oauth2.Token{AccessToken: "access-0", RefreshToken: "refresh-0"}
		}, 0, nil, false},
		{"custom margin, outside", expiresIn(3 * time.Minute), 0, &tokenstore.RefresherOptions{Margin: 2 * time.Minute}, false},
		{"custom margin, inside", expiresIn(time.Minute), 0, &tokenstore.RefresherOptions{Margin: 2 * time.Minute}, true},
		// A 10-minute token is refreshed at half its life, not 11 minutes
		// before it expires (which would be before it was issued).
		{"short-lived, first half", expiresIn(6 * time.Minute), -4 * time.Minute, nil, false},
		{"short-lived, second half", expiresIn(4 * time.Minute), -6 * time.Minute, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := newClock()
			s := tokenstore.NewMemory()
			rec := &tokenstore.Record{Token: c.token(clk.Now()), UpdatedAt: clk.Now().Add(-24 * time.Hour)}
			if c.updated != 0 {
				rec.UpdatedAt = clk.Now().Add(c.updated)
			}
			if err := s.Save(t.Context(), "grant", rec); err != nil {
				t.Fatal(err)
			}
			p := &idp{clock: clk}
			r := tokenstore.NewRefresher(s, "grant", p.refresh, withClock(c.opts, clk))
			tok, err := r.TokenContext(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if refreshed := p.calls.Load() == 1; refreshed != c.refresh {
				t.Fatalf("refreshed %v, want %v", refreshed, c.refresh)
			}
			want := "access-0"
			if c.refresh {
				want = "access-1"
			}
			if tok.AccessToken != want {
				t.Fatalf("got %q, want %q", tok.AccessToken, want)
			}
		})
	}
}

func expiresIn(d time.Duration) func(time.Time) *oauth2.Token {
	return func(now time.Time) *oauth2.Token {
		return &oauth2.Token{AccessToken: "access-0", RefreshToken: "refresh-0", Expiry: now.Add(d)}
	}
}

func TestRefresherSavesRotationBeforeReturning(t *testing.T) {
	clk := newClock()
	s := tokenstore.NewMemory()
	storeGrant(t, s, clk, -time.Minute)
	p := &idp{clock: clk}
	r := tokenstore.NewRefresher(s, "grant", p.refresh, &tokenstore.RefresherOptions{Clock: clk})
	tok, err := r.Token()
	if err != nil {
		t.Fatal(err)
	}
	stored, err := s.Load(t.Context(), "grant")
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "access-1" || stored.Token.AccessToken != "access-1" || stored.Token.RefreshToken != "refresh-1" {
		t.Fatalf("returned %q; stored %q / rotated %v", tok.AccessToken, stored.Token.AccessToken, stored.Token.RefreshToken == "refresh-1")
	}
	if stored.Version != 2 || !stored.UpdatedAt.Equal(clk.Now()) {
		t.Fatalf("stored version %d updated %v", stored.Version, stored.UpdatedAt)
	}
	if p.gotRT[0] != "refresh-0" {
		t.Fatal("the refresh did not use the stored refresh token")
	}
}

// failingSaves is a store whose saves fail.
type failingSaves struct {
	tokenstore.Store
	err error
}

func (f failingSaves) Save(context.Context, string, *tokenstore.Record) error { return f.err }

// TestRefresherWithholdsTokenItCannotSave: when the rotated grant cannot be
// saved, the new access token is not handed out either.
func TestRefresherWithholdsTokenItCannotSave(t *testing.T) {
	clk := newClock()
	mem := tokenstore.NewMemory()
	storeGrant(t, mem, clk, -time.Minute)
	diskFull := errors.New("disk full")
	p := &idp{clock: clk}
	r := tokenstore.NewRefresher(failingSaves{mem, diskFull}, "grant", p.refresh, &tokenstore.RefresherOptions{Clock: clk})
	tok, err := r.Token()
	if !errors.Is(err, diskFull) || tok != nil {
		t.Fatalf("Token: %v, %v; want no token and the save error", tok, err)
	}
	if p.calls.Load() != 1 {
		t.Fatalf("%d refreshes, want 1", p.calls.Load())
	}
}

func TestRefresherKeepsOldRefreshTokenWhenNoneReturned(t *testing.T) {
	clk := newClock()
	s := tokenstore.NewMemory()
	storeGrant(t, s, clk, -time.Minute)
	p := &idp{clock: clk, noRotate: true}
	r := tokenstore.NewRefresher(s, "grant", p.refresh, &tokenstore.RefresherOptions{Clock: clk})
	if _, err := r.Token(); err != nil {
		t.Fatal(err)
	}
	stored, _ := s.Load(t.Context(), "grant")
	if stored.Token.AccessToken != "access-1" || stored.Token.RefreshToken != "refresh-0" {
		t.Fatalf("stored access %q, refresh kept %v", stored.Token.AccessToken, stored.Token.RefreshToken == "refresh-0")
	}
}

func TestRefresherComputesExpiryFromExpiresIn(t *testing.T) {
	clk := newClock()
	s := tokenstore.NewMemory()
	storeGrant(t, s, clk, -time.Minute)
	r := tokenstore.NewRefresher(s, "grant", func(context.Context, *tokenstore.Record) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: "a", ExpiresIn: 3600}, nil
	}, &tokenstore.RefresherOptions{Clock: clk})
	tok, err := r.Token()
	if err != nil {
		t.Fatal(err)
	}
	if !tok.Expiry.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("expiry %v, want an hour from now", tok.Expiry)
	}
}

func TestRefresherWithoutGrant(t *testing.T) {
	p := &idp{clock: newClock()}
	_, err := tokenstore.NewRefresher(tokenstore.NewMemory(), "grant", p.refresh, nil).Token()
	if !errors.Is(err, tokenstore.ErrNotFound) || !strings.Contains(err.Error(), "authorize first") {
		t.Fatalf("Token without a stored grant: %v, want ErrNotFound and a hint", err)
	}
	if p.calls.Load() != 0 {
		t.Fatal("refreshed without a grant")
	}
}

func TestRefresherRefreshFailure(t *testing.T) {
	clk := newClock()
	s := tokenstore.NewMemory()
	storeGrant(t, s, clk, -time.Minute)
	invalidGrant := errors.New("invalid_grant")
	p := &idp{clock: clk, err: invalidGrant}
	tok, err := tokenstore.NewRefresher(s, "grant", p.refresh, &tokenstore.RefresherOptions{Clock: clk}).Token()
	if !errors.Is(err, invalidGrant) || tok != nil {
		t.Fatalf("Token: %v, %v; want the refresh error", tok, err)
	}
	if stored, _ := s.Load(t.Context(), "grant"); stored.Version != 1 {
		t.Fatal("a failed refresh changed the stored grant")
	}

	empty := tokenstore.NewRefresher(s, "grant", func(context.Context, *tokenstore.Record) (*oauth2.Token, error) {
		return &oauth2.Token{}, nil
	}, &tokenstore.RefresherOptions{Clock: clk})
	if _, err := empty.Token(); err == nil {
		t.Fatal("a refresh that returned no access token succeeded")
	}
}

// racingStore lets another writer save just before the Refresher's first
// save, as another process would.
type racingStore struct {
	*tokenstore.Memory
	once  sync.Once
	other *tokenstore.Record
}

func (s *racingStore) Save(ctx context.Context, key string, rec *tokenstore.Record) error {
	s.once.Do(func() {
		other := *s.other
		other.Version = rec.Version
		if err := s.Memory.Save(ctx, key, &other); err != nil {
			panic(err)
		}
	})
	return s.Memory.Save(ctx, key, rec)
}

func TestRefresherUsesTheWinningWritersToken(t *testing.T) {
	clk := newClock()
	s := &racingStore{Memory: tokenstore.NewMemory(), other: &tokenstore.Record{
		Token:     &oauth2.Token{AccessToken: "access-other", RefreshToken: "refresh-other", Expiry: clk.Now().Add(time.Hour)},
		UpdatedAt: clk.Now(),
	}}
	storeGrant(t, s.Memory, clk, -time.Minute)
	p := &idp{clock: clk}
	tok, err := tokenstore.NewRefresher(s, "grant", p.refresh, &tokenstore.RefresherOptions{Clock: clk}).Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "access-other" || p.calls.Load() != 1 {
		t.Fatalf("got %q after %d refreshes, want the other writer's token after 1", tok.AccessToken, p.calls.Load())
	}
	if stored, _ := s.Load(t.Context(), "grant"); stored.Token.RefreshToken != "refresh-other" {
		t.Fatal("the other writer's grant was overwritten")
	}
}

func TestRefresherRefreshesAgainOverAStaleWinner(t *testing.T) {
	clk := newClock()
	s := &racingStore{Memory: tokenstore.NewMemory(), other: &tokenstore.Record{
		Token:     &oauth2.Token{RefreshToken: "refresh-other"}, // e.g. a new authorization
		UpdatedAt: clk.Now(),
	}}
	storeGrant(t, s.Memory, clk, -time.Minute)
	p := &idp{clock: clk}
	tok, err := tokenstore.NewRefresher(s, "grant", p.refresh, &tokenstore.RefresherOptions{Clock: clk}).Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "access-2" || len(p.gotRT) != 2 || p.gotRT[1] != "refresh-other" {
		t.Fatalf("got %q; refresh tokens used %d, second is the winner's: %v", tok.AccessToken, len(p.gotRT), len(p.gotRT) == 2 && p.gotRT[1] == "refresh-other")
	}
	if stored, _ := s.Load(t.Context(), "grant"); stored.Token.AccessToken != "access-2" || stored.Version != 3 {
		t.Fatalf("stored %q version %d", stored.Token.AccessToken, stored.Version)
	}
}

func TestRefresherOneRefreshForManyCallers(t *testing.T) {
	clk := newClock()
	s := tokenstore.NewMemory()
	storeGrant(t, s, clk, -time.Minute)
	p := &idp{clock: clk}
	r := tokenstore.NewRefresher(s, "grant", p.refresh, &tokenstore.RefresherOptions{Clock: clk})
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			tok, err := r.TokenContext(t.Context())
			if err != nil || tok.AccessToken != "access-1" {
				t.Errorf("got %v, %v", tok, err)
			}
		})
	}
	wg.Wait()
	if n := p.calls.Load(); n != 1 {
		t.Fatalf("%d refreshes for 100 concurrent callers, want 1", n)
	}
}

// countingStore counts loads and, being a Locker, locks.
type countingStore struct {
	*tokenstore.File
	loads, locks atomic.Int64
}

func (s *countingStore) Load(ctx context.Context, key string) (*tokenstore.Record, error) {
	s.loads.Add(1)
	return s.File.Load(ctx, key)
}

func (s *countingStore) Lock(ctx context.Context, key string) (func() error, error) {
	s.locks.Add(1)
	return s.File.Lock(ctx, key)
}

// TestRefresherCachesUntilNearExpiry: a fresh token is loaded once and served
// from memory without the store's lock; near expiry, the Refresher locks,
// reloads and refreshes.
func TestRefresherCachesUntilNearExpiry(t *testing.T) {
	clk := newClock()
	s := &countingStore{File: newFile(t)}
	storeGrant(t, s.File, clk, time.Hour)
	p := &idp{clock: clk}
	r := tokenstore.NewRefresher(s, "grant", p.refresh, &tokenstore.RefresherOptions{Clock: clk})
	for range 5 {
		if tok, err := r.Token(); err != nil || tok.AccessToken != "access-0" {
			t.Fatalf("got %v, %v", tok, err)
		}
	}
	if s.loads.Load() != 1 || s.locks.Load() != 0 || p.calls.Load() != 0 {
		t.Fatalf("fresh token: %d loads, %d locks, %d refreshes; want 1, 0, 0", s.loads.Load(), s.locks.Load(), p.calls.Load())
	}
	clk.Advance(50 * time.Minute)
	if tok, err := r.Token(); err != nil || tok.AccessToken != "access-1" {
		t.Fatalf("near expiry got %v, %v", tok, err)
	}
	if s.loads.Load() != 3 || s.locks.Load() != 1 || p.calls.Load() != 1 {
		t.Fatalf("near expiry: %d loads, %d locks, %d refreshes; want 3 (cache miss, under lock), 1, 1", s.loads.Load(), s.locks.Load(), p.calls.Load())
	}
}

func TestRefresherInvalidate(t *testing.T) {
	clk := newClock()
	s := tokenstore.NewMemory()
	storeGrant(t, s, clk, time.Hour)
	p := &idp{clock: clk}
	r := tokenstore.NewRefresher(s, "grant", p.refresh, &tokenstore.RefresherOptions{Clock: clk})
	first, err := r.Token()
	if err != nil {
		t.Fatal(err)
	}
	r.Invalidate(&oauth2.Token{AccessToken: "not the current one"})
	if tok, _ := r.Token(); tok.AccessToken != first.AccessToken || p.calls.Load() != 0 {
		t.Fatal("invalidating another token caused a refresh")
	}
	r.Invalidate(first)
	tok, err := r.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == first.AccessToken || p.calls.Load() != 1 {
		t.Fatalf("after Invalidate got %q after %d refreshes", tok.AccessToken, p.calls.Load())
	}
}

// TestRefresherSavesEvenIfCallerGivesUp: the caller's context ends while the
// refresh is in flight; the new grant is still saved, since the identity
// provider may already have retired the old refresh token.
func TestRefresherSavesEvenIfCallerGivesUp(t *testing.T) {
	clk := newClock()
	s := tokenstore.NewMemory()
	storeGrant(t, s, clk, -time.Minute)
	ctx, cancel := context.WithCancel(t.Context())
	p := &idp{clock: clk}
	r := tokenstore.NewRefresher(s, "grant", func(ctx context.Context, rec *tokenstore.Record) (*oauth2.Token, error) {
		cancel()
		return p.refresh(ctx, rec)
	}, &tokenstore.RefresherOptions{Clock: clk})
	if _, err := r.TokenContext(ctx); err != nil {
		t.Fatalf("TokenContext: %v", err)
	}
	if stored, _ := s.Load(t.Context(), "grant"); stored.Token.RefreshToken != "refresh-1" {
		t.Fatal("the rotated refresh token was not saved")
	}
}

func TestRefresherWaitHonoursContext(t *testing.T) {
	clk := newClock()
	s := tokenstore.NewMemory()
	storeGrant(t, s, clk, -time.Minute)
	inRefresh, release := make(chan struct{}), make(chan struct{})
	p := &idp{clock: clk}
	r := tokenstore.NewRefresher(s, "grant", func(ctx context.Context, rec *tokenstore.Record) (*oauth2.Token, error) {
		close(inRefresh)
		<-release
		return p.refresh(ctx, rec)
	}, &tokenstore.RefresherOptions{Clock: clk})
	done := make(chan error, 1)
	go func() { _, err := r.Token(); done <- err }()
	<-inRefresh
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := r.TokenContext(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting caller with a cancelled context: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRefresherLogsNoSecrets(t *testing.T) {
	clk := newClock()
	s := tokenstore.NewMemory()
	storeGrant(t, s, clk, -time.Minute)
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := &idp{clock: clk}
	r := tokenstore.NewRefresher(s, "grant", p.refresh, &tokenstore.RefresherOptions{Clock: clk, Logger: log})
	if _, err := r.Token(); err != nil {
		t.Fatal(err)
	}
	p.err = errors.New("invalid_grant")
	clk.Advance(2 * time.Hour)
	r.Token()
	mu.Lock()
	defer mu.Unlock()
	out := buf.String()
	if !strings.Contains(out, "refreshed") || !strings.Contains(out, "refresh failed") {
		t.Fatalf("log lacks the refresh and the failure:\n%s", out)
	}
	for _, secret := range []string{"access-0", "access-1", "refresh-0", "refresh-1"} {
		if strings.Contains(out, secret) {
			t.Fatalf("log shows %q:\n%s", secret, out)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
