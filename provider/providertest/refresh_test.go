package providertest

import (
	"errors"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"
)

func refreshForm(clientID, rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID}, "client_secret": {"pw"}, "refresh_token": {rt}}
}

func refreshServer(t *testing.T) (*Server, string) {
	t.Helper()
	s := newServer(t)
	s.AddApp(App{ClientID: "web", Secret: "pw", RedirectURIs: []string{testRedirect}})
	s.AddApp(App{ClientID: "web2", Secret: "pw"})
	return s, s.IssueRefreshToken("web", "alice@example.com", mailScopes)
}

func TestRefreshRotatesAndKeepsChain(t *testing.T) {
	s, rt0 := refreshServer(t)
	r1 := post(t, s, entraToken(s), refreshForm("web", rt0))
	if r1.status != 200 {
		t.Fatalf("%d %s", r1.status, r1.raw)
	}
	rt1 := r1.str("refresh_token")
	if rt1 == "" || rt1 == rt0 {
		t.Fatalf("no rotation: %q", rt1)
	}
	if u, err := s.Verify(r1.str("access_token")); err != nil || u != "alice@example.com" {
		t.Fatalf("Verify = %q, %v", u, err)
	}
	rt2 := post(t, s, entraToken(s), refreshForm("web", rt1)).str("refresh_token")
	if chain := s.RefreshChain(rt0); !slices.Equal(chain, []string{rt0, rt1, rt2}) {
		t.Fatalf("chain = %v", chain)
	}
	if !slices.Equal(s.RefreshChain(rt2), s.RefreshChain(rt0)) {
		t.Error("chain differs by member")
	}
	if n := s.RefreshCount(rt1); n != 2 {
		t.Errorf("RefreshCount = %d, want 2", n)
	}
	if s.Requests("refresh_token") != 2 {
		t.Errorf("Requests = %d", s.Requests("refresh_token"))
	}
	// Entra keeps rotated-away tokens valid unless reuse detection is on.
	if r := post(t, s, entraToken(s), refreshForm("web", rt0)); r.status != 200 {
		t.Fatalf("old token without reuse detection: %d %s", r.status, r.raw)
	}
}

func TestRefreshWithoutRotation(t *testing.T) {
	s, rt0 := refreshServer(t)
	s.SetRotation(false)
	for i := 0; i < 2; i++ {
		r := post(t, s, entraToken(s), refreshForm("web", rt0))
		if r.status != 200 || r.str("refresh_token") != rt0 {
			t.Fatalf("refresh %d: %d refresh_token=%q", i, r.status, r.str("refresh_token"))
		}
	}
	if len(s.RefreshChain(rt0)) != 1 || s.RefreshCount(rt0) != 2 {
		t.Fatalf("chain %v count %d", s.RefreshChain(rt0), s.RefreshCount(rt0))
	}
}

func TestReuseDetectionRevokesFamily(t *testing.T) {
	s, rt0 := refreshServer(t)
	s.SetReuseDetection(true)
	r1 := post(t, s, entraToken(s), refreshForm("web", rt0))
	rt1, at1 := r1.str("refresh_token"), r1.str("access_token")
	// rt0 was rotated away: presenting it again ends the grant.
	wantEntraError(t, post(t, s, entraToken(s), refreshForm("web", rt0)), 400, "invalid_grant", 70008)
	wantEntraError(t, post(t, s, entraToken(s), refreshForm("web", rt1)), 400, "invalid_grant", 70008)
	if _, err := s.Verify(at1); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("access token of revoked family: %v", err)
	}
	if !s.GrantRevoked(rt1) {
		t.Error("GrantRevoked = false")
	}
}

func TestRefreshErrors(t *testing.T) {
	s, rt0 := refreshServer(t)
	t.Run("garbage", func(t *testing.T) {
		wantEntraError(t, post(t, s, entraToken(s), refreshForm("web", "not-a-refresh-token")), 400, "invalid_grant", 9002313)
	})
	t.Run("missing", func(t *testing.T) {
		wantEntraError(t, post(t, s, entraToken(s), refreshForm("web", "")), 400, "invalid_request", 900144)
	})
	t.Run("other client", func(t *testing.T) {
		wantEntraError(t, post(t, s, entraToken(s), refreshForm("web2", rt0)), 400, "invalid_grant", 70000)
	})
	t.Run("inactive too long", func(t *testing.T) {
		rt := s.IssueRefreshToken("web", "bob@example.com", mailScopes)
		s.Advance(DefaultRefreshTokenLifetime + time.Hour)
		defer s.Advance(-DefaultRefreshTokenLifetime - time.Hour)
		wantEntraError(t, post(t, s, entraToken(s), refreshForm("web", rt)), 400, "invalid_grant", 700082)
	})
	t.Run("revoked grant", func(t *testing.T) {
		rt := s.IssueRefreshToken("web", "carol@example.com", mailScopes)
		at := post(t, s, entraToken(s), refreshForm("web", rt)).str("access_token")
		s.RevokeGrant(rt)
		wantEntraError(t, post(t, s, entraToken(s), refreshForm("web", rt)), 400, "invalid_grant", 50173)
		if _, err := s.Verify(at); !errors.Is(err, ErrTokenRevoked) {
			t.Fatalf("Verify after RevokeGrant: %v", err)
		}
	})
	t.Run("revoked user", func(t *testing.T) {
		rt := s.IssueRefreshToken("web", "dave@example.com", mailScopes)
		other := s.IssueRefreshToken("web", "erin@example.com", mailScopes)
		s.RevokeUser("DAVE@example.com")
		wantEntraError(t, post(t, s, entraToken(s), refreshForm("web", rt)), 400, "invalid_grant", 50173)
		if r := post(t, s, entraToken(s), refreshForm("web", other)); r.status != 200 {
			t.Fatalf("other user's grant: %d", r.status)
		}
	})
}

func TestRefreshScopeNarrowing(t *testing.T) {
	s, rt0 := refreshServer(t)
	f := refreshForm("web", rt0)
	f.Set("scope", "https://outlook.office.com/SMTP.Send offline_access")
	r := post(t, s, entraToken(s), f)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if r.str("scope") != "https://outlook.office.com/SMTP.Send offline_access" {
		t.Errorf("scope = %q", r.str("scope"))
	}
}

// Many clients racing on one refresh token with strict rotation: the server stays consistent (run
// with -race), every success extends the chain by one, and the grant ends revoked or intact as the
// rules say.
func TestConcurrentRefreshIsConsistent(t *testing.T) {
	s, rt0 := refreshServer(t)
	s.SetReuseDetection(true)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := s.Client().PostForm(entraToken(s), refreshForm("web", rt0))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode == 200 {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d refreshes of one token succeeded, want exactly 1 (the others are reuse)", ok)
	}
	if n := len(s.RefreshChain(rt0)); n != 2 {
		t.Fatalf("chain length %d, want 2", n)
	}
	if !s.GrantRevoked(rt0) {
		t.Fatal("reuse of a rotated token did not revoke the family")
	}
}
