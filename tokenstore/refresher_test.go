package tokenstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/internal/testclock"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// The Refresher is the base auth.Source calls.
var _ auth.Refresher = (*tokenstore.Refresher)(nil)

// idp is a fake token endpoint: each refresh issues access-N and, unless
// noRotate, refresh-N, valid for an hour.
type idp struct {
	clock    *testclock.Clock
	calls    atomic.Int64
	noRotate bool
	mu       sync.Mutex
	err      error    // returned by every refresh when set
	gotRT    []string // refresh tokens presented
}

func (p *idp) refresh(ctx context.Context, rec *tokenstore.Record) (*oauth2.Token, error) {
	n := p.calls.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gotRT = append(p.gotRT, rec.Token.RefreshToken)
	if p.err != nil {
		return nil, p.err
	}
	t := &oauth2.Token{AccessToken: fmt.Sprintf("access-%d", n), TokenType: "Bearer", Expiry: p.clock.Now().Add(time.Hour)}
	if !p.noRotate {
		t.RefreshToken = fmt.Sprintf("refresh-%d", n)
	}
	return t, nil
}

func (p *idp) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

func (p *idp) presented() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.gotRT...)
}

// storeGrant saves access-0 / refresh-0, whose access token expires after
// remaining.
func storeGrant(t *testing.T, s tokenstore.Store, c *testclock.Clock, remaining time.Duration) {
	t.Helper()
	rec := &tokenstore.Record{
		Token:     &oauth2.Token{AccessToken: "access-0", RefreshToken: "refresh-0", Expiry: c.Now().Add(remaining)},
		UpdatedAt: c.Now().Add(-time.Hour),
	}
	if err := s.Save(t.Context(), "grant", rec); err != nil {
		t.Fatal(err)
	}
}

