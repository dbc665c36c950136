package authorize

import (
	"context"
	"html/template"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/internal/testclock"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/oauth"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// testNow is the time of the unit tests' clocks.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type authCodeRig struct {
	idp       *fakeIdP
	app       *httptest.Server
	flow      *AuthCodeFlow
	store     *memStore
	clock     *testclock.Clock
	completed chan *tokenstore.Record
}

func newAuthCodeRig(t *testing.T) *authCodeRig {
	t.Helper()
	rig := &authCodeRig{idp: newFakeIdP(t), store: newMemStore(), clock: testclock.At(testNow), completed: make(chan *tokenstore.Record, 10)}
	mux := http.NewServeMux()
	rig.app = httptest.NewServer(mux)
	t.Cleanup(rig.app.Close)
	rig.flow = &AuthCodeFlow{
		AuthURL:     rig.idp.URL + "/authorize",
		Client:      &oauth.Client{TokenURL: rig.idp.URL + "/token", ID: "app-1", Clock: rig.clock},
		RedirectURL: rig.app.URL + "/oauth/callback",
		Scopes:      []string{"https://mail.google.com/"},
		Params:      url.Values{"access_type": {"offline"}, "prompt": {"consent"}},
		Store:       rig.store,
		Key:         "google/alice",
		Account:     "alice@example.com",
		Clock:       rig.clock,
		OnComplete: func(w http.ResponseWriter, r *http.Request, rec *tokenstore.Record) {
			rig.completed <- rec
			io.WriteString(w, "done for "+rec.Account)
		},
	}
	mux.Handle("/oauth/start", rig.flow.StartHandler())
	mux.Handle("/oauth/callback", rig.flow.CallbackHandler())
	return rig
}

// browser returns a client with a cookie jar, like a browser.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestAuthCodeFlowSavesGrantAndRefusesReplay(t *testing.T) {
	rig := newAuthCodeRig(t)
	b := browser(t)
	resp, body := get(t, b, rig.app.URL+"/oauth/start")
	if resp.StatusCode != 200 || body != "done for alice@example.com" {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}
	rec := <-rig.completed
	stored, ok := rig.store.get("google/alice")
	if !ok {
		t.Fatal("nothing stored")
	}
	if stored.Token.AccessToken != "AT-code-1" || stored.Token.RefreshToken != "RT-1" || stored.Account != "alice@example.com" ||
		len(stored.Scopes) != 1 || stored.Scopes[0] != "https://mail.google.com/" || !stored.UpdatedAt.Equal(testNow) || stored.Version != 1 || rec.Version != 1 {
		t.Errorf("stored %+v, OnComplete got version %d", stored, rec.Version)
	}
	if !stored.Token.Expiry.Equal(testNow.Add(time.Hour)) {
		t.Errorf("expiry %v", stored.Token.Expiry)
	}
	q := rig.idp.lastAuth
	if q.Get("access_type") != "offline" || q.Get("prompt") != "consent" || q.Get("login_hint") != "alice@example.com" ||
		q.Get("scope") != "https://mail.google.com/" || q.Get("client_id") != "app-1" || len(q.Get("state")) < 22 {
		t.Errorf("authorize query %v", q)
	}

	// The same callback URL again (reload, or an attacker replaying it).
	callback := resp.Request.URL.String()
	resp, body = get(t, b, callback)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "already used") {
		t.Errorf("replay: status %d body %q", resp.StatusCode, body)
	}
	if s, _ := rig.store.get("google/alice"); s.Version != 1 {
		t.Errorf("replay changed the store: version %d", s.Version)
	}
}

func TestAuthCodeFlowOverwritesExistingGrantWithCAS(t *testing.T) {
	rig := newAuthCodeRig(t)
	if _, err := SaveGrant(context.Background(), rig.store, "google/alice", "alice@example.com", nil, nil, testNow); err != nil {
		t.Fatal(err)
	}
	rig.store.conflicts = 2 // two concurrent writers get in between
	resp, _ := get(t, browser(t), rig.app.URL+"/oauth/start")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	s, _ := rig.store.get("google/alice")
	if s.Token == nil || s.Token.AccessToken != "AT-code-1" || s.Version != 4 {
		t.Errorf("stored %+v", s)
	}
}

func TestAuthCodeFlowRefusesCallbackFromAnotherBrowser(t *testing.T) {
	rig := newAuthCodeRig(t)
	// No cookie jar: the binding cookie set by the start handler is lost,
	// as when an attacker makes a victim's browser finish the attacker's
	// authorization.
	resp, body := get(t, &http.Client{}, rig.app.URL+"/oauth/start")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "another browser") {
		t.Errorf("status %d body %q", resp.StatusCode, body)
	}
	if _, ok := rig.store.get("google/alice"); ok {
		t.Error("grant saved without the browser binding")
	}
}

