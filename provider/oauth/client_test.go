package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/internal/testclock"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// tokenServer answers every request with status, header and body, and
// records the last form it got.
type tokenServer struct {
	*httptest.Server
	mu       sync.Mutex
	forms    []url.Values
	auths    []string // the Authorization header of each request
	status   int
	body     string
	header   http.Header
	bodySize int // >0: send that many bytes of filler instead of body
}

func newTokenServer(t *testing.T, status int, body string) *tokenServer {
	t.Helper()
	ts := &tokenServer{status: status, body: body, header: http.Header{}}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("parse form: %v", err)
		}
		ts.mu.Lock()
		ts.forms = append(ts.forms, r.PostForm)
		ts.auths = append(ts.auths, r.Header.Get("Authorization"))
		status, body, size := ts.status, ts.body, ts.bodySize
		for k, v := range ts.header {
			w.Header()[k] = v
		}
		ts.mu.Unlock()
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		if size > 0 {
			io.WriteString(w, `{"access_token":"`)
			io.WriteString(w, strings.Repeat("a", size))
			io.WriteString(w, `"}`)
			return
		}
		io.WriteString(w, body)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) set(status int, body string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.status, ts.body = status, body
}

func (ts *tokenServer) setHeader(k, v string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.header.Set(k, v)
}

func (ts *tokenServer) lastForm() url.Values {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.forms) == 0 {
		return nil
	}
	return ts.forms[len(ts.forms)-1]
}

func (ts *tokenServer) endpoint(cred ClientAuth) *Client {
	return &Client{TokenURL: ts.URL + "/token", ID: "client-1", Auth: cred,
		HTTPClient: ts.Client(), Clock: testclock.At(testNow)}
}

func TestClientParsesSuccess(t *testing.T) {
	for _, tc := range []struct {
		name, expiresIn string
		want            int64
	}{
		{"number", `3599`, 3599},
		{"string", `"3599"`, 3599},
		{"absent", ``, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp := ""
			if tc.expiresIn != "" {
				exp = `,"expires_in":` + tc.expiresIn
			}
			ts := newTokenServer(t, 200, `{"access_token":"AT","token_type":"Bearer","refresh_token":"RT","scope":"a b","id_token":"IDT"`+exp+`}`)
			tok, err := ts.endpoint(ClientSecretPost("s3cret")).ClientCredentials(context.Background(), []string{"x"})
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != "AT" || tok.RefreshToken != "RT" || tok.TokenType != "Bearer" {
				t.Errorf("token = %+v", tok)
			}
			if tok.ExpiresIn != tc.want {
				t.Errorf("ExpiresIn = %d, want %d", tok.ExpiresIn, tc.want)
			}
			wantExpiry := time.Time{}
			if tc.want > 0 {
				wantExpiry = testNow.Add(time.Duration(tc.want) * time.Second)
			}
			if !tok.Expiry.Equal(wantExpiry) {
				t.Errorf("Expiry = %v, want %v", tok.Expiry, wantExpiry)
			}
			if tok.Extra("id_token") != "IDT" || tok.Extra("scope") != "a b" {
				t.Errorf("extra id_token=%v scope=%v", tok.Extra("id_token"), tok.Extra("scope"))
			}
			f := ts.lastForm()
			if f.Get("client_id") != "client-1" || f.Get("client_secret") != "s3cret" || f.Get("scope") != "x" || f.Get("grant_type") != "client_credentials" {
				t.Errorf("form = %v", f)
			}
		})
	}
}

func TestClientPublicClientSendsNoSecret(t *testing.T) {
	ts := newTokenServer(t, 200, `{"access_token":"AT","token_type":"bearer","expires_in":60}`)
	if _, err := ts.endpoint(nil).Refresh(context.Background(), "RT-public"); err != nil {
		t.Fatal(err)
	}
	if f := ts.lastForm(); f.Has("client_secret") || f.Has("client_assertion") || f.Get("client_id") != "client-1" {
		t.Errorf("form = %v", f)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.forms) != 1 || ts.auths[0] != "" {
		t.Errorf("%d requests, Authorization %q: x/oauth2 must not probe another client authentication", len(ts.forms), ts.auths)
	}
}

func TestClientRefreshKeepsOldRefreshTokenWhenNoneReturned(t *testing.T) {
	ts := newTokenServer(t, 200, `{"access_token":"AT2","token_type":"Bearer","expires_in":3600}`)
	tok, err := ts.endpoint(nil).Refresh(context.Background(), "RT1")
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken != "RT1" {
		t.Errorf("RefreshToken = %q, want RT1", tok.RefreshToken)
	}
	f := ts.lastForm()
	if f.Get("grant_type") != "refresh_token" || f.Get("refresh_token") != "RT1" || f.Has("scope") {
		t.Errorf("form = %v (no scope: the grant's come back)", f)
	}

	ts.set(200, `{"access_token":"AT3","token_type":"Bearer","refresh_token":"RT2","expires_in":60}`)
	tok, err = ts.endpoint(nil).Refresh(context.Background(), "RT1")
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken != "RT2" {
		t.Errorf("rotated RefreshToken = %q, want RT2", tok.RefreshToken)
	}
}

