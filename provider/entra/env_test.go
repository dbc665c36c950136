package entra_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mailoauth/mailoauth/provider/authorize"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/tokenstore"
)

const (
	testClientID = "0f8e6a2b-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
	testSecret   = "Zq8~s3cr3t.VALUE_do-not-log"
	testMailbox  = "helpdesk@contoso.com"
	testUser     = "admin@contoso.com"
)

// env is a providertest server and a Config that signs in at it.
type env struct {
	srv  *providertest.Server
	cfg  entra.Config
	logs *logBuffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := providertest.New()
	t.Cleanup(srv.Close)
	// Device codes announce an interval of 1 s, the shortest x/oauth2
	// polls at (whole seconds, on the wall clock); the server calls a poll
	// early below 0.5 s, the slack a ticker needs when the first poll also
	// opens the TLS connection.
	srv.SetDeviceInterval(500 * time.Millisecond)
	logs := &logBuffer{}
	return &env{
		srv:  srv,
		logs: logs,
		cfg: entra.Config{
			TenantID:   providertest.DefaultTenant,
			ClientID:   testClientID,
			Cloud:      entra.Global.WithAuthorityHost(srv.URL()),
			Mailbox:    testMailbox,
			HTTPClient: srv.Client(),
			Logger:     slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Clock:      srv,
		},
	}
}

// publicApp registers a public client (device flow and auth code allowed)
// and returns the env's config for it.
func (e *env) publicApp(redirects ...string) entra.Config {
	e.srv.AddApp(providertest.App{ClientID: testClientID, Public: true, RedirectURIs: redirects})
	return e.cfg
}

// authorize stores a delegated grant the way an admin would: device code,
// approved at once.
func (e *env) authorize(t *testing.T, cfg entra.Config, store tokenstore.Store) *tokenstore.Record {
	t.Helper()
	e.srv.SignIn(testUser)
	e.srv.GrantMailbox(cfg.Mailbox, testUser)
	f, err := entra.NewDeviceFlow(cfg, store)
	require.NoError(t, err)
	rec, err := f.Authorize(context.Background(), func(p authorize.DevicePrompt) error {
		return e.srv.ApproveDevice(p.UserCode)
	})
	require.NoError(t, err)
	return rec
}

// logBuffer collects JSON slog output.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// records returns "LEVEL message" of each record at or above level.
func (l *logBuffer) records(t *testing.T, level slog.Level) []string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	dec := json.NewDecoder(bytes.NewReader(l.buf.Bytes()))
	for dec.More() {
		var rec struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		require.NoError(t, dec.Decode(&rec))
		var lv slog.Level
		require.NoError(t, lv.UnmarshalText([]byte(rec.Level)))
		if lv >= level {
			out = append(out, fmt.Sprintf("%s %s", rec.Level, rec.Msg))
		}
	}
	return out
}

// afterPolls returns cfg whose HTTP client calls after with the number of
// token requests so far (in a device flow: the polls), after each answer.
func afterPolls(cfg entra.Config, after func(n int)) entra.Config {
	base := cfg.HTTPClient.Transport
	var mu sync.Mutex
	polls := 0
	c := *cfg.HTTPClient
	c.Transport = roundTripper(func(r *http.Request) (*http.Response, error) {
		resp, err := base.RoundTrip(r)
		if strings.HasSuffix(r.URL.Path, "/token") {
			mu.Lock()
			polls++
			n := polls
			mu.Unlock()
			after(n)
		}
		return resp, err
	})
	cfg.HTTPClient = &c
	return cfg
}

// recordingClient is base whose requests' forms are handed to seen.
func recordingClient(base *http.Client, seen func(url.Values)) *http.Client {
	c := *base
	c.Transport = roundTripper(func(r *http.Request) (*http.Response, error) {
		if r.Body != nil {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return nil, err
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			if f, err := url.ParseQuery(string(body)); err == nil {
				seen(f)
			}
		}
		return base.Transport.RoundTrip(r)
	})
	return &c
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// testAppWithRedirect is a confidential app with one redirect URI.
func testAppWithRedirect(redirect string) providertest.App {
	return providertest.App{ClientID: testClientID, Secret: testSecret, RedirectURIs: []string{redirect}}
}

// entraRecords keeps the records this package logged.
func entraRecords(recs []string) []string {
	var out []string
	for _, r := range recs {
		if strings.Contains(r, " entra: ") {
			out = append(out, r)
		}
	}
	return out
}
