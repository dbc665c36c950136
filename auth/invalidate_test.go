package auth_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/auth"
)

// cachingBase hands out the token it holds unless the refresh names it
// stale, as a grant store's refresher does with the stored token.
type cachingBase struct {
	mu          sync.Mutex
	n           int
	invalidated []string
	current     *oauth2.Token
}

func (b *cachingBase) Refresh(_ context.Context, stale *oauth2.Token) (*oauth2.Token, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if stale != nil {
		b.invalidated = append(b.invalidated, stale.AccessToken)
		if b.current != nil && b.current.AccessToken == stale.AccessToken {
			b.current = nil
		}
	}
	if b.current == nil {
		b.n++
		b.current = &oauth2.Token{AccessToken: "token-" + string(rune('0'+b.n)), Expiry: time.Now().Add(time.Hour)}
	}
	return b.current, nil
}

func TestInvalidateNamesTheRefusedTokenToTheBase(t *testing.T) {
	base := &cachingBase{}
	src := auth.NewSource(base, nil)
	ctx := context.Background()
	first, err := src.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); src.Invalidate(first) }()
	}
	wg.Wait()
	second, err := src.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second.AccessToken == first.AccessToken {
		t.Fatalf("the refused token %q came back", first.AccessToken)
	}
	if len(base.invalidated) != 1 || base.invalidated[0] != first.AccessToken {
		t.Fatalf("base heard of refusals %q, want exactly [%q]", base.invalidated, first.AccessToken)
	}
	// A stale refusal of the old token changes nothing.
	src.Invalidate(first)
	third, _ := src.Token(ctx)
	if third.AccessToken != second.AccessToken || len(base.invalidated) != 1 {
		t.Fatalf("a stale Invalidate dropped the current token or reached the base")
	}
}