const aadstsBody = `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1\r\nCorrelation ID: 2\r\nTimestamp: 2026-03-01 12:00:00Z","error_codes":[7000215],"timestamp":"2026-03-01 12:00:00Z","trace_id":"1","correlation_id":"2","error_uri":"https://login.microsoftonline.com/error?code=7000215"}`

func TestClientErrorAnswerWrapsRetrieveError(t *testing.T) {
	ts := newTokenServer(t, 401, aadstsBody)
	_, err := ts.endpoint(ClientSecretPost("topsecret-value")).ClientCredentials(context.Background(), nil)
	var te *TokenError
	if !errors.As(err, &te) {
		t.Fatalf("err = %T %v, want *TokenError", err, err)
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatal("no *oauth2.RetrieveError in chain")
	}
	if re.ErrorCode != "invalid_client" || !strings.HasPrefix(re.ErrorDescription, "AADSTS7000215") ||
		re.ErrorURI != "https://login.microsoftonline.com/error?code=7000215" || !strings.Contains(string(re.Body), `"error_codes":[7000215]`) {
		t.Errorf("RetrieveError = %+v", re)
	}
	if te.StatusCode != 401 || te.Grant != "client_credentials" || te.Code() != "invalid_client" {
		t.Errorf("TokenError = %+v", te)
	}
	msg := err.Error()
	if strings.Contains(msg, "topsecret") || strings.Contains(msg, "Trace ID") {
		t.Errorf("error message %q leaks the secret or the multi-line description", msg)
	}
	if !strings.Contains(msg, "AADSTS7000215") {
		t.Errorf("error message %q lacks the AADSTS code", msg)
	}
}

func TestClientUnavailable(t *testing.T) {
	for _, tc := range []struct {
		status     int
		retryAfter string
		body       string
		want       time.Duration
		code       string
	}{
		{429, "7", `{"error":"too_many"}`, 7 * time.Second, "too_many"},
		{503, testNow.Add(30 * time.Second).Format(http.TimeFormat), `<html>down</html>`, 30 * time.Second, ""},
		{500, "", `{"error":"temporarily_unavailable","error_codes":[50001]}`, 0, "temporarily_unavailable"},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			ts := newTokenServer(t, tc.status, tc.body)
			if tc.retryAfter != "" {
				ts.setHeader("Retry-After", tc.retryAfter)
			}
			_, err := ts.endpoint(nil).Refresh(context.Background(), "RTsecret")
			var ue *UnavailableError
			if !errors.As(err, &ue) {
				t.Fatalf("err = %T %v, want *UnavailableError", err, err)
			}
			if ue.StatusCode != tc.status || ue.RetryAfter != tc.want || ue.Err.ErrorCode != tc.code {
				t.Errorf("got %+v (code %q)", ue, ue.Err.ErrorCode)
			}
			if strings.Contains(err.Error(), "RTsecret") {
				t.Errorf("error leaks refresh token: %v", err)
			}
		})
	}
}

func TestClientUnusableAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		ctype  string
		size   int
		reason string
	}{
		{"not json", 200, `<html>login</html>`, "", 0, "not a JSON object"},
		{"no access token", 200, `{"token_type":"Bearer"}`, "", 0, "no access_token"},
		{"bad expires_in", 200, `{"access_token":"A","expires_in":"soon"}`, "", 0, "expires_in"},
		{"wrong token type", 200, `{"access_token":"A","token_type":"mac"}`, "", 0, "not Bearer"},
		{"form encoded", 200, `access_token=A`, "application/x-www-form-urlencoded", 0, "not JSON"},
		{"oversized", 200, ``, "", MaxTokenResponse + 10, "larger than"},
		{"redirect", 307, ``, "", 0, "redirects"},
		{"expires_in zero", 200, `{"access_token":"A","expires_in":0}`, "", 0, "expires_in is 0"},
		{"4xx html", 400, `<html>bad</html>`, "text/html", 0, "not JSON"},
		{"4xx json without error", 400, `{"message":"no"}`, "", 0, "without an OAuth error code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTokenServer(t, tc.status, tc.body)
			ts.mu.Lock()
			ts.bodySize = tc.size
			ts.mu.Unlock()
			if tc.ctype != "" {
				ts.setHeader("Content-Type", tc.ctype)
			}
			if tc.status == 307 {
				ts.setHeader("Location", "/elsewhere")
			}
			_, err := ts.endpoint(nil).Exchange(context.Background(), "CODEsecret", "https://app.example/cb", "")
			var re *ResponseError
			if !errors.As(err, &re) {
				t.Fatalf("err = %T %v, want *ResponseError", err, err)
			}
			if !strings.Contains(re.Reason, tc.reason) {
				t.Errorf("reason %q, want it to contain %q", re.Reason, tc.reason)
			}
			if strings.Contains(err.Error(), "CODEsecret") {
				t.Errorf("error leaks the code: %v", err)
			}
		})
	}
}