func load(t *testing.T, s tokenstore.Store) *tokenstore.Record {
	t.Helper()
	rec, err := s.Load(t.Context(), "grant")
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestRefresherRefreshesOnlyWhenTheStoredTokenWillNotDo: the stored token is
// handed out while it is valid and is not the stale one; there is no margin.
func TestRefresherRefreshesOnlyWhenTheStoredTokenWillNotDo(t *testing.T) {
	cases := []struct {
		name    string
		token   func(now time.Time) *oauth2.Token
		stale   *oauth2.Token
		refresh bool
	}{
		{"valid for an hour", expiresIn(time.Hour), nil, false},
		{"valid for a second more", expiresIn(time.Second), nil, false},
		{"expires now", expiresIn(0), nil, true},
		{"expired", expiresIn(-time.Minute), nil, true},
		{"no access token", func(time.Time) *oauth2.Token { return &oauth2.Token{RefreshToken: "refresh-0"} }, nil, true},
		{"no expiry", func(time.Time) *oauth2.Token {
			return &oauth2.Token{AccessToken: "access-0", RefreshToken: "refresh-0"}
		}, nil, false},
		{"the stale token", expiresIn(time.Hour), &oauth2.Token{AccessToken: "access-0"}, true},
		{"the stale token, no expiry", func(time.Time) *oauth2.Token {
			return &oauth2.Token{AccessToken: "access-0", RefreshToken: "refresh-0"}
		}, &oauth2.Token{AccessToken: "access-0"}, true},
		// Another writer renewed the token the caller holds.
		{"renewed by another writer", expiresIn(time.Hour), &oauth2.Token{AccessToken: "access-older"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := testclock.New()
			s := tokenstore.NewMemory()
			if err := s.Save(t.Context(), "grant", &tokenstore.Record{Token: c.token(clk.Now())}); err != nil {
				t.Fatal(err)
			}
			p := &idp{clock: clk}
			r := tokenstore.NewRefresher(s, "grant", p.refresh, &tokenstore.RefresherOptions{Clock: clk})
			tok, err := r.Refresh(t.Context(), c.stale)
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
	clk := testclock.New()
	s := tokenstore.NewMemory()
	storeGrant(t, s, clk, -time.Minute)
	p := &idp{clock: clk}
	r := tokenstore.NewRefresher(s, "grant", p.refresh, &tokenstore.RefresherOptions{Clock: clk})
	tok, err := r.Refresh(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	stored := load(t, s)
	if tok.AccessToken != "access-1" || stored.Token.AccessToken != "access-1" || stored.Token.RefreshToken != "refresh-1" {
		t.Fatalf("returned %q; stored %q / rotated %v", tok.AccessToken, stored.Token.AccessToken, stored.Token.RefreshToken == "refresh-1")
	}
	if stored.Version != 2 || !stored.UpdatedAt.Equal(clk.Now()) {
		t.Fatalf("stored version %d updated %v", stored.Version, stored.UpdatedAt)
	}
	if got := p.presented(); got[0] != "refresh-0" {
		t.Fatal("the refresh did not use the stored refresh token")
	}
}

// TestRefresherCachesNothing: every call reads the store, so a grant another
// writer renewed is seen at once; only a refresh takes the key's lock.
func TestRefresherCachesNothing(t *testing.T) {
	clk := testclock.New()
	s := &countingStore{File: newFile(t)}
	storeGrant(t, s.File, clk, time.Hour)
	p := &idp{clock: clk}
	r := tokenstore.NewRefresher(s, "grant", p.refresh, &tokenstore.RefresherOptions{Clock: clk})
	for range 3 {
		if tok, err := r.Refresh(t.Context(), nil); err != nil || tok.AccessToken != "access-0" {
			t.Fatalf("got %v, %v", tok, err)
		}
	}
	if s.loads.Load() != 3 || s.locks.Load() != 0 || p.calls.Load() != 0 {
		t.Fatalf("valid token: %d loads, %d locks, %d refreshes; want 3, 0, 0", s.loads.Load(), s.locks.Load(), p.calls.Load())
	}

	// Another writer renews the grant: the next call hands out its token.
	rec := load(t, s.File)
	rec.Token.AccessToken = "access-other"
	if err := s.File.Save(t.Context(), "grant", rec); err != nil {
		t.Fatal(err)
	}
	if tok, err := r.Refresh(t.Context(), &oauth2.Token{AccessToken: "access-0"}); err != nil || tok.AccessToken != "access-other" {
		t.Fatalf("after another writer's save, got %v, %v", tok, err)
	}

	// The stored token is the stale one: lock, reload, refresh.
	if tok, err := r.Refresh(t.Context(), &oauth2.Token{AccessToken: "access-other"}); err != nil || tok.AccessToken != "access-1" {
		t.Fatalf("refresh of the stale token got %v, %v", tok, err)
	}
	if s.loads.Load() != 6 || s.locks.Load() != 1 || p.calls.Load() != 1 {
		t.Fatalf("stale token: %d loads, %d locks, %d refreshes; want 6 (one under the lock), 1, 1", s.loads.Load(), s.locks.Load(), p.calls.Load())
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

func TestRefresherKeepsOldRefreshTokenWhenNoneReturned(t *testing.T) {
	clk := testclock.New()
	s := tokenstore.NewMemory()
	storeGrant(t, s, clk, -time.Minute)
	p := &idp{clock: clk, noRotate: true}
	r := tokenstore.NewRefresher(s, "grant", p.refresh, &tokenstore.RefresherOptions{Clock: clk})
	if _, err := r.Refresh(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	stored := load(t, s)
	if stored.Token.AccessToken != "access-1" || stored.Token.RefreshToken != "refresh-0" {
		t.Fatalf("stored access %q, refresh kept %v", stored.Token.AccessToken, stored.Token.RefreshToken == "refresh-0")
	}
}

func TestRefresherComputesExpiryFromExpiresIn(t *testing.T) {
	clk := testclock.New()
	s := tokenstore.NewMemory()
	storeGrant(t, s, clk, -time.Minute)
	r := tokenstore.NewRefresher(s, "grant", func(context.Context, *tokenstore.Record) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: "a", ExpiresIn: 3600}, nil
	}, &tokenstore.RefresherOptions{Clock: clk})
	tok, err := r.Refresh(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !tok.Expiry.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("expiry %v, want an hour from now", tok.Expiry)
	}
}

func TestRefresherWithoutGrant(t *testing.T) {
	p := &idp{clock: testclock.New()}
	_, err := tokenstore.NewRefresher(tokenstore.NewMemory(), "grant", p.refresh, nil).Refresh(t.Context(), nil)
	if !errors.Is(err, tokenstore.ErrNotFound) || !strings.Contains(err.Error(), "authorize first") {
		t.Fatalf("Refresh without a stored grant: %v, want ErrNotFound and a hint", err)
	}
	if p.calls.Load() != 0 {
		t.Fatal("refreshed without a grant")
	}
}

func TestRefresherWithoutRefreshToken(t *testing.T) {
	for name, tok := range map[string]*oauth2.Token{
		"no token":         nil,
		"no refresh token": {AccessToken: "access-0", Expiry: time.Unix(1, 0)},
	} {
		t.Run(name, func(t *testing.T) {
			s := tokenstore.NewMemory()
			if err := s.Save(t.Context(), "grant", &tokenstore.Record{Token: tok}); err != nil {
				t.Fatal(err)
			}
			p := &idp{clock: testclock.New()}
			_, err := tokenstore.NewRefresher(s, "grant", p.refresh, nil).Refresh(t.Context(), nil)
			if err == nil || !strings.Contains(err.Error(), "no refresh token") || !strings.Contains(err.Error(), "authorize again") {
				t.Fatalf("Refresh of a grant without a refresh token: %v, want a clear error", err)
			}
			if p.calls.Load() != 0 {
				t.Fatal("the refresh function was called without a refresh token")
			}
		})
	}
}

func TestRefresherRefreshFailure(t *testing.T) {
	clk := testclock.New()
	s := tokenstore.NewMemory()
	storeGrant(t, s, clk, -time.Minute)
	invalidGrant := errors.New("invalid_grant")
	p := &idp{clock: clk, err: invalidGrant}
	tok, err := tokenstore.NewRefresher(s, "grant", p.refresh, &tokenstore.RefresherOptions{Clock: clk}).Refresh(t.Context(), nil)
	if !errors.Is(err, invalidGrant) || tok != nil {
		t.Fatalf("Refresh: %v, %v; want the refresh error", tok, err)
	}
	if stored := load(t, s); stored.Version != 1 {
		t.Fatal("a failed refresh changed the stored grant")
	}

	empty := tokenstore.NewRefresher(s, "grant", func(context.Context, *tokenstore.Record) (*oauth2.Token, error) {
		return &oauth2.Token{}, nil
	}, &tokenstore.RefresherOptions{Clock: clk})
	if _, err := empty.Refresh(t.Context(), nil); err == nil {
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
	var err error
	s.once.Do(func() {
		other := *s.other
		other.Version = rec.Version
		err = s.Memory.Save(ctx, key, &other)
	})
	if err != nil {
		return fmt.Errorf("the racing writer's save: %w", err)
	}
	return s.Memory.Save(ctx, key, rec)
}

func TestRefresherUsesTheWinningWritersToken(t *testing.T) {
	clk := testclock.New()
	s := &racingStore{Memory: tokenstore.NewMemory(), other: &tokenstore.Record{
		Token:     &oauth2.Token{AccessToken: "access-other", RefreshToken: "refresh-other", Expiry: clk.Now().Add(time.Hour)},
		UpdatedAt: clk.Now(),
	}}
	storeGrant(t, s.Memory, clk, -time.Minute)
	p := &idp{clock: clk}
	tok, err := tokenstore.NewRefresher(s, "grant", p.refresh, &tokenstore.RefresherOptions{Clock: clk}).Refresh(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "access-other" || p.calls.Load() != 1 {
		t.Fatalf("got %q after %d refreshes, want the other writer's token after 1", tok.AccessToken, p.calls.Load())
	}
	if stored := load(t, s); stored.Token.RefreshToken != "refresh-other" {
		t.Fatal("the other writer's grant was overwritten")
	}
}

func TestRefresherRefreshesAgainOverAStaleWinner(t *testing.T) {
	clk := testclock.New()
	s := &racingStore{Memory: tokenstore.NewMemory(), other: &tokenstore.Record{
		Token:     &oauth2.Token{RefreshToken: "refresh-other"}, // e.g. a new authorization
		UpdatedAt: clk.Now(),
	}}
	storeGrant(t, s.Memory, clk, -time.Minute)
	p := &idp{clock: clk}
	tok, err := tokenstore.NewRefresher(s, "grant", p.refresh, &tokenstore.RefresherOptions{Clock: clk}).Refresh(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := p.presented()
	if tok.AccessToken != "access-2" || len(got) != 2 || got[1] != "refresh-other" {
		t.Fatalf("got %q; refresh tokens used %d, second is the winner's: %v", tok.AccessToken, len(got), len(got) == 2 && got[1] == "refresh-other")
	}
	if stored := load(t, s); stored.Token.AccessToken != "access-2" || stored.Version != 3 {
		t.Fatalf("stored %q version %d", stored.Token.AccessToken, stored.Version)
	}
}

// notLocker hides a store's Lock method, as a third-party store without one.
type notLocker struct{ tokenstore.Store }

// lockerOrNot returns an empty store that is a Locker and one that is not.
func lockerOrNot() map[string]tokenstore.Store {
	return map[string]tokenstore.Store{
		"Locker":     tokenstore.NewMemory(),
		"not Locker": notLocker{tokenstore.NewMemory()},
	}
}

// TestRefresherOneRefreshForManyCallers: one Refresher refreshes once however
// many call at once, on a Locker or not.
func TestRefresherOneRefreshForManyCallers(t *testing.T) {
	for name, s := range lockerOrNot() {
		t.Run(name, func(t *testing.T) {
			clk := testclock.New()
			storeGrant(t, s, clk, -time.Minute)
			p := &idp{clock: clk}
			r := tokenstore.NewRefresher(s, "grant", p.refresh, &tokenstore.RefresherOptions{Clock: clk})
			var wg sync.WaitGroup
			for range 100 {
				wg.Go(func() {
					tok, err := r.Refresh(t.Context(), nil)
					if err != nil || tok.AccessToken != "access-1" {
						t.Errorf("got %v, %v", tok, err)
					}
				})
			}
			wg.Wait()
			if n := p.calls.Load(); n != 1 {
				t.Fatalf("%d refreshes for 100 concurrent callers, want 1", n)
			}
		})
	}
}

// TestRefresherSavesEvenIfCallerGivesUp: the caller's context ends while the
// refresh is in flight; the new grant is still saved, since the identity
// provider may already have retired the old refresh token.
func TestRefresherSavesEvenIfCallerGivesUp(t *testing.T) {
	clk := testclock.New()
	s := tokenstore.NewMemory()
	storeGrant(t, s, clk, -time.Minute)
	ctx, cancel := context.WithCancel(t.Context())
	p := &idp{clock: clk}
	r := tokenstore.NewRefresher(s, "grant", func(ctx context.Context, rec *tokenstore.Record) (*oauth2.Token, error) {
		cancel()
		return p.refresh(ctx, rec)
	}, &tokenstore.RefresherOptions{Clock: clk})
	if _, err := r.Refresh(ctx, nil); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if stored := load(t, s); stored.Token.RefreshToken != "refresh-1" {
		t.Fatal("the rotated refresh token was not saved")
	}
}

// TestRefresherWaitHonoursContext: a caller waiting for another's refresh
// gives up when its context ends, on a Locker or not.
func TestRefresherWaitHonoursContext(t *testing.T) {
	for name, s := range lockerOrNot() {
		t.Run(name, func(t *testing.T) {
			clk := testclock.New()
			storeGrant(t, s, clk, -time.Minute)
			inRefresh, release := make(chan struct{}), make(chan struct{})
			p := &idp{clock: clk}
			r := tokenstore.NewRefresher(s, "grant", func(ctx context.Context, rec *tokenstore.Record) (*oauth2.Token, error) {
				close(inRefresh)
				<-release
				return p.refresh(ctx, rec)
			}, &tokenstore.RefresherOptions{Clock: clk})
			done := make(chan error, 1)
			go func() { _, err := r.Refresh(t.Context(), nil); done <- err }()
			<-inRefresh
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if _, err := r.Refresh(ctx, nil); !errors.Is(err, context.Canceled) {
				t.Fatalf("waiting caller with a cancelled context: %v", err)
			}
			close(release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRefresherSaveFailureKeepsTheGrant: after a refresh, saves fail for a
// while. The new grant's token is handed out, its refresh token serves the
// next refresh, every failed save is reported (Error log and OnSaveError),
// and the newest grant reaches the store once saves work again.
func TestRefresherSaveFailureKeepsTheGrant(t *testing.T) {
	clk := testclock.New()
	store := &flakySaves{Store: tokenstore.NewMemory()}
	storeGrant(t, store, clk, -time.Minute)
	store.failNext(3)
	var logs bytes.Buffer
	var reported []error
	p := &idp{clock: clk}
	r := tokenstore.NewRefresher(store, "grant", p.refresh, &tokenstore.RefresherOptions{
		Clock:       clk,
		Logger:      debugLogger(&logs),
		OnSaveError: func(err error) { reported = append(reported, err) },
	})

	// Refresh 1: its save fails; the token is handed out all the same.
	tok, err := r.Refresh(t.Context(), nil)
	if err != nil || tok.AccessToken != "access-1" {
		t.Fatalf("first refresh: %v, %v; want access-1", tok, err)
	}
	if len(reported) != 1 || !errors.Is(reported[0], errDiskFull) {
		t.Fatalf("OnSaveError got %v, want one error wrapping the store's", reported)
	}
	// A call while the token is valid: the save is tried again (failure 2),
	// and the kept token is handed out, not the one the store holds.
	if tok, err := r.Refresh(t.Context(), nil); err != nil || tok.AccessToken != "access-1" {
		t.Fatalf("while unsaved: %v, %v; want access-1", tok, err)
	}
	// The kept token is stale: the save is tried first (failure 3), then the
	// kept refresh token is redeemed and the new grant saved.
	if tok, err := r.Refresh(t.Context(), tok); err != nil || tok.AccessToken != "access-2" {
		t.Fatalf("refresh of the kept grant: %v, %v; want access-2", tok, err)
	}
	if got := p.presented(); strings.Join(got, ",") != "refresh-0,refresh-1" {
		t.Fatalf("refresh tokens presented %q, want refresh-0 then the kept refresh-1", got)
	}
	if len(reported) != 3 {
		t.Fatalf("OnSaveError called %d times, want 3 (once per failed save)", len(reported))
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 3 {
		t.Fatalf("%d ERROR lines, want 3:\n%s", n, logs.String())
	}
	if stored := load(t, store); stored.Token.RefreshToken != "refresh-2" || stored.Token.AccessToken != "access-2" {
		t.Fatalf("stored %q / %q, want the newest grant", stored.Token.AccessToken, stored.Token.RefreshToken)
	}
	// Saved: nothing is kept any more; the store is read again.
	rec := load(t, store)
	rec.Token.AccessToken = "access-other"
	if err := store.Save(t.Context(), "grant", rec); err != nil {
		t.Fatal(err)
	}
	if tok, err := r.Refresh(t.Context(), nil); err != nil || tok.AccessToken != "access-other" {
		t.Fatalf("after the save: %v, %v; want the stored token", tok, err)
	}
}

// TestRefresherUnsavedGrantLaterSaved: a grant kept after a failed save is
// saved by the next call once the store works, with no refresh.
func TestRefresherUnsavedGrantLaterSaved(t *testing.T) {
	clk := testclock.New()
	store := &flakySaves{Store: tokenstore.NewMemory()}
	storeGrant(t, store, clk, -time.Minute)
	store.failNext(1)
	p := &idp{clock: clk}
	r := tokenstore.NewRefresher(store, "grant", p.refresh, &tokenstore.RefresherOptions{Clock: clk})
	if _, err := r.Refresh(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if stored := load(t, store); stored.Token.RefreshToken != "refresh-0" {
		t.Fatal("the failed save stored something")
	}
	if tok, err := r.Refresh(t.Context(), nil); err != nil || tok.AccessToken != "access-1" {
		t.Fatalf("second call: %v, %v", tok, err)
	}
	if stored := load(t, store); stored.Token.RefreshToken != "refresh-1" || p.calls.Load() != 1 {
		t.Fatalf("after the store recovered: stored rotated %v, %d refreshes; want the kept grant saved without a refresh",
			stored.Token.RefreshToken == "refresh-1", p.calls.Load())
	}
}

// TestRefresherUnsavedGrantYieldsToAnotherWriter: while a grant is kept
// unsaved, another writer saves (a new authorization): the stored grant wins.
func TestRefresherUnsavedGrantYieldsToAnotherWriter(t *testing.T) {
	clk := testclock.New()
	store := &flakySaves{Store: tokenstore.NewMemory()}
	storeGrant(t, store, clk, -time.Minute)
	store.failNext(1)
	p := &idp{clock: clk}
	r := tokenstore.NewRefresher(store, "grant", p.refresh, &tokenstore.RefresherOptions{Clock: clk})
	if _, err := r.Refresh(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	rec := load(t, store)
	rec.Token = &oauth2.Token{AccessToken: "access-new", RefreshToken: "refresh-new", Expiry: clk.Now().Add(time.Hour)}
	if err := store.Save(t.Context(), "grant", rec); err != nil {
		t.Fatal(err)
	}
	if tok, err := r.Refresh(t.Context(), nil); err != nil || tok.AccessToken != "access-new" {
		t.Fatalf("got %v, %v; want the new authorization's token", tok, err)
	}
	if stored := load(t, store); stored.Token.RefreshToken != "refresh-new" {
		t.Fatal("the unsaved grant overwrote another writer's")
	}
}

// TestRefresherReportsOnce: a refresh failure goes to the caller, not to a
// WARN line; the Refresher logs it at Debug at most.
func TestRefresherReportsOnce(t *testing.T) {
	clk := testclock.New()
	s := tokenstore.NewMemory()
	storeGrant(t, s, clk, -time.Minute)
	var logs bytes.Buffer
	p := &idp{clock: clk, err: errors.New("invalid_grant")}
	r := tokenstore.NewRefresher(s, "grant", p.refresh, &tokenstore.RefresherOptions{Clock: clk, Logger: debugLogger(&logs)})
	if _, err := r.Refresh(t.Context(), nil); err == nil {
		t.Fatal("a failed refresh succeeded")
	}
	if out := logs.String(); strings.Contains(out, "level=WARN") || strings.Contains(out, "level=ERROR") {
		t.Fatalf("a failure the caller receives was logged above Debug:\n%s", out)
	}
}

func TestRefresherLogsNoSecrets(t *testing.T) {
	clk := testclock.New()
	store := &flakySaves{Store: tokenstore.NewMemory()}
	storeGrant(t, store, clk, -time.Minute)
	var logs bytes.Buffer
	p := &idp{clock: clk}
	r := tokenstore.NewRefresher(store, "grant", p.refresh, &tokenstore.RefresherOptions{Clock: clk, Logger: debugLogger(&logs)})
	if _, err := r.Refresh(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	store.failNext(1)
	clk.Advance(2 * time.Hour)
	if _, err := r.Refresh(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	p.fail(errors.New("invalid_grant"))
	clk.Advance(2 * time.Hour)
	if _, err := r.Refresh(t.Context(), nil); err == nil {
		t.Fatal("a failed refresh succeeded")
	}
	out := logs.String()
	for _, want := range []string{"refreshed and saved", "saving the refreshed grant failed", "refresh failed"} {
		if !strings.Contains(out, want) {
			t.Fatalf("log lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"access-0", "access-1", "access-2", "refresh-0", "refresh-1", "refresh-2"} {
		if strings.Contains(out, secret) {
			t.Fatalf("log shows %q:\n%s", secret, out)
		}
	}
}

// debugLogger returns a text logger at every level writing to w; the
// tests that use it call the Refresher from one goroutine.
func debugLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
