package providertest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

func ccServer(t *testing.T) (*Server, url.Values) {
	t.Helper()
	s := newServer(t)
	s.AddApp(App{ClientID: "app", Secret: "pw", Roles: []string{"SMTP.SendAsApp"}})
	return s, url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {"pw"},
		"scope": {"https://outlook.office365.com/.default"}}
}

func TestFailNextAADSTSThenRecovers(t *testing.T) {
	s, form := ccServer(t)
	s.FailNext(2, AADSTS(7000222, "invalid_client", "The provided client secret keys for app 'app' are expired."))
	for i := 0; i < 2; i++ {
		r := post(t, s, entraToken(s), form)
		wantEntraError(t, r, 401, "invalid_client", 7000222)
		if !strings.HasPrefix(r.str("error_description"), "AADSTS7000222: The provided client secret keys") {
			t.Errorf("description %q", r.str("error_description"))
		}
	}
	if r := post(t, s, entraToken(s), form); r.status != 200 {
		t.Fatalf("third request: %d %s", r.status, r.raw)
	}
	if s.Requests("client_credentials") != 3 || s.Requests("") != 3 {
		t.Errorf("Requests = %d / %d, want 3 (failed ones count)", s.Requests("client_credentials"), s.Requests(""))
	}
}

func TestFailNextQueueOrderAndKinds(t *testing.T) {
	s, form := ccServer(t)
	s.FailNext(1, TooManyRequests(90*time.Second))
	s.FailNext(1, ServerError(503))
	s.FailNext(1, MalformedJSON())
	s.FailNext(1, OversizedBody())
	s.FailNext(1, GoogleError(400, "invalid_grant", "Token has been expired or revoked."))
	s.FailNext(1, Failure{Status: 502, Body: "<html>bad gateway</html>"})

	r := post(t, s, entraToken(s), form)
	if r.status != 429 || r.header.Get("Retry-After") != "90" {
		t.Fatalf("429: %d Retry-After=%q", r.status, r.header.Get("Retry-After"))
	}
	wantEntraError(t, r, 429, "temporarily_unavailable", 50196)
	wantEntraError(t, post(t, s, entraToken(s), form), 503, "temporarily_unavailable", 90033)
	r = post(t, s, entraToken(s), form)
	if r.status != 200 || json.Valid([]byte(r.raw)) || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("malformed JSON: %d %q %s", r.status, r.header.Get("Content-Type"), r.raw)
	}
	resp, err := s.Client().PostForm(entraToken(s), form)
	if err != nil {
		t.Fatal(err)
	}
	big := readRaw(t, resp)
	if len(big) != OversizeBodyLen || !json.Valid(big) {
		t.Fatalf("oversized body: %d bytes, valid=%v", len(big), json.Valid(big))
	}
	wantGoogleError(t, post(t, s, entraToken(s), form), 400, "invalid_grant", "Token has been expired or revoked.")
	r = post(t, s, entraToken(s), form)
	if r.status != 502 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("502: %d %q", r.status, r.header.Get("Content-Type"))
	}
	if r := post(t, s, entraToken(s), form); r.status != 200 {
		t.Fatalf("after the queue: %d", r.status)
	}
}

func readRaw(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	r := readReply(t, resp)
	return []byte(r.raw)
}

func TestMalformedJSONFailsOAuth2Client(t *testing.T) {
	s, _ := ccServer(t)
	s.FailNext(1, MalformedJSON())
	cfg := clientcredentials.Config{ClientID: "app", ClientSecret: "pw", TokenURL: entraToken(s),
		Scopes: []string{"https://outlook.office365.com/.default"}, AuthStyle: oauth2.AuthStyleInParams}
	if _, err := cfg.Token(ctxWith(s)); err == nil {
		t.Fatal("malformed JSON gave a token")
	}
}

func TestSlowAnswersAfterDelayAndHonoursClientTimeout(t *testing.T) {
	s, form := ccServer(t)
	s.FailNext(1, Slow(50*time.Millisecond))
	start := time.Now()
	if r := post(t, s, entraToken(s), form); r.status != 200 {
		t.Fatalf("slow request: %d", r.status)
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Error("no delay")
	}
	s.FailNext(1, Slow(time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := newFormRequest(entraToken(s), form)
	// The client gives up; whatever reaches it must not be a token.
	if resp, err := s.Client().Do(req.WithContext(ctx)); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("hour-long delay answered with a token within 50ms")
		}
	}
}

func TestCloseCutsDelaysAndLeaksNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	s := New()
	s.AddApp(App{ClientID: "app", Secret: "pw", Roles: []string{"SMTP.SendAsApp"}})
	_ = s.PlainURL()
	cfg := clientcredentials.Config{ClientID: "app", ClientSecret: "pw", TokenURL: entraToken(s),
		Scopes: []string{"https://outlook.office365.com/.default"}}
	if _, err := cfg.Token(ctxWith(s)); err != nil {
		t.Fatal(err)
	}
	s.FailNext(1, Slow(time.Hour))
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := s.Client().PostForm(entraToken(s), url.Values{"grant_type": {"client_credentials"}})
		if err == nil {
			resp.Body.Close()
		}
	}()
	for s.Hits("token") < 2 {
		time.Sleep(time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close blocked on a delayed request")
	}
	<-done
	s.Close() // twice is fine
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before, %d after Close:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
	if s.PlainURL() != "" {
		t.Error("PlainURL after Close started a listener")
	}
}

func TestGetOnTokenEndpoint(t *testing.T) {
	s, _ := ccServer(t)
	resp, err := s.Client().Get(entraToken(s))
	if err != nil {
		t.Fatal(err)
	}
	wantEntraError(t, readReply(t, resp), 400, "invalid_request", 900561)
}

func TestAADSTSBodyShape(t *testing.T) {
	f := AADSTS(50076, "invalid_grant", "AADSTS50076: Due to a configuration change made by your administrator, you must use multi-factor authentication.")
	var body map[string]any
	if err := json.Unmarshal([]byte(f.Body), &body); err != nil {
		t.Fatal(err)
	}
	r := reply{status: f.Status, json: body, raw: f.Body}
	wantEntraError(t, r, 400, "invalid_grant", 50076)
	if strings.Count(r.str("error_description"), "AADSTS50076") != 1 {
		t.Errorf("prefix doubled: %q", r.str("error_description"))
	}
	keys := []string{`"error":`, `"error_description":`, `"error_codes":`, `"timestamp":`, `"trace_id":`, `"correlation_id":`, `"error_uri":`}
	last := -1
	for _, k := range keys {
		i := strings.Index(f.Body, k)
		if i < last {
			t.Fatalf("field %s out of Entra's order in %s", k, f.Body)
		}
		last = i
	}
	if AADSTS(7000215, "invalid_client", "x").Status != 401 {
		t.Error("invalid_client is not 401")
	}
}
