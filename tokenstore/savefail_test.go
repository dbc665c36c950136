package tokenstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/provider/oauth"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// flakySaves is a store whose next fails saves fail with errDiskFull, as a
// full disk or a database that is down would, before saves work again.
type flakySaves struct {
	tokenstore.Store
	mu       sync.Mutex
	fails    int // saves still to fail
	failures int // saves that failed
}

var errDiskFull = errors.New("no space left on device")

func (f *flakySaves) Save(ctx context.Context, key string, rec *tokenstore.Record) error {
	f.mu.Lock()
	if f.fails > 0 {
		f.fails--
		f.failures++
		f.mu.Unlock()
		return errDiskFull
	}
	f.mu.Unlock()
	return f.Store.Save(ctx, key, rec)
}

func (f *flakySaves) failNext(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails = n
}

// idpRefresh is a refresh function that redeems the stored refresh token at
// providertest's Entra token endpoint.
func idpRefresh(idp *providertest.Server) func(context.Context, *tokenstore.Record) (*oauth2.Token, error) {
	c := &oauth.Client{
		ID:         sharedClient,
		TokenURL:   idp.URL() + "/" + providertest.DefaultTenant + "/oauth2/v2.0/token",
		Auth:       oauth.ClientSecretPost(sharedSecret),
		HTTPClient: idp.Client(),
		Clock:      idp,
	}
	return func(ctx context.Context, rec *tokenstore.Record) (*oauth2.Token, error) {
		return c.Refresh(ctx, rec.Token.RefreshToken)
	}
}

// TestRefresherKeepsGrantItCannotSave: the identity provider rotates refresh
// tokens and revokes the grant when a rotated-away one comes back, and the
// store fails its next saves (a full disk). The grant refreshed meanwhile
// must not be lost: its token is handed out, its refresh token serves the
// next refresh, and it reaches the store once saves work again.
func TestRefresherKeepsGrantItCannotSave(t *testing.T) {
	const failedSaves, rounds = 3, 5
	store := &flakySaves{Store: tokenstore.NewMemory()}
	idp, first := strictIdP(t, store)
	store.failNext(failedSaves)

	r := tokenstore.NewRefresher(store, sharedKey, idpRefresh(idp), &tokenstore.RefresherOptions{Clock: idp})
	src := auth.NewSource(r, &auth.SourceOptions{Clock: idp})
	var errs []error
	for range rounds {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		tok, err := src.Token(ctx)
		cancel()
		if err != nil {
			errs = append(errs, err)
			idp.Advance(2 * time.Second) // past the Source's backoff
			continue
		}
		if _, err := idp.Verify(tok.AccessToken); err != nil {
			errs = append(errs, err)
		}
		idp.Advance(61 * time.Minute) // the token has expired: the next call refreshes
	}
	for _, err := range errs {
		t.Errorf("a caller got: %v", err)
	}
	if store.failures != failedSaves {
		t.Errorf("%d saves failed, want %d", store.failures, failedSaves)
	}
	checkNewestStored(t, idp, store.Store, first)
	if n := idp.RefreshCount(first); n != rounds {
		t.Errorf("%d refreshes for %d expired tokens", n, rounds)
	}
}
