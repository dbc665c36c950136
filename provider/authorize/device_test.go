package authorize

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/internal/testclock"
	"github.com/mailoauth/mailoauth/provider/oauth"
)

// deviceAnswer is one scripted answer of the fake token endpoint; drop
// closes the connection instead of answering.
type deviceAnswer struct {
	status     int
	body       string
	retryAfter string
	drop       bool
}

func pending(status int) deviceAnswer {
	return deviceAnswer{status: status, body: `{"error":"authorization_pending"}`}
}

// fakeDeviceServer answers the device authorization request with auth and
// token polls from script, in order; the last answer repeats. It records
// each form and when each poll came.
type fakeDeviceServer struct {
	*httptest.Server
	mu         sync.Mutex
	auth       string
	script     []deviceAnswer
	polls      int
	pollTimes  []time.Time
	deviceForm url.Values
	pollForms  []url.Values
	onPoll     func(n int) // called at the n-th poll (1-based) before it is answered
}

func newFakeDeviceServer(t *testing.T, auth string, script ...deviceAnswer) *fakeDeviceServer {
	s := &fakeDeviceServer{auth: auth, script: script}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /device", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		s.mu.Lock()
		s.deviceForm = r.PostForm
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, s.auth)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		s.mu.Lock()
		if r.PostForm.Get("grant_type") != oauth.GrantDeviceCode || r.PostForm.Get("device_code") != "DC" {
			s.mu.Unlock()
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":"invalid_request"}`)
			return
		}
		a := s.script[min(s.polls, len(s.script)-1)]
		s.polls++
		n := s.polls
		s.pollTimes = append(s.pollTimes, time.Now())
		s.pollForms = append(s.pollForms, r.PostForm)
		onPoll := s.onPoll
		s.mu.Unlock()
		if onPoll != nil {
			onPoll(n)
		}
		if a.drop {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.WriteHeader(a.status)
		fmt.Fprint(w, a.body)
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func (s *fakeDeviceServer) pollCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.polls
}

// The answers announce an interval of 1 s, the shortest x/oauth2 polls at.
const (
	entraDeviceAuth  = `{"device_code":"DC","user_code":"ABCD-EFGH","verification_uri":"https://microsoft.com/devicelogin","expires_in":900,"interval":1,"message":"To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code ABCD-EFGH to authenticate."}`
	googleDeviceAuth = `{"device_code":"DC","user_code":"GQVQ-JKEC","verification_url":"https://www.google.com/device","expires_in":"1800","interval":1}`
	deviceOK         = `{"access_token":"AT","token_type":"Bearer","expires_in":3600,"refresh_token":"RT"}`
)

// sleepRecorder is the flow's Clock: it records the waits asked of it
// (the extra wait a Retry-After asks for; polls are paced by x/oauth2).
type sleepRecorder struct {
	mu    sync.Mutex
	slept []time.Duration
}

func (s *sleepRecorder) Now() time.Time { return testNow }

