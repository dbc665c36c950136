package authorize

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// TestAuthCodeFlowChecksTheIssuer: with Issuer set, the callback's iss
// (RFC 9207) must name it; with RequireIssuer a callback without iss is
// refused too. A refused answer's code is never redeemed, nothing is
// saved, and OnError hears of it.
func TestAuthCodeFlowChecksTheIssuer(t *testing.T) {
	const issuer = "https://idp.example/realms/mail"
	for _, tc := range []struct {
		name     string
		iss      []string // the identity provider's iss parameters
		required bool
		denied   bool // the identity provider answers with an error
		accepted bool
		problem  string
	}{
		{name: "matching iss", iss: []string{issuer}, required: true, accepted: true},
		{name: "matching iss, not required", iss: []string{issuer}, accepted: true},
		{name: "no iss, not required", accepted: true},
		{name: "no iss, required", required: true, problem: "carries no iss"},
		{name: "another issuer", iss: []string{"https://evil.example"}, problem: "names another identity provider"},
		{name: "issuer with a trailing slash", iss: []string{issuer + "/"}, required: true, problem: "names another identity provider"},
		{name: "two iss", iss: []string{issuer, "https://evil.example"}, required: true, problem: "names another identity provider"},
		{name: "an error from another issuer", iss: []string{"https://evil.example"}, denied: true, problem: "names another identity provider"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rig := newAuthCodeRig(t)
			var mu sync.Mutex
			var reported []error
			rig.flow.Issuer, rig.flow.RequireIssuer = issuer, tc.required
			rig.flow.OnError = func(_ *http.Request, err error) {
				mu.Lock()
				reported = append(reported, err)
				mu.Unlock()
			}
			rig.idp.set(func(f *fakeIdP) {
				f.iss = tc.iss
				if tc.denied {
					f.denyCode, f.denyDesc = "access_denied", "the user declined"
				}
			})
			resp, body := get(t, browser(t), rig.app.URL+"/oauth/start")
			_, saved := rig.store.get("google/alice")
			if tc.accepted {
				if resp.StatusCode != 200 || !saved {
					t.Fatalf("status %d, saved %v: %s", resp.StatusCode, saved, body)
				}
				return
			}
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, tc.problem) || saved {
				t.Errorf("status %d, saved %v, page %q; want 400 saying %q", resp.StatusCode, saved, body, tc.problem)
			}
			rig.idp.set(func(f *fakeIdP) {
				if len(f.codes) == 0 && !tc.denied {
					t.Error("the code was redeemed")
				}
			})
			mu.Lock()
			defer mu.Unlock()
			if len(reported) != 1 || !strings.Contains(reported[0].Error(), tc.problem) {
				t.Errorf("OnError heard %v", reported)
			}
		})
	}
}

// TestLoopbackFlowChecksTheIssuer: the loopback redirect is checked the
// same way.
func TestLoopbackFlowChecksTheIssuer(t *testing.T) {
	idp := newFakeIdP(t)
	idp.set(func(f *fakeIdP) { f.iss = []string{"https://evil.example"} })
	store := newMemStore()
	f := loopbackFlow(idp, store)
	f.Issuer = idp.URL
	_, err := f.Authorize(context.Background(), func(u string) error {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "names another identity provider") {
		t.Fatalf("err = %v", err)
	}
	if _, ok := store.get("google/carol"); ok {
		t.Error("a grant was saved")
	}
}

// TestAuthCodeURLKeepsEveryValue: repeatable parameters (RFC 8707
// resource indicators) reach the authorization request with all their
// values; the request's own parameters cannot be replaced.
func TestAuthCodeURLKeepsEveryValue(t *testing.T) {
	to := authCodeURL("https://idp.example/auth?tenant=x", "app", "https://app.example/cb", []string{"openid", "mail"}, "st", "verifier",
		url.Values{"resource": {"imap://mail.example", "smtp://mail.example"}, "prompt": {"consent"}, "state": {"forged"}, "client_id": {"other"}}, "alice@example.com")
	u, err := url.Parse(to)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if r := q["resource"]; len(r) != 2 || r[0] != "imap://mail.example" || r[1] != "smtp://mail.example" {
		t.Errorf("resource %v", r)
	}
	if q.Get("prompt") != "consent" || q.Get("state") != "st" || q.Get("client_id") != "app" || q.Get("tenant") != "x" ||
		q.Get("login_hint") != "alice@example.com" || q.Get("code_challenge_method") != "S256" || q.Get("scope") != "openid mail" || len(q["state"]) != 1 {
		t.Errorf("authorization request %v", q)
	}
	if u.Host != "idp.example" || u.Path != "/auth" {
		t.Errorf("URL %s", to)
	}
}
