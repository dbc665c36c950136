package fetch

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mailoauth/mailoauth/internal/testclock"
)

func get(url string) func(context.Context) (*http.Request, error) {
	return func(ctx context.Context) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	}
}

// statuses answers the given statuses in turn, then 200.
func statuses(t *testing.T, header http.Header, codes ...int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		i := int(n.Add(1)) - 1
		for k, v := range header {
			w.Header()[k] = v
		}
		if i < len(codes) {
			w.WriteHeader(codes[i])
			_, _ = w.Write([]byte(`{"n":` + string(rune('0'+i)) + `}`))
			return
		}
		_, _ = w.Write([]byte(`ok`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestDoRetriesBusyAnswersWithBackoff(t *testing.T) {
	srv, n := statuses(t, nil, 503, 429, 500)
	clock := testclock.New()
	start := clock.Now()
	ans, err := Do(context.Background(), srv.Client(), get(srv.URL), Policy{Clock: clock})
	require.NoError(t, err)
	assert.Equal(t, 200, ans.Status)
	assert.Equal(t, "ok", string(ans.Body))
	assert.Equal(t, 4, ans.Attempts)
	assert.EqualValues(t, 4, n.Load())
	// Three waits of equal jitter: at least half of 2 s + 4 s + 8 s.
	assert.GreaterOrEqual(t, clock.Now().Sub(start), 7*time.Second)
	assert.LessOrEqual(t, clock.Now().Sub(start), 14*time.Second)
}

func TestDoReturnsOtherAnswersAtOnce(t *testing.T) {
	srv, n := statuses(t, nil, 400)
	ans, err := Do(context.Background(), srv.Client(), get(srv.URL), Policy{Clock: testclock.New()})
	require.NoError(t, err)
	assert.Equal(t, 400, ans.Status)
	assert.EqualValues(t, 1, n.Load())
}

func TestDoGivesUpAfterAttemptsWithTheLastAnswer(t *testing.T) {
	srv, n := statuses(t, nil, 503, 503, 503, 503)
	ans, err := Do(context.Background(), srv.Client(), get(srv.URL), Policy{Attempts: 3, Clock: testclock.New()})
	require.NoError(t, err)
	assert.Equal(t, 503, ans.Status)
	assert.Equal(t, 3, ans.Attempts)
	assert.EqualValues(t, 3, n.Load())
}

func TestDoHonoursRetryAfterUpToBackoffMax(t *testing.T) {
	srv, _ := statuses(t, http.Header{"Retry-After": {"20"}}, 429)
	clock := testclock.New()
	start := clock.Now()
	ans, err := Do(context.Background(), srv.Client(), get(srv.URL), Policy{Clock: clock})
	require.NoError(t, err)
	assert.Equal(t, 200, ans.Status)
	assert.Equal(t, 20*time.Second, clock.Now().Sub(start), "waited what the server asked, longer than the backoff")

	long, n := statuses(t, http.Header{"Retry-After": {"600"}}, 429)
	ans, err = Do(context.Background(), long.Client(), get(long.URL), Policy{Clock: clock})
	require.NoError(t, err)
	assert.Equal(t, 429, ans.Status, "a wait beyond the backoff's Max is the caller's decision")
	assert.Equal(t, 10*time.Minute, ans.Wait)
	assert.EqualValues(t, 1, n.Load())
}

func TestDoCustomRetry(t *testing.T) {
	srv, n := statuses(t, nil, 404, 410)
	ans, err := Do(context.Background(), srv.Client(), get(srv.URL), Policy{Clock: testclock.New(),
		Retry: func(s int) bool { return s == 404 || s == 410 }})
	require.NoError(t, err)
	assert.Equal(t, 200, ans.Status)
	assert.EqualValues(t, 3, n.Load())
}

func TestDoRetriesNetworkFailuresAndReturnsTheLast(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens any more
	var built int
	build := func(ctx context.Context) (*http.Request, error) {
		built++
		return http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	}
	_, err := Do(context.Background(), nil, build, Policy{Attempts: 2, Clock: testclock.New()})
	require.Error(t, err)
	assert.Equal(t, 2, built, "a new request per attempt")
}

func TestDoStopsWithTheContext(t *testing.T) {
	srv, _ := statuses(t, nil, 503, 503, 503)
	ctx, cancel := context.WithCancel(context.Background())
	clock := testclock.Funcs{SleepFunc: func(ctx context.Context, _ time.Duration) error {
		cancel()
		return ctx.Err()
	}}
	_, err := Do(ctx, srv.Client(), get(srv.URL), Policy{Clock: clock})
	assert.ErrorIs(t, err, context.Canceled)
}

func TestDoBoundsTheBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("a", MaxBody+10)))
	}))
	defer srv.Close()
	ans, err := Do(context.Background(), srv.Client(), get(srv.URL), Policy{})
	require.NoError(t, err)
	assert.True(t, ans.TooLarge)
	assert.Len(t, ans.Body, MaxBody)
}

func TestDoReturnsBuildErrors(t *testing.T) {
	boom := errors.New("boom")
	_, err := Do(context.Background(), nil, func(context.Context) (*http.Request, error) { return nil, boom }, Policy{})
	assert.ErrorIs(t, err, boom)
}

func TestCheckURL(t *testing.T) {
	for _, ok := range []string{"https://example.com/x", "http://127.0.0.1:8080/msi/token", "http://localhost:4141/MSI/token",
		"http://169.254.169.254/metadata/identity/oauth2/token", "http://[::1]:1/x"} {
		_, err := CheckURL(ok)
		assert.NoError(t, err, ok)
	}
	for _, bad := range []string{"http://example.com/x", "ftp://127.0.0.1/", "/relative", "https://user:pw@example.com/", "::"} {
		_, err := CheckURL(bad)
		assert.Error(t, err, bad)
		if err != nil {
			assert.NotContains(t, err.Error(), "pw", bad)
		}
	}
	_, err := CheckURL("http://10.0.0.1/token?secret=s3cret")
	assert.ErrorIs(t, err, ErrInsecure)
	assert.NotContains(t, err.Error(), "s3cret", "the query is not shown")
}

func TestScrub(t *testing.T) {
	secret := "request-token-0123456789"
	jwtish := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
	got := Scrub("bad token "+secret+"\r\nand "+jwtish+" "+strings.Repeat("x", 1000), secret)
	assert.NotContains(t, got, secret)
	assert.NotContains(t, got, jwtish)
	assert.NotContains(t, got, "\n")
	assert.LessOrEqual(t, len(got), maxText+3)
	assert.True(t, strings.HasPrefix(got, "bad token [redacted] and [redacted] x"), got)
}