func (s *sleepRecorder) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.slept = append(s.slept, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (srv *fakeDeviceServer) flow(store *memStore, sl *sleepRecorder) *DeviceFlow {
	return &DeviceFlow{
		DeviceURL: srv.URL + "/device",
		Client:    &oauth.Client{TokenURL: srv.URL + "/token", ID: "app-1", Clock: testclock.At(testNow)},
		Scopes:    []string{"offline_access", "https://outlook.office.com/IMAP.AccessAsUser.All"},
		Store:     store, Key: "entra/bob", Account: "bob@example.com",
		Clock: sl,
	}
}

func TestDeviceFlowPollsThroughEveryWaitingState(t *testing.T) {
	t.Parallel()
	srv := newFakeDeviceServer(t, entraDeviceAuth,
		pending(400),
		pending(428), // Google's status for pending
		deviceAnswer{status: 503, body: `{"error":"temporarily_unavailable"}`, retryAfter: "3"},
		deviceAnswer{drop: true}, // a network failure
		deviceAnswer{status: 200, body: deviceOK},
	)
	store := newMemStore()
	sl := &sleepRecorder{}
	f := srv.flow(store, sl)
	f.Client.Auth = oauth.ClientSecretPost("app-secret-value")
	var got DevicePrompt
	rec, err := f.Authorize(context.Background(), func(p DevicePrompt) error { got = p; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if got.UserCode != "ABCD-EFGH" || got.VerificationURI != "https://microsoft.com/devicelogin" || got.ExpiresIn != 15*time.Minute || !strings.Contains(got.Message, "ABCD-EFGH") {
		t.Errorf("prompt %+v", got)
	}
	if srv.polls != 5 {
		t.Errorf("polls = %d, want 5", srv.polls)
	}
	// The 503 asked for 3 s: 2 s more than the interval x/oauth2 waits anyway.
	if fmt.Sprint(sl.slept) != "[2s]" {
		t.Errorf("extra waits %v, want [2s]", sl.slept)
	}
	stored, _ := store.get("entra/bob")
	if rec.Token.AccessToken != "AT" || stored.Token.RefreshToken != "RT" || stored.Account != "bob@example.com" || len(stored.Scopes) != 2 ||
		!stored.Token.Expiry.Equal(testNow.Add(time.Hour)) {
		t.Errorf("stored %+v", stored)
	}
	if srv.deviceForm.Get("client_id") != "app-1" || !strings.Contains(srv.deviceForm.Get("scope"), "IMAP.AccessAsUser.All") {
		t.Errorf("device form %v", srv.deviceForm)
	}
	// The confidential client authenticates on every request.
	for i, form := range append([]url.Values{srv.deviceForm}, srv.pollForms...) {
		if form.Get("client_secret") != "app-secret-value" || form.Get("client_id") != "app-1" {
			t.Errorf("request %d carries no client authentication: %v", i, form)
		}
	}
	for i, form := range srv.pollForms {
		if form.Has("scope") {
			t.Errorf("poll %d sends a scope: %v", i, form)
		}
	}
}

func TestDeviceFlowSlowsDown(t *testing.T) {
	t.Parallel()
	srv := newFakeDeviceServer(t, entraDeviceAuth, deviceAnswer{status: 400, body: `{"error":"slow_down"}`}, deviceAnswer{status: 200, body: deviceOK})
	if _, err := srv.flow(newMemStore(), &sleepRecorder{}).Authorize(context.Background(), func(DevicePrompt) error { return nil }); err != nil {
		t.Fatal(err)
	}
	// RFC 8628 section 3.5: 5 s more than the interval of 1 s.
	if srv.polls != 2 || srv.pollTimes[1].Sub(srv.pollTimes[0]) < 6*time.Second {
		t.Errorf("%d polls, %v apart; want 2, at least 6 s apart", srv.polls, srv.pollTimes[len(srv.pollTimes)-1].Sub(srv.pollTimes[0]))
	}
}

func TestDeviceFlowAcceptsGoogleAnswer(t *testing.T) {
	t.Parallel()
	srv := newFakeDeviceServer(t, googleDeviceAuth, deviceAnswer{status: 200, body: deviceOK})
	var got DevicePrompt
	_, err := srv.flow(newMemStore(), &sleepRecorder{}).Authorize(context.Background(), func(p DevicePrompt) error { got = p; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if got.VerificationURI != "https://www.google.com/device" || got.ExpiresIn != 30*time.Minute ||
		got.Message != "To sign in, open https://www.google.com/device in a browser and enter the code GQVQ-JKEC." {
		t.Errorf("prompt %+v", got)
	}
}

func TestDeviceFlowStops(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ans  deviceAnswer
		is   error
		code string
	}{
		{"expired_token", deviceAnswer{status: 400, body: `{"error":"expired_token"}`}, ErrDeviceExpired, "expired_token"},
		{"authorization_declined", deviceAnswer{status: 400, body: `{"error":"authorization_declined"}`}, ErrDeviceDeclined, "authorization_declined"},
		{"access_denied", deviceAnswer{status: 403, body: `{"error":"access_denied"}`}, ErrDeviceDeclined, "access_denied"},
		{"bad_verification_code", deviceAnswer{status: 400, body: `{"error":"bad_verification_code"}`}, nil, "bad_verification_code"},
		{"invalid_client", deviceAnswer{status: 401, body: `{"error":"invalid_client"}`}, nil, "invalid_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newFakeDeviceServer(t, entraDeviceAuth, tc.ans)
			store := newMemStore()
			_, err := srv.flow(store, &sleepRecorder{}).Authorize(context.Background(), func(DevicePrompt) error { return nil })
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want %v", err, tc.is)
			}
			var te *oauth.TokenError
			if !errors.As(err, &te) || te.Code() != tc.code {
				t.Errorf("err = %v, want oauth.TokenError %s", err, tc.code)
			}
			if srv.pollCount() != 1 {
				t.Errorf("polls = %d, want 1 (stop at once)", srv.pollCount())
			}
			if _, ok := store.get("entra/bob"); ok {
				t.Error("grant saved")
			}
		})
	}
}

func TestDeviceFlowStopsAtDeadline(t *testing.T) {
	t.Parallel()
	srv := newFakeDeviceServer(t, `{"device_code":"DC","user_code":"U","verification_uri":"https://x","expires_in":2,"interval":1}`, pending(400))
	start := time.Now()
	_, err := srv.flow(newMemStore(), &sleepRecorder{}).Authorize(context.Background(), func(DevicePrompt) error { return nil })
	if !errors.Is(err, ErrDeviceExpired) {
		t.Fatalf("err = %v, want ErrDeviceExpired", err)
	}
	if n := srv.pollCount(); n > 2 || time.Since(start) < 2*time.Second {
		t.Errorf("%d polls in %v, want at most 2 and the whole 2 s", n, time.Since(start))
	}
}

func TestDeviceFlowStopsWhenContextIsCancelled(t *testing.T) {
	t.Parallel()
	srv := newFakeDeviceServer(t, entraDeviceAuth, pending(400))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv.onPoll = func(n int) {
		if n == 2 {
			cancel()
		}
	}
	_, err := srv.flow(newMemStore(), &sleepRecorder{}).Authorize(ctx, func(DevicePrompt) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if srv.pollCount() != 2 {
		t.Errorf("polls = %d, want 2", srv.pollCount())
	}
}

func TestDeviceFlowBadStart(t *testing.T) {
	for _, auth := range []string{`{"user_code":"U"}`, `not json`} {
		srv := newFakeDeviceServer(t, auth, pending(400))
		prompted := false
		_, err := srv.flow(newMemStore(), &sleepRecorder{}).Authorize(context.Background(), func(DevicePrompt) error { prompted = true; return nil })
		if err == nil || prompted {
			t.Errorf("%s: err = %v, prompted %v", auth, err, prompted)
		}
	}
	srv := newFakeDeviceServer(t, entraDeviceAuth, pending(400))
	_, err := srv.flow(newMemStore(), &sleepRecorder{}).Authorize(context.Background(), func(DevicePrompt) error { return errors.New("no terminal") })
	if err == nil || !strings.Contains(err.Error(), "no terminal") || srv.polls != 0 {
		t.Errorf("prompt failure: err = %v polls %d", err, srv.polls)
	}
}

// TestDeviceFlowRefusesImpossibleTimes: a device authorization whose
// expires_in or interval is not a finite, plausible number of seconds is
// refused before the user is prompted.
func TestDeviceFlowRefusesImpossibleTimes(t *testing.T) {
	for _, field := range []string{"expires_in", "interval"} {
		for _, v := range []string{`"NaN"`, `"Inf"`, `1e400`, `-5`, `1e12`} {
			t.Run(field+"="+v, func(t *testing.T) {
				answer := strings.Replace(entraDeviceAuth, `"`+field+`":`+map[string]string{"expires_in": "900", "interval": "1"}[field], `"`+field+`":`+v, 1)
				srv := newFakeDeviceServer(t, answer, deviceAnswer{status: 200, body: deviceOK})
				prompted := false
				_, err := srv.flow(newMemStore(), &sleepRecorder{}).Authorize(context.Background(), func(DevicePrompt) error { prompted = true; return nil })
				var re *oauth.ResponseError
				if !errors.As(err, &re) || !strings.Contains(re.Reason, field) || prompted {
					t.Errorf("err = %v (prompted %v), want a ResponseError about %s", err, prompted, field)
				}
			})
		}
	}
}