func TestClient200WithErrorIsTokenError(t *testing.T) {
	ts := newTokenServer(t, 200, `{"error":"invalid_grant","error_description":"bad"}`)
	_, err := ts.endpoint(nil).Refresh(context.Background(), "RT")
	var te *TokenError
	if !errors.As(err, &te) || te.Code() != "invalid_grant" {
		t.Fatalf("err = %v, want TokenError invalid_grant", err)
	}
}

func TestClientNetworkError(t *testing.T) {
	ts := newTokenServer(t, 200, `{}`)
	e := ts.endpoint(nil)
	ts.Close()
	_, err := e.ClientCredentials(context.Background(), nil)
	var ne *NetworkError
	if !errors.As(err, &ne) {
		t.Fatalf("err = %T %v, want *NetworkError", err, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = (&Client{TokenURL: "http://127.0.0.1:1/token"}).ClientCredentials(ctx, nil)
	if !errors.Is(err, context.Canceled) || !errors.As(err, &ne) {
		t.Fatalf("err = %v, want NetworkError wrapping context.Canceled", err)
	}
}

func TestClientCredentialErrorAndEmptyURL(t *testing.T) {
	if _, err := (&Client{}).ClientCredentials(context.Background(), nil); err == nil {
		t.Error("empty URL: no error")
	}
	ts := newTokenServer(t, 200, `{"access_token":"A"}`)
	_, err := ts.endpoint(ClientSecretPost("")).ClientCredentials(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "client secret is empty") {
		t.Errorf("err = %v", err)
	}
	if ts.lastForm() != nil {
		t.Error("request sent despite credential error")
	}
}

func TestClientSecretDoesNotPrint(t *testing.T) {
	c := ClientSecretPost("hunter2")
	e := &Client{TokenURL: "https://x/token", Auth: c}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%#v", c), fmt.Sprintf("%+v", *e), fmt.Sprintf("%#v", e)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("printed secret: %s", s)
		}
	}
}

func TestClientConcurrentUse(t *testing.T) {
	ts := newTokenServer(t, 200, `{"access_token":"AT","token_type":"Bearer","expires_in":60}`)
	e := ts.endpoint(ClientSecretPost("s"))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := e.ClientCredentials(context.Background(), nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// TestClientNeverScrubsASuccess: a success answer is handed out as it
// came, even when the new refresh token equals the one sent (a server that
// does not rotate).
func TestClientNeverScrubsASuccess(t *testing.T) {
	ts := newTokenServer(t, 200, `{"access_token":"AT-0123456789","token_type":"Bearer","expires_in":60,"refresh_token":"RT-same-0123456789"}`)
	tok, err := ts.endpoint(ClientSecretPost("RT-same-0123456789")).Refresh(context.Background(), "RT-same-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken != "RT-same-0123456789" || tok.AccessToken != "AT-0123456789" {
		t.Errorf("token %+v", tok)
	}
}

// TestClientRefusesToPostElsewhere: a token endpoint that redirects gets
// a ResponseError, and the form, secrets and all, is not posted to the
// redirect's target.
func TestClientRefusesToPostElsewhere(t *testing.T) {
	var hits sync.Map
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Store(r.URL.Path, true)
		io.WriteString(w, `{"access_token":"stolen","token_type":"Bearer","expires_in":60}`)
	}))
	defer target.Close()
	ts := newTokenServer(t, http.StatusTemporaryRedirect, ``)
	ts.setHeader("Location", target.URL+"/grab")
	_, err := ts.endpoint(ClientSecretPost("s3cret-value")).Refresh(context.Background(), "RT-0123456789")
	var re *ResponseError
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "redirects") || re.StatusCode != 307 {
		t.Fatalf("err = %v, want a ResponseError for the redirect", err)
	}
	if _, ok := hits.Load("/grab"); ok {
		t.Error("the form was posted to the redirect's target")
	}
}

// TestClientTimeoutAndCancellation: the HTTP client's Timeout bounds each
// request, and the caller's context stops it, for every grant (x/oauth2
// sends the JWT and device authorization requests without the caller's
// context).
func TestClientTimeoutAndCancellation(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	for _, g := range grantCalls {
		hc := *srv.Client()
		hc.Timeout = 50 * time.Millisecond
		c := &Client{ID: "client-1", TokenURL: srv.URL + "/token", HTTPClient: &hc}
		var ne *NetworkError
		if err := g.run(context.Background(), c, srv.URL); !errors.As(err, &ne) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s with a 50 ms timeout: err = %v, want a NetworkError past its deadline", g.name, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		c.HTTPClient = srv.Client()
		err := g.run(ctx, c, srv.URL)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s with a context of 50 ms: err = %v, want it past its deadline", g.name, err)
		}
	}
}
