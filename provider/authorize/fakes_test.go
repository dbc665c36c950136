package authorize

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/provider/oauth"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// memStore is a compare-and-swap store for the unit tests of this package
// (the end-to-end tests use tokenstore.NewMemory).
type memStore struct {
	mu    sync.Mutex
	recs  map[string]tokenstore.Record
	saves int
	// conflicts makes the next n saves fail with ErrConflict after bumping
	// the stored version, as a concurrent writer would.
	conflicts int
}

func newMemStore() *memStore { return &memStore{recs: map[string]tokenstore.Record{}} }

func (s *memStore) Load(_ context.Context, key string) (*tokenstore.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[key]
	if !ok {
		return nil, tokenstore.ErrNotFound
	}
	return &r, nil
}

func (s *memStore) Save(_ context.Context, key string, rec *tokenstore.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.recs[key]
	if s.conflicts > 0 {
		s.conflicts--
		cur.Version++
		s.recs[key] = cur
		return tokenstore.ErrConflict
	}
	if (ok && cur.Version != rec.Version) || (!ok && rec.Version != 0) {
		return tokenstore.ErrConflict
	}
	rec.Version = cur.Version + 1
	s.recs[key] = *rec
	s.saves++
	return nil
}

func (s *memStore) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.recs[key]; !ok {
		return tokenstore.ErrNotFound
	}
	delete(s.recs, key)
	return nil
}

func (s *memStore) get(key string) (tokenstore.Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[key]
	return r, ok
}

// fakeIdP is the smallest authorize + token endpoint pair that checks PKCE:
// /authorize redirects to redirect_uri with a code (or the configured
// error), /token redeems the code once against its challenge.
type fakeIdP struct {
	*httptest.Server
	t  *testing.T
	mu sync.Mutex
	// codes: code -> challenge and redirect_uri it was issued for
	codes     map[string][2]string
	next      int
	denyCode  string // non-empty: /authorize answers ?error=denyCode
	denyDesc  string
	tokenFail string   // non-empty: /token answers 400 with this error
	iss       []string // the iss parameters of each answer (RFC 9207); none: no iss
	lastAuth  url.Values
}

func newFakeIdP(t *testing.T) *fakeIdP {
	f := &fakeIdP{t: t, codes: map[string][2]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", f.authorize)
	mux.HandleFunc("POST /token", f.token)
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeIdP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastAuth = q
	ru, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || q.Get("code_challenge_method") != "S256" || q.Get("response_type") != "code" {
		http.Error(w, "bad authorize request", http.StatusBadRequest)
		return
	}
	back := url.Values{"state": {q.Get("state")}}
	if f.denyCode != "" {
		back.Set("error", f.denyCode)
		back.Set("error_description", f.denyDesc)
	} else {
		f.next++
		code := fmt.Sprintf("code-%d", f.next)
		f.codes[code] = [2]string{q.Get("code_challenge"), q.Get("redirect_uri")}
		back.Set("code", code)
	}
	if f.iss != nil {
		back["iss"] = f.iss
	}
	ru.RawQuery = back.Encode()
	http.Redirect(w, r, ru.String(), http.StatusFound)
}

func (f *fakeIdP) token(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fail := func(code, desc string) {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if f.tokenFail != "" {
		fail(f.tokenFail, "injected failure")
		return
	}
	c, ok := f.codes[r.PostForm.Get("code")]
	delete(f.codes, r.PostForm.Get("code"))
	switch {
	case r.PostForm.Get("grant_type") != oauth.GrantAuthorizationCode || !ok:
		fail("invalid_grant", "unknown code")
	case oauth2.S256ChallengeFromVerifier(r.PostForm.Get("code_verifier")) != c[0]:
		fail("invalid_grant", "PKCE verification failed")
	case r.PostForm.Get("redirect_uri") != c[1]:
		fail("invalid_grant", "redirect_uri mismatch")
	default:
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "AT-" + r.PostForm.Get("code"), "token_type": "Bearer", "expires_in": 3600, "refresh_token": "RT-1"})
	}
}

func (f *fakeIdP) set(fn func(f *fakeIdP)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}
