package tokenstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// A delegated grant at an identity provider that rotates refresh tokens and
// revokes the whole grant when a rotated-away one comes back: a second
// refresh from the same refresh token is fatal.
const (
	sharedClient  = "11111111-2222-3333-4444-555555555555"
	sharedSecret  = "shared-grant-test-secret"
	sharedMailbox = "helpdesk@example.test"
	sharedScopes  = "offline_access https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All"
	sharedKey     = "entra/helpdesk"
)

// strictIdP starts providertest with rotation and reuse detection and
// stores in s a grant whose access token has just expired.
func strictIdP(t *testing.T, s tokenstore.Store) (idp *providertest.Server, first string) {
	t.Helper()
	idp = providertest.New()
	t.Cleanup(idp.Close)
	idp.SetRotation(true)
	idp.SetReuseDetection(true)
	idp.AddApp(providertest.App{ClientID: sharedClient, Tenant: providertest.DefaultTenant, Secret: sharedSecret})
	first = idp.IssueRefreshToken(sharedClient, sharedMailbox, sharedScopes)
	now := idp.Now()
	rec := &tokenstore.Record{
		Token:     &oauth2.Token{AccessToken: "expiring-access-token", TokenType: "Bearer", RefreshToken: first, Expiry: now.Add(-time.Second)},
		Account:   sharedMailbox,
		Scopes:    strings.Fields(sharedScopes),
		UpdatedAt: now.Add(-time.Hour),
	}
	if err := s.Save(t.Context(), sharedKey, rec); err != nil {
		t.Fatal(err)
	}
	return idp, first
}

// sharedConfig is the entra configuration of the grant strictIdP stores.
func sharedConfig(idp *providertest.Server) entra.Config {
	return entra.Config{
		TenantID:     providertest.DefaultTenant,
		ClientID:     sharedClient,
		ClientSecret: sharedSecret,
		Cloud:        entra.Global.WithAuthorityHost(idp.URL()),
		Mailbox:      sharedMailbox,
		StoreKey:     sharedKey,
		HTTPClient:   idp.Client(),
		Clock:        idp,
		Lazy:         true,
	}
}

// checkNewestStored asserts that the grant is alive and that s holds the
// newest refresh token of its chain.
func checkNewestStored(t *testing.T, idp *providertest.Server, s tokenstore.Store, first string) {
	t.Helper()
	if idp.GrantRevoked(first) {
		t.Fatal("the identity provider revoked the grant: a rotated-away refresh token was presented again")
	}
	chain := idp.RefreshChain(first)
	rec, err := s.Load(t.Context(), sharedKey)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Token.RefreshToken != chain[len(chain)-1] {
		t.Fatalf("the stored refresh token is number %d of a chain of %d, want the newest",
			indexOf(chain, rec.Token.RefreshToken)+1, len(chain))
	}
}

func indexOf(chain []string, s string) int {
	for i, c := range chain {
		if c == s {
			return i
		}
	}
	return -1
}

// TestTwoMailboxesOnOneStoreRefreshOnce: a program opens the same delegated
// mailbox twice on one store (a Sender and a Mailgate, say), so two
// auth.Sources over two Refreshers share the grant. Many callers on both
// ask for a token each time the one they share has expired: each time one
// refresh must reach the identity provider, whatever store of this package
// holds the grant.
func TestTwoMailboxesOnOneStoreRefreshOnce(t *testing.T) {
	stores := []struct {
		name string
		new  func(t *testing.T) tokenstore.Store
	}{
		{"Memory", func(*testing.T) tokenstore.Store { return tokenstore.NewMemory() }},
		{"File", func(t *testing.T) tokenstore.Store { return newFile(t) }},
		{"EncryptedMemory", func(t *testing.T) tokenstore.Store { return mustEncrypt(t, tokenstore.NewMemory()) }},
		{"EncryptedFile", func(t *testing.T) tokenstore.Store { return mustEncrypt(t, newFile(t)) }},
	}
	const callers, rounds = 16, 3 // callers per mailbox
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := st.new(t)
			idp, first := strictIdP(t, s)
			var mailboxes []*provider.Mailbox
			for range 2 {
				mb, err := entra.Delegated(t.Context(), sharedConfig(idp), s)
				if err != nil {
					t.Fatal(err)
				}
				mailboxes = append(mailboxes, mb)
			}
			for round := 1; round <= rounds; round++ {
				start := make(chan struct{})
				var mu sync.Mutex
				failed := map[string]int{} // failures by message, so that many callers report once
				fail := func(msg string) { mu.Lock(); failed[msg]++; mu.Unlock() }
				var wg sync.WaitGroup
				for i, mb := range mailboxes {
					for range callers {
						wg.Go(func() {
							<-start
							ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
							defer cancel()
							tok, err := mb.Tokens.Token(ctx)
							if err != nil {
								fail(fmt.Sprintf("mailbox %d: %v", i, err))
								return
							}
							if _, err := idp.Verify(tok.AccessToken); err != nil {
								fail(fmt.Sprintf("mailbox %d got a token the identity provider refuses: %v", i, err))
							}
						})
					}
				}
				close(start)
				wg.Wait()
				for msg, n := range failed {
					t.Errorf("round %d, %d callers: %s", round, n, msg)
				}
				if n := idp.Requests("refresh_token"); n != round {
					t.Fatalf("round %d: %d refreshes reached the identity provider in all, want %d", round, n, round)
				}
				checkNewestStored(t, idp, s, first)
				idp.Advance(61 * time.Minute) // the shared token expires
			}
		})
	}
}

func mustEncrypt(t *testing.T, s tokenstore.Store) tokenstore.Store {
	t.Helper()
	e, err := tokenstore.NewEncrypted(s, testSecret(7))
	if err != nil {
		t.Fatal(err)
	}
	return e
}
