package authorize

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/internal/testclock"
	"github.com/mailoauth/mailoauth/provider/oauth"
)

// deviceAnswer is one scripted answer of the fake token endpoint.
type deviceAnswer struct {
	status int
	body   string
}

func pending(status int) deviceAnswer {
	return deviceAnswer{status, `{"error":"authorization_pending"}`}
}

// fakeDeviceServer answers the device authorization request with auth and
// token polls from script, in order; the last answer repeats.
type fakeDeviceServer struct {
	*httptest.Server
	mu         sync.Mutex
	auth       string
	script     []deviceAnswer
	polls      int
	deviceForm map[string][]string
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
		defer s.mu.Unlock()
		if r.PostForm.Get("grant_type") != oauth.GrantDeviceCode || r.PostForm.Get("device_code") != "DC" {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":"invalid_request"}`)
			return
		}
		a := s.script[min(s.polls, len(s.script)-1)]
		s.polls++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		fmt.Fprint(w, a.body)
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

const (
	entraDeviceAuth  = `{"device_code":"DC","user_code":"ABCD-EFGH","verification_uri":"https://microsoft.com/devicelogin","expires_in":900,"interval":5,"message":"To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code ABCD-EFGH to authenticate."}`
	googleDeviceAuth = `{"device_code":"DC","user_code":"GQVQ-JKEC","verification_url":"https://www.google.com/device","expires_in":"1800","interval":5}`
	deviceOK         = `{"access_token":"AT","token_type":"Bearer","expires_in":3600,"refresh_token":"RT"}`
)

type sleepRecorder struct {
	mu     sync.Mutex
	slept  []time.Duration
	clock  *testclock.Clock
	cancel context.CancelFunc // called at the n-th sleep when set
	n      int
}

// Now reads the recorder's clock, or testNow without one.
func (s *sleepRecorder) Now() time.Time {
	if s.clock != nil {
		return s.clock.Now()
	}
	return testNow
}

func (s *sleepRecorder) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.slept = append(s.slept, d)
	n := len(s.slept)
	s.mu.Unlock()
	if s.clock != nil {
		s.clock.Advance(d)
	}
	if s.cancel != nil && n == s.n {
		s.cancel()
	}
	return ctx.Err()
}

func (srv *fakeDeviceServer) flow(store *memStore, sl *sleepRecorder) *DeviceFlow {
	f := &DeviceFlow{
		DeviceURL: srv.URL + "/device",
		Client:    &oauth.Client{TokenURL: srv.URL + "/token", ID: "app-1", Clock: sl},
		Scopes:    []string{"offline_access", "https://outlook.office.com/IMAP.AccessAsUser.All"},
		Store:     store, Key: "entra/bob", Account: "bob@example.com",
		Clock: sl,
	}
	return f
}

func TestDeviceFlowPollsThroughEveryWaitingState(t *testing.T) {
	srv := newFakeDeviceServer(t, entraDeviceAuth,
		pending(400),
		pending(428), // Google's status for pending
		deviceAnswer{400, `{"error":"slow_down"}`},
		pending(400),
		deviceAnswer{503, `{"error":"temporarily_unavailable"}`},
		deviceAnswer{200, deviceOK},
	)
	store := newMemStore()
	sl := &sleepRecorder{}
	var got DevicePrompt
	rec, err := srv.flow(store, sl).Authorize(context.Background(), func(p DevicePrompt) error { got = p; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if got.UserCode != "ABCD-EFGH" || got.VerificationURI != "https://microsoft.com/devicelogin" || got.ExpiresIn != 15*time.Minute || !strings.Contains(got.Message, "ABCD-EFGH") {
		t.Errorf("prompt %+v", got)
	}
	s := 5 * time.Second
	want := []time.Duration{s, s, s, 2 * s, 2 * s, 2 * s}
	if fmt.Sprint(sl.slept) != fmt.Sprint(want) {
		t.Errorf("slept %v, want %v", sl.slept, want)
	}
	if srv.polls != 6 {
		t.Errorf("polls = %d", srv.polls)
	}
	stored, _ := store.get("entra/bob")
	if rec.Token.AccessToken != "AT" || stored.Token.RefreshToken != "RT" || stored.Account != "bob@example.com" || len(stored.Scopes) != 2 {
		t.Errorf("stored %+v", stored)
	}
	if srv.deviceForm["client_id"][0] != "app-1" || !strings.Contains(srv.deviceForm["scope"][0], "IMAP.AccessAsUser.All") {
		t.Errorf("device form %v", srv.deviceForm)
	}
}

func TestDeviceFlowAcceptsGoogleAnswer(t *testing.T) {
	srv := newFakeDeviceServer(t, googleDeviceAuth, deviceAnswer{200, deviceOK})
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
	for _, tc := range []struct {
		name string
		ans  deviceAnswer
		is   error
		code string
	}{
		{"expired_token", deviceAnswer{400, `{"error":"expired_token"}`}, ErrDeviceExpired, "expired_token"},
		{"authorization_declined", deviceAnswer{400, `{"error":"authorization_declined"}`}, ErrDeviceDeclined, "authorization_declined"},
		{"access_denied", deviceAnswer{403, `{"error":"access_denied"}`}, ErrDeviceDeclined, "access_denied"},
		{"bad_verification_code", deviceAnswer{400, `{"error":"bad_verification_code"}`}, nil, "bad_verification_code"},
		{"invalid_client", deviceAnswer{401, `{"error":"invalid_client"}`}, nil, "invalid_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeDeviceServer(t, entraDeviceAuth, pending(400), tc.ans)
			store := newMemStore()
			_, err := srv.flow(store, &sleepRecorder{}).Authorize(context.Background(), func(DevicePrompt) error { return nil })
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want %v", err, tc.is)
			}
			var te *oauth.TokenError
			if !errors.As(err, &te) || te.Code() != tc.code {
				t.Errorf("err = %v, want oauth.TokenError %s", err, tc.code)
			}
			if srv.polls != 2 {
				t.Errorf("polls = %d, want 2 (stop at once)", srv.polls)
			}
			if _, ok := store.get("entra/bob"); ok {
				t.Error("grant saved")
			}
		})
	}
}

func TestDeviceFlowStopsAtDeadline(t *testing.T) {
	srv := newFakeDeviceServer(t, `{"device_code":"DC","user_code":"U","verification_uri":"https://x","expires_in":20,"interval":5}`, pending(400))
	sl := &sleepRecorder{clock: testclock.At(testNow)}
	_, err := srv.flow(newMemStore(), sl).Authorize(context.Background(), func(DevicePrompt) error { return nil })
	if !errors.Is(err, ErrDeviceExpired) {
		t.Fatalf("err = %v, want ErrDeviceExpired", err)
	}
	if srv.polls != 3 {
		t.Errorf("polls = %d, want 3 (at 5, 10 and 15 s of 20)", srv.polls)
	}
}

func TestDeviceFlowStopsWhenContextIsCancelled(t *testing.T) {
	srv := newFakeDeviceServer(t, entraDeviceAuth, pending(400))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sl := &sleepRecorder{cancel: cancel, n: 3}
	_, err := srv.flow(newMemStore(), sl).Authorize(ctx, func(DevicePrompt) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if srv.polls != 2 {
		t.Errorf("polls = %d, want 2", srv.polls)
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
