package browsertest

import (
	"net/http"
	"strings"
	"time"
)

// pollInterval is how often the waits look again.
const pollInterval = 50 * time.Millisecond

// Go loads url in the browser's window and returns once the page has loaded
// (its load event), following redirects.
func (b *Browser) Go(url string) {
	b.t.Helper()
	b.do(http.MethodPost, "url", map[string]string{"url": url}, nil)
}

// URL returns the address of the page the browser shows.
func (b *Browser) URL() string {
	b.t.Helper()
	var u string
	b.do(http.MethodGet, "url", nil, &u)
	return u
}

// Title returns the page's title.
func (b *Browser) Title() string {
	b.t.Helper()
	var s string
	b.do(http.MethodGet, "title", nil, &s)
	return s
}

// PageText returns the text of the page's body as the browser renders it
// (hidden elements left out).
func (b *Browser) PageText() string {
	b.t.Helper()
	return b.Text("body")
}

// WaitURL waits until the page's URL starts with prefix and returns it. It
// fails the test with the last URL seen when Timeout passes first.
func (b *Browser) WaitURL(prefix string) string {
	b.t.Helper()
	var u string
	if !b.poll(func() bool { u = b.URL(); return strings.HasPrefix(u, prefix) }) {
		b.t.Fatalf("browsertest: after %v the URL is %s, not %s…", b.Timeout, u, prefix)
	}
	return u
}

// WaitText waits until the page's text contains substr and returns the
// text. It fails the test with the last text seen when Timeout passes first.
func (b *Browser) WaitText(substr string) string {
	b.t.Helper()
	var text string
	if !b.poll(func() bool {
		var err error
		text, err = b.text("body")
		return err == nil && strings.Contains(text, substr)
	}) {
		b.t.Fatalf("browsertest: after %v the page at %s does not show %q; it shows:\n%s",
			b.Timeout, b.URL(), substr, text)
	}
	return text
}

// poll calls done until it returns true or Timeout passes, and reports which.
func (b *Browser) poll(done func() bool) bool {
	deadline := time.Now().Add(b.Timeout)
	for {
		if done() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollInterval)
	}
}
