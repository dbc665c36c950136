package retry

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// maxSuggested bounds the wait a server's text can ask for: a larger
// number is taken as garbage, not as a request to wait for days.
const maxSuggested = 24 * time.Hour

// suggestedRE finds Exchange Online's throttling advice: "BAD Request is
// throttled. Suggested Backoff Time: 299961 milliseconds" (IMAP) and the
// same words in SMTP and POP replies.
var suggestedRE = regexp.MustCompile(`(?i)Suggested\s+Backoff\s+Time:\s*(\d{1,12})\s*milliseconds`)

// Suggested returns the wait a server's reply text asks for with
// "Suggested Backoff Time: N milliseconds", as Exchange Online words its
// throttling replies; ok is false when the text names no such wait.
func Suggested(text string) (wait time.Duration, ok bool) {
	m := suggestedRE.FindStringSubmatch(text)
	if m == nil {
		return 0, false
	}
	ms, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || time.Duration(ms) > maxSuggested/time.Millisecond {
		return 0, false
	}
	return time.Duration(ms) * time.Millisecond, true
}

// RetryAfter reads an HTTP Retry-After header value (RFC 9110 §10.2.3):
// delay seconds or an HTTP date, counted from now. It returns 0 when v is
// empty, unreadable, in the past, or longer than a day.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > int64(maxSuggested/time.Second) {
			return 0
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now).Round(time.Second)
	}
	if d <= 0 || d > maxSuggested {
		return 0
	}
	return d
}