func TestAuthCodeFlowRefusesExpiredAndUnknownState(t *testing.T) {
	rig := newAuthCodeRig(t)
	b := browser(t)
	// Stop at the identity provider's redirect, wait too long, then follow it.
	b.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), rig.app.URL+"/oauth/callback") {
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, _ := get(t, b, rig.app.URL+"/oauth/start")
	callback := resp.Header.Get("Location")
	if callback == "" {
		t.Fatalf("no redirect to the callback: %d", resp.StatusCode)
	}
	rig.clock.Advance(StateLifetime + time.Second)
	resp, body := get(t, b, callback)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "expired") {
		t.Errorf("expired: status %d body %q", resp.StatusCode, body)
	}

	for _, u := range []string{"/oauth/callback?state=forged&code=x", "/oauth/callback?code=x"} {
		resp, body = get(t, b, rig.app.URL+u)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Nothing was saved") {
			t.Errorf("%s: status %d body %q", u, resp.StatusCode, body)
		}
	}
	if _, ok := rig.store.get("google/alice"); ok {
		t.Error("grant saved")
	}
}

func TestAuthCodeFlowShowsIdPErrorEscaped(t *testing.T) {
	rig := newAuthCodeRig(t)
	rig.idp.set(func(f *fakeIdP) {
		f.denyCode = "access_denied"
		f.denyDesc = `AADSTS65004: User declined to consent <script>alert(1)</script>`
	})
	resp, body := get(t, browser(t), rig.app.URL+"/oauth/start")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d", resp.StatusCode)
	}
	// The diagnosis comes from Diagnose's catalogue.
	d := provider.Diagnose(&CallbackError{Code: "access_denied"})
	if d == nil {
		t.Fatal("Diagnose knows nothing of access_denied")
	}
	for _, want := range []string{"Authorization failed", "<code>access_denied</code>", "AADSTS65004: User declined to consent &lt;script&gt;", "How to fix it", template.HTMLEscapeString(d.Summary)} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<script>") {
		t.Error("IdP description rendered as markup")
	}
	if _, ok := rig.store.get("google/alice"); ok {
		t.Error("grant saved after an IdP error")
	}
}

func TestAuthCodeFlowShowsExchangeFailure(t *testing.T) {
	rig := newAuthCodeRig(t)
	rig.idp.set(func(f *fakeIdP) { f.tokenFail = "invalid_client" })
	resp, body := get(t, browser(t), rig.app.URL+"/oauth/start")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "<code>invalid_client</code>") || !strings.Contains(body, "What went wrong") {
		t.Errorf("status %d body %q", resp.StatusCode, body)
	}
	if strings.Contains(body, "code-1") {
		t.Error("page shows the authorization code")
	}
}

func TestAuthCodeStartHandlerMemoryIsBounded(t *testing.T) {
	rig := newAuthCodeRig(t)
	rig.flow.MaxPending = 50
	h := rig.flow.StartHandler()
	for range 2000 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/oauth/start", nil))
		if w.Code != http.StatusFound {
			t.Fatalf("status %d", w.Code)
		}
	}
	if n := rig.flow.table().Len(); n != 50 {
		t.Errorf("pending authorizations = %d, want the cap 50", n)
	}
}

func TestAuthCodeStartHandlerCookieAndRedirect(t *testing.T) {
	rig := newAuthCodeRig(t)
	w := httptest.NewRecorder()
	rig.flow.StartHandler().ServeHTTP(w, httptest.NewRequest("GET", "/oauth/start", nil))
	loc, err := url.Parse(w.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	c := cookies[0]
	if c.Name != bindingCookieName(q.Get("state")) || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/oauth/callback" || c.Value == q.Get("state") {
		t.Errorf("cookie %+v", c)
	}
	if q.Get("redirect_uri") != rig.flow.RedirectURL || q.Get("code_challenge_method") != "S256" {
		t.Errorf("query %v", q)
	}
}

func TestAuthCodeFlowMisconfiguredIsAPage(t *testing.T) {
	f := &AuthCodeFlow{AuthURL: "not a url", Client: &oauth.Client{ID: "c"}, Store: newMemStore(), Key: "k", RedirectURL: "http://x/cb"}
	for _, h := range []http.Handler{f.StartHandler(), f.CallbackHandler()} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		if !strings.Contains(w.Body.String(), "not configured") {
			t.Errorf("body %q", w.Body.String())
		}
	}
}

func TestRenderPageShowsDiagnosis(t *testing.T) {
	w := httptest.NewRecorder()
	renderPage(w, 400, page{Title: "T", Code: "consent_required", URI: "javascript:alert(1)",
		Diagnosis: &provider.Diagnosis{Kind: provider.Reauthorize, Summary: "Consent <missing>", Fix: "Grant admin consent"}})
	body := w.Body.String()
	for _, want := range []string{"Consent &lt;missing&gt;", "Grant admin consent", "consent_required"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "javascript:") {
		t.Error("javascript: link rendered")
	}
	if w.Header().Get("Cache-Control") != "no-store" {
		t.Error("page cacheable")
	}
}
