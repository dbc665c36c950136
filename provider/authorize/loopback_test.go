package authorize

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/internal/testclock"
	"github.com/mailoauth/mailoauth/provider/oauth"
)

func loopbackFlow(idp *fakeIdP, store *memStore) *LoopbackFlow {
	return &LoopbackFlow{
		AuthURL: idp.URL + "/authorize",
		Client:  &oauth.Client{TokenURL: idp.URL + "/token", ID: "desk-app", Clock: testclock.At(testNow)},
		Scopes:  []string{"https://mail.google.com/"},
		Params:  url.Values{"access_type": {"offline"}},
		Store:   store, Key: "google/carol", Account: "carol@example.com",
		Clock: testclock.At(testNow),
	}
}

func TestLoopbackFlowCatchesOneRedirect(t *testing.T) {
	idp := newFakeIdP(t)
	store := newMemStore()
	var redirectURI, page string
	var strayStatus int
	rec, err := loopbackFlow(idp, store).Authorize(context.Background(), func(authURL string) error {
		u, _ := url.Parse(authURL)
		redirectURI = u.Query().Get("redirect_uri")
		// A stray request with a wrong state is refused and does not end the wait.
		resp, err := http.Get(redirectURI + "?state=wrong&code=evil")
		if err != nil {
			return err
		}
		strayStatus = resp.StatusCode
		resp.Body.Close()
		// The browser follows the identity provider's redirect back.
		resp, err = http.Get(authURL)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		page = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strayStatus != http.StatusBadRequest {
		t.Errorf("stray request status %d", strayStatus)
	}
	if !strings.HasPrefix(redirectURI, "http://127.0.0.1:") || !strings.HasSuffix(redirectURI, "/") {
		t.Errorf("redirect_uri %q", redirectURI)
	}
	if !strings.Contains(page, "Mailbox authorized") {
		t.Errorf("browser page %q", page)
	}
	stored, _ := store.get("google/carol")
	if rec.Token.AccessToken != "AT-code-1" || stored.Token.RefreshToken != "RT-1" || stored.Account != "carol@example.com" {
		t.Errorf("stored %+v", stored)
	}
	if idp.lastAuth.Get("access_type") != "offline" || idp.lastAuth.Get("code_challenge_method") != "S256" {
		t.Errorf("authorize query %v", idp.lastAuth)
	}
	// The listener is closed once Authorize returns.
	u, _ := url.Parse(redirectURI)
	if c, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		c.Close()
		t.Error("loopback listener still open")
	}
}

func TestLoopbackFlowReturnsIdPError(t *testing.T) {
	idp := newFakeIdP(t)
	idp.set(func(f *fakeIdP) { f.denyCode, f.denyDesc = "access_denied", "The user denied" })
	var status int
	_, err := loopbackFlow(idp, newMemStore()).Authorize(context.Background(), func(authURL string) error {
		resp, err := http.Get(authURL)
		if err != nil {
			return err
		}
		status = resp.StatusCode
		return resp.Body.Close()
	})
	var ce *CallbackError
	if !errors.As(err, &ce) || ce.Code != "access_denied" || ce.Description != "The user denied" {
		t.Fatalf("err = %v", err)
	}
	if status != http.StatusBadRequest {
		t.Errorf("browser status %d", status)
	}
}

func TestLoopbackFlowTimesOutAndReportsOpenFailure(t *testing.T) {
	idp := newFakeIdP(t)
	f := loopbackFlow(idp, newMemStore())
	f.Timeout = 50 * time.Millisecond
	_, err := f.Authorize(context.Background(), func(string) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want DeadlineExceeded", err)
	}
	_, err = f.Authorize(context.Background(), func(string) error { return errors.New("no browser") })
	if err == nil || !strings.Contains(err.Error(), "no browser") {
		t.Errorf("err = %v", err)
	}
}
