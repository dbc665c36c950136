// Package storetest checks that a tokenstore.Store keeps the contract every
// store promises: records round-trip, versions compare and swap so that
// exactly one of many concurrent writers wins, a key's versions never
// repeat (not even after Delete), missing records give ErrNotFound, and a
// Locker's locks exclude each other.
//
// A store implementation runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) tokenstore.Store {
//			return mystore.New(t.TempDir())
//		})
//	}
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/tokenstore"
)

// Sizes of the concurrency scenarios: small enough to run in well under a
// second on a store that fsyncs, large enough to make races likely.
const (
	writers        = 8
	writerRounds   = 4
	lockers        = 4
	lockRounds     = 3
	refreshers     = 6
	lockWaitBudget = 50 * time.Millisecond
	testTimeout    = 30 * time.Second
)

// Run runs the conformance tests as subtests of t. newStore returns a new,
// empty store each time it is called; it may register cleanups on its t.
// The Locker tests run when the store implements tokenstore.Locker.
func Run(t *testing.T, newStore func(t *testing.T) tokenstore.Store) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newStore(t)) })
	t.Run("CopiesRecords", func(t *testing.T) { testCopies(t, newStore(t)) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, newStore(t)) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, newStore(t)) })
	t.Run("VersionConflict", func(t *testing.T) { testConflict(t, newStore(t)) })
	t.Run("VersionsNeverRepeat", func(t *testing.T) { testVersionsNeverRepeat(t, newStore(t)) })
	t.Run("ConcurrentWriters", func(t *testing.T) { testConcurrentWriters(t, newStore(t)) })
	t.Run("UnusualKeys", func(t *testing.T) { testUnusualKeys(t, newStore(t)) })
	t.Run("RefresherRefreshesOnce", func(t *testing.T) { testRefreshOnce(t, newStore(t)) })
	t.Run("Locker", func(t *testing.T) {
		l, ok := newStore(t).(tokenstore.Locker)
		if !ok {
			t.Skip("the store is not a tokenstore.Locker")
		}
		testLocker(t, l)
	})
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// sample returns a record with every field set, distinct per tag.
func sample(tag string) *tokenstore.Record {
	return &tokenstore.Record{
		Token: &oauth2.Token{
			AccessToken:  "access-" + tag,
			TokenType:    "Bearer",
			RefreshToken: "refresh-" + tag,
			Expiry:       time.Date(2031, 2, 3, 4, 5, 6, 7000, time.UTC),
		},
		Account:   tag + "@example.com",
		Scopes:    []string{"https://outlook.office.com/SMTP.Send", "offline_access"},
		UpdatedAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

// sameRecord reports how got differs from want, ignoring Version, nil versus
// empty scopes, and time zones; "" when they match.
func sameRecord(got, want *tokenstore.Record) string {
	var diffs []string
	if (got.Token == nil) != (want.Token == nil) {
		diffs = append(diffs, fmt.Sprintf("token present %v, want %v", got.Token != nil, want.Token != nil))
	} else if got.Token != nil {
		g, w := got.Token, want.Token
		if g.AccessToken != w.AccessToken {
			diffs = append(diffs, "access token differs")
		}
		if g.RefreshToken != w.RefreshToken {
			diffs = append(diffs, "refresh token differs")
		}
		if g.TokenType != w.TokenType {
			diffs = append(diffs, fmt.Sprintf("token type %q, want %q", g.TokenType, w.TokenType))
		}
		if !g.Expiry.Equal(w.Expiry) {
			diffs = append(diffs, fmt.Sprintf("expiry %v, want %v", g.Expiry, w.Expiry))
		}
	}
	if got.Account != want.Account {
		diffs = append(diffs, fmt.Sprintf("account %q, want %q", got.Account, want.Account))
	}
	if !slices.Equal(got.Scopes, want.Scopes) {
		diffs = append(diffs, fmt.Sprintf("scopes %q, want %q", got.Scopes, want.Scopes))
	}
	if !got.UpdatedAt.Equal(want.UpdatedAt) {
		diffs = append(diffs, fmt.Sprintf("updated at %v, want %v", got.UpdatedAt, want.UpdatedAt))
	}
	return strings.Join(diffs, "; ")
}

func mustSave(t *testing.T, s tokenstore.Store, key string, rec *tokenstore.Record) {
	t.Helper()
	if err := s.Save(testContext(t), key, rec); err != nil {
		t.Fatalf("Save(%q, version %d): %v", key, rec.Version, err)
	}
}

func mustLoad(t *testing.T, s tokenstore.Store, key string) *tokenstore.Record {
	t.Helper()
	rec, err := s.Load(testContext(t), key)
	if err != nil {
		t.Fatalf("Load(%q): %v", key, err)
	}
	return rec
}

func testRoundTrip(t *testing.T, s tokenstore.Store) {
	want := sample("one")
	mustSave(t, s, "k", want)
	if want.Version == 0 {
		t.Fatal("Save left Version at 0")
	}
	got := mustLoad(t, s, "k")
	if d := sameRecord(got, want); d != "" {
		t.Fatalf("loaded record differs: %s", d)
	}
	if got.Version != want.Version {
		t.Fatalf("loaded version %d, Save set %d", got.Version, want.Version)
	}

	// A second save, naming the version just read, replaces the record
	// with a newer version.
	next := sample("two")
	next.Version = got.Version
	mustSave(t, s, "k", next)
	if next.Version == got.Version {
		t.Fatalf("second save kept version %d", got.Version)
	}
	got2 := mustLoad(t, s, "k")
	if d := sameRecord(got2, next); d != "" {
		t.Fatalf("record after second save differs: %s", d)
	}
	if got2.Version != next.Version {
		t.Fatalf("loaded version %d, second Save set %d", got2.Version, next.Version)
	}

	// A record without a token and with no scopes round-trips too.
	bare := &tokenstore.Record{Account: "bare@example.com"}
	mustSave(t, s, "bare", bare)
	if d := sameRecord(mustLoad(t, s, "bare"), bare); d != "" {
		t.Fatalf("bare record differs: %s", d)
	}
}

func testCopies(t *testing.T, s tokenstore.Store) {
	rec := sample("orig")
	mustSave(t, s, "k", rec)
	want := sample("orig")

	rec.Token.AccessToken = "changed after save"
	rec.Scopes[0] = "changed after save"
	got := mustLoad(t, s, "k")
	if d := sameRecord(got, want); d != "" {
		t.Fatalf("changing the saved record changed the store: %s", d)
	}
	got.Token.RefreshToken = "changed after load"
	got.Scopes[1] = "changed after load"
	if d := sameRecord(mustLoad(t, s, "k"), want); d != "" {
		t.Fatalf("changing a loaded record changed the store: %s", d)
	}
}

func testNotFound(t *testing.T, s tokenstore.Store) {
	ctx := testContext(t)
	if _, err := s.Load(ctx, "missing"); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("Load of a missing key: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "missing"); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("Delete of a missing key: %v, want ErrNotFound", err)
	}
	mustSave(t, s, "present", sample("p"))
	if _, err := s.Load(ctx, "presen"); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("Load of a key that is a prefix of a stored one: %v, want ErrNotFound", err)
	}
}

func testDelete(t *testing.T, s tokenstore.Store) {
	ctx := testContext(t)
	mustSave(t, s, "gone", sample("gone"))
	mustSave(t, s, "kept", sample("kept"))
	if err := s.Delete(ctx, "gone"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Load(ctx, "gone"); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("Load after Delete: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "gone"); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("second Delete: %v, want ErrNotFound", err)
	}
	if d := sameRecord(mustLoad(t, s, "kept"), sample("kept")); d != "" {
		t.Fatalf("Delete changed another key: %s", d)
	}
	// After a delete, nothing is stored: version 0 may save again.
	again := sample("again")
	mustSave(t, s, "gone", again)
	if d := sameRecord(mustLoad(t, s, "gone"), again); d != "" {
		t.Fatalf("record saved after Delete differs: %s", d)
	}
}

func testConflict(t *testing.T, s tokenstore.Store) {
	ctx := testContext(t)
	first := sample("first")
	mustSave(t, s, "k", first)
	stored := first.Version

	cases := []struct {
		name    string
		version int64
	}{
		{"zero while a record exists", 0},
		{"stale", stored - 1},
		{"ahead of the store", stored + 1},
		{"negative", -1},
	}
	for _, c := range cases {
		rec := sample("loser")
		rec.Version = c.version
		err := s.Save(ctx, "k", rec)
		if !errors.Is(err, tokenstore.ErrConflict) {
			t.Fatalf("Save with version %d (%s): %v, want ErrConflict", c.version, c.name, err)
		}
		if rec.Version != c.version {
			t.Fatalf("failed Save changed rec.Version from %d to %d", c.version, rec.Version)
		}
	}
	got := mustLoad(t, s, "k")
	if d := sameRecord(got, sample("first")); d != "" || got.Version != stored {
		t.Fatalf("conflicting saves changed the record (version %d, want %d): %s", got.Version, stored, d)
	}

	// Two writers that read the same version: the first wins, the second
	// gets ErrConflict and its refresh token is not stored.
	a, b := sample("a"), sample("b")
	a.Version, b.Version = got.Version, got.Version
	mustSave(t, s, "k", a)
	if err := s.Save(ctx, "k", b); !errors.Is(err, tokenstore.ErrConflict) {
		t.Fatalf("second writer of version %d: %v, want ErrConflict", got.Version, err)
	}
	if d := sameRecord(mustLoad(t, s, "k"), sample("a")); d != "" {
		t.Fatalf("the losing writer changed the record: %s", d)
	}
}

// testVersionsNeverRepeat: a key's versions never come back, even after
// Delete, so a writer still holding a version it read before a Delete gets
// ErrConflict instead of overwriting the grant saved since.
func testVersionsNeverRepeat(t *testing.T, s tokenstore.Store) {
	ctx := testContext(t)
	var held []int64 // every version some slow writer may still hold
	given := map[int64]bool{}
	saved := func(rec *tokenstore.Record) {
		t.Helper()
		mustSave(t, s, "k", rec)
		if given[rec.Version] {
			t.Fatalf("version %d given a second time (versions so far: %v)", rec.Version, held)
		}
		given[rec.Version] = true
		held = append(held, rec.Version)
	}
	first := sample("first")
	saved(first)
	next := sample("second")
	next.Version = first.Version
	saved(next)
	for cycle := range 3 {
		if err := s.Delete(ctx, "k"); err != nil {
			t.Fatalf("cycle %d: Delete: %v", cycle, err)
		}
		fresh := sample(fmt.Sprintf("after-delete-%d", cycle)) // a new authorization: version 0
		saved(fresh)
		for _, v := range held[:len(held)-1] {
			stale := sample("stale")
			stale.Version = v
			if err := s.Save(ctx, "k", stale); !errors.Is(err, tokenstore.ErrConflict) {
				t.Fatalf("cycle %d: a writer holding version %d from before the Delete saved over the new grant (version %d): %v",
					cycle, v, fresh.Version, err)
			}
		}
		if d := sameRecord(mustLoad(t, s, "k"), fresh); d != "" {
			t.Fatalf("cycle %d: the grant saved after Delete changed: %s", cycle, d)
		}
	}
}

func testConcurrentWriters(t *testing.T, s tokenstore.Store) {
	ctx := testContext(t)
	var version int64
	for round := range writerRounds {
		start := make(chan struct{})
		errs := make([]error, writers)
		recs := make([]*tokenstore.Record, writers)
		var wg sync.WaitGroup
		for w := range writers {
			recs[w] = sample(fmt.Sprintf("w%d-r%d", w, round))
			recs[w].Version = version
			wg.Go(func() {
				<-start
				errs[w] = s.Save(ctx, "shared", recs[w])
			})
		}
		close(start)
		wg.Wait()

		winner := -1
		for w, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: writers %d and %d both saved over version %d", round, winner, w, version)
				}
				winner = w
			case errors.Is(err, tokenstore.ErrConflict):
				if recs[w].Version != version {
					t.Fatalf("round %d: losing writer's Version changed to %d", round, recs[w].Version)
				}
			default:
				t.Fatalf("round %d: writer %d: %v", round, w, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer saved over version %d", round, version)
		}
		got := mustLoad(t, s, "shared")
		if d := sameRecord(got, recs[winner]); d != "" {
			t.Fatalf("round %d: stored record is not the winner's: %s", round, d)
		}
		if got.Version != recs[winner].Version || got.Version == version {
			t.Fatalf("round %d: stored version %d, winner got %d, previous %d", round, got.Version, recs[winner].Version, version)
		}
		version = got.Version
	}
}

// UnusualKeys are keys a store must keep apart and round-trip, however it
// turns keys into names: path syntax, empty, long, non-ASCII.
func UnusualKeys() []string {
	return []string{
		"../../etc/passwd",
		"a/b",
		"a\\b",
		"a",
		"A",
		"",
		" ",
		".",
		"..",
		"con",
		strings.Repeat("long-key/", 200),
		"entra/3f2a/ünïcødé/日本語/📬",
		"user@example.com?x=1&y=*",
	}
}

func testUnusualKeys(t *testing.T, s tokenstore.Store) {
	keys := UnusualKeys()
	for i, k := range keys {
		rec := sample(fmt.Sprint(i))
		mustSave(t, s, k, rec)
	}
	for i, k := range keys {
		if d := sameRecord(mustLoad(t, s, k), sample(fmt.Sprint(i))); d != "" {
			t.Fatalf("key %q: %s", k, d)
		}
	}
	ctx := testContext(t)
	if err := s.Delete(ctx, keys[0]); err != nil {
		t.Fatalf("Delete(%q): %v", keys[0], err)
	}
	for i, k := range keys[1:] {
		if d := sameRecord(mustLoad(t, s, k), sample(fmt.Sprint(i+1))); d != "" {
			t.Fatalf("key %q after deleting %q: %s", k, keys[0], d)
		}
	}
}

// testRefreshOnce starts separate Refreshers on one store, as separate
// processes would, with an expired grant. On a Locker exactly one refresh
// happens; on any store, every caller gets a token that was saved, and the
// stored refresh token is the latest one issued.
func testRefreshOnce(t *testing.T, s tokenstore.Store) {
	ctx := testContext(t)
	now := time.Now()
	mustSave(t, s, "grant", &tokenstore.Record{
		Token:     &oauth2.Token{AccessToken: "expired", RefreshToken: "refresh-0", Expiry: now.Add(-time.Minute)},
		UpdatedAt: now.Add(-time.Hour),
	})

	var calls atomic.Int64
	refresh := func(ctx context.Context, rec *tokenstore.Record) (*oauth2.Token, error) {
		n := calls.Add(1)
		time.Sleep(5 * time.Millisecond) // a token endpoint takes a while
		return &oauth2.Token{
			AccessToken:  fmt.Sprintf("access-%d", n),
			RefreshToken: fmt.Sprintf("refresh-%d", n),
			Expiry:       time.Now().Add(time.Hour),
		}, nil
	}
	got := make([]string, refreshers)
	var wg sync.WaitGroup
	for i := range refreshers {
		r := tokenstore.NewRefresher(s, "grant", refresh, nil)
		wg.Go(func() {
			tok, err := r.Refresh(ctx, nil)
			if err != nil {
				t.Errorf("refresher %d: %v", i, err)
				return
			}
			got[i] = tok.AccessToken
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	stored := mustLoad(t, s, "grant")
	n := calls.Load()
	if _, ok := s.(tokenstore.Locker); ok && n != 1 {
		t.Fatalf("%d refreshers on a Locker refreshed %d times, want 1", refreshers, n)
	}
	if n < 1 {
		t.Fatal("no refresh happened")
	}
	for i, a := range got {
		if a == "expired" || !strings.HasPrefix(a, "access-") {
			t.Fatalf("refresher %d got token %q", i, a)
		}
	}
	if n == 1 {
		if stored.Token.AccessToken != "access-1" || stored.Token.RefreshToken != "refresh-1" {
			t.Fatal("the stored grant is not the one refreshed")
		}
		for i, a := range got {
			if a != "access-1" {
				t.Fatalf("refresher %d got %q, not the saved token", i, a)
			}
		}
	}
}

func testLocker(t *testing.T, l tokenstore.Locker) {
	ctx := testContext(t)

	t.Run("MutualExclusion", func(t *testing.T) {
		var inside, maxInside, entries atomic.Int64
		var wg sync.WaitGroup
		for range lockers {
			wg.Go(func() {
				for range lockRounds {
					unlock, err := l.Lock(ctx, "k")
					if err != nil {
						t.Errorf("Lock: %v", err)
						return
					}
					n := inside.Add(1)
					for m := maxInside.Load(); n > m && !maxInside.CompareAndSwap(m, n); m = maxInside.Load() {
					}
					entries.Add(1)
					time.Sleep(time.Millisecond)
					inside.Add(-1)
					if err := unlock(); err != nil {
						t.Errorf("unlock: %v", err)
					}
				}
			})
		}
		wg.Wait()
		if m := maxInside.Load(); m != 1 {
			t.Fatalf("%d holders of one lock at once", m)
		}
		if e := entries.Load(); e != lockers*lockRounds {
			t.Fatalf("%d entries, want %d", e, lockers*lockRounds)
		}
	})

	t.Run("WaitHonoursContext", func(t *testing.T) {
		unlock, err := l.Lock(ctx, "k")
		if err != nil {
			t.Fatalf("Lock: %v", err)
		}
		short, cancel := context.WithTimeout(ctx, lockWaitBudget)
		defer cancel()
		if u2, err := l.Lock(short, "k"); !errors.Is(err, context.DeadlineExceeded) {
			if err == nil {
				u2()
			}
			t.Fatalf("Lock of a held key: %v, want context.DeadlineExceeded", err)
		}
		// A waiter gets the lock once it is released.
		acquired := make(chan error, 1)
		go func() {
			u, err := l.Lock(ctx, "k")
			if err == nil {
				err = u()
			}
			acquired <- err
		}()
		select {
		case err := <-acquired:
			t.Fatalf("second Lock returned (%v) while the first was held", err)
		case <-time.After(lockWaitBudget):
		}
		if err := unlock(); err != nil {
			t.Fatalf("unlock: %v", err)
		}
		if err := <-acquired; err != nil {
			t.Fatalf("waiter: %v", err)
		}
	})

	t.Run("KeysAreIndependent", func(t *testing.T) {
		u1, err := l.Lock(ctx, "one")
		if err != nil {
			t.Fatalf("Lock(one): %v", err)
		}
		defer u1()
		short, cancel := context.WithTimeout(ctx, testTimeout/10)
		defer cancel()
		u2, err := l.Lock(short, "two")
		if err != nil {
			t.Fatalf("Lock(two) while one is held: %v", err)
		}
		u2()
	})

	t.Run("HolderCanSave", func(t *testing.T) {
		s, ok := l.(tokenstore.Store)
		if !ok {
			t.Skip("the Locker is not a Store")
		}
		unlock, err := l.Lock(ctx, "k")
		if err != nil {
			t.Fatalf("Lock: %v", err)
		}
		defer unlock()
		short, cancel := context.WithTimeout(ctx, testTimeout/10)
		defer cancel()
		if err := s.Save(short, "k", sample("locked")); err != nil {
			t.Fatalf("Save while holding the key's lock: %v", err)
		}
		if err := s.Delete(short, "k"); err != nil {
			t.Fatalf("Delete while holding the key's lock: %v", err)
		}
	})
}
