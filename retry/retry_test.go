package retry

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestBackoffDoublesUpToMaxWithEqualJitter(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 60: time.Second} {
		assert.Equal(t, want, b.Cap(n), "cap after %d failures", n)
		for range 200 {
			d := b.Delay(n)
			assert.GreaterOrEqual(t, d, want/2, "after %d failures", n)
			assert.LessOrEqual(t, d, want, "after %d failures", n)
		}
	}
}

func TestBackoffJitterSpreads(t *testing.T) {
	b := Backoff{Min: time.Second, Max: time.Second}
	seen := map[time.Duration]bool{}
	for range 50 {
		seen[b.Delay(1)] = true
	}
	assert.Greater(t, len(seen), 10, "50 delays should not bunch on a few values")
}

func TestBackoffZeroAndDefaults(t *testing.T) {
	assert.Zero(t, Backoff{}.Delay(3))
	b := Backoff{Max: 5 * time.Second}.Or(Backoff{Min: time.Second, Max: time.Minute})
	assert.Equal(t, Backoff{Min: time.Second, Max: 5 * time.Second}, b)
	b = Backoff{Min: time.Hour}.Or(Backoff{Min: time.Second, Max: time.Minute})
	assert.Equal(t, Backoff{Min: time.Hour, Max: time.Hour}, b, "a default Max below the caller's Min is raised")
	assert.Equal(t, time.Hour, Backoff{Min: time.Hour, Max: time.Second}.Cap(3), "Max below Min is taken as Min")
}

func TestSuggested(t *testing.T) {
	cases := []struct {
		text string
		want time.Duration
		ok   bool
	}{
		{"Request is throttled. Suggested Backoff Time: 299961 milliseconds", 299961 * time.Millisecond, true},
		{"4.7.0 suggested backoff time: 5000 Milliseconds", 5 * time.Second, true},
		{"Request is throttled.", 0, false},
		{"Suggested Backoff Time: 999999999999 milliseconds", 0, false},
		{"", 0, false},
	}
	for _, c := range cases {
		got, ok := Suggested(c.text)
		assert.Equal(t, c.ok, ok, c.text)
		assert.Equal(t, c.want, got, c.text)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	assert.Equal(t, 30*time.Second, RetryAfter("30", now))
	assert.Equal(t, 90*time.Second, RetryAfter(now.Add(90*time.Second).Format(http.TimeFormat), now))
	for _, bad := range []string{"", "-5", "soon", now.Add(-time.Minute).Format(http.TimeFormat), "999999999"} {
		assert.Zero(t, RetryAfter(bad, now), "%q", bad)
	}
}

func TestSystemSleepStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Or(nil).Sleep(ctx, time.Hour)
	assert.True(t, errors.Is(err, context.Canceled))
	assert.NoError(t, System.Sleep(context.Background(), time.Millisecond))
}
