package browsertest_test

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/internal/browsertest"
)

// flowServer is a two-page site: the first page sets a session cookie and
// has a form and a link; the link redirects to the second page.
type flowServer struct {
	*httptest.Server
	mu   sync.Mutex
	hits []string // "METHOD /path cookie=VALUE", in order
}

func newFlowServer(t *testing.T) *flowServer {
	s := &flowServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s.hit(r)
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "s3cr3t", Path: "/",
			HttpOnly: true, SameSite: http.SameSiteLaxMode})
		http.SetCookie(w, &http.Cookie{Name: "theme", Value: "dark", Path: "/",
			Secure: true, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
		page(w, "Start", `<form method="post" action="/submit">
<label>Mailbox <input id="mailbox" name="mailbox" required></label>
<button id="send" type="submit">Send</button>
</form>
<p><a id="next" href="/go">Next</a></p>`)
	})
	mux.HandleFunc("POST /submit", func(w http.ResponseWriter, r *http.Request) {
		s.hit(r)
		page(w, "Submitted", "<p>Hello, "+html.EscapeString(r.PostFormValue("mailbox"))+"</p>")
	})
	mux.HandleFunc("GET /go", func(w http.ResponseWriter, r *http.Request) {
		s.hit(r)
		http.Redirect(w, r, "/second", http.StatusFound)
	})
	mux.HandleFunc("GET /second", func(w http.ResponseWriter, r *http.Request) {
		s.hit(r)
		page(w, "Second", `<p id="where">This is the second page.</p>`)
	})
	s.Server = httptest.NewServer(mux) // on 127.0.0.1
	t.Cleanup(s.Close)
	return s
}

func (s *flowServer) hit(r *http.Request) {
	c, err := r.Cookie("sid")
	v := "none"
	if err == nil {
		v = c.Value
	}
	s.mu.Lock()
	s.hits = append(s.hits, fmt.Sprintf("%s %s cookie=%s", r.Method, r.URL.Path, v))
	s.mu.Unlock()
}

func (s *flowServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.hits)
}

func page(w http.ResponseWriter, title, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!doctype html><html><head><title>%s</title></head><body>\n%s\n</body></html>\n",
		html.EscapeString(title), body)
}

func TestFlow(t *testing.T) {
	srv := newFlowServer(t)
	b := browsertest.Start(t)

	b.Go(srv.URL + "/")
	if got := b.Title(); got != "Start" {
		t.Errorf("title %q, want Start", got)
	}
	if got := b.Text("#next"); got != "Next" {
		t.Errorf("link text %q, want Next", got)
	}
	if n := b.Count("#missing"); n != 0 {
		t.Errorf("Count(#missing) = %d", n)
	}

	// The cookie as the browser stored it.
	c := b.Cookie("sid")
	if c == nil {
		t.Fatalf("no cookie sid; the browser has %v", b.Cookies())
	}
	if c.Value != "s3cr3t" || !c.HttpOnly || c.Secure || c.SameSite != http.SameSiteLaxMode ||
		c.Path != "/" || c.Domain != "127.0.0.1" || !c.Expires.IsZero() {
		t.Errorf("cookie sid stored as %+v", c)
	}
	// Secure, though over plain HTTP: loopback is a secure context.
	theme := b.Cookie("theme")
	if theme == nil || !theme.Secure || theme.HttpOnly || theme.SameSite != http.SameSiteStrictMode ||
		time.Until(theme.Expires) < 50*time.Minute || time.Until(theme.Expires) > time.Hour {
		t.Errorf("cookie theme stored as %+v", theme)
	}
	var names []string
	for _, c := range b.Cookies() {
		names = append(names, c.Name)
	}
	if slices.Sort(names); !slices.Equal(names, []string{"sid", "theme"}) {
		t.Errorf("Cookies() has %v, want sid and theme", names)
	}
	// HttpOnly as the browser applies it: the page's script sees theme only.
	var jsCookies string
	if err := b.Do(http.MethodPost, "execute/sync",
		map[string]any{"script": "return document.cookie", "args": []any{}}, &jsCookies); err != nil {
		t.Fatal(err)
	}
	if jsCookies != "theme=dark" {
		t.Errorf("document.cookie = %q, want theme=dark alone (sid is HttpOnly)", jsCookies)
	}

	// Fill the form and click its button.
	b.Fill("#mailbox", "wrong")
	b.Fill("#mailbox", "helpdesk@example.com") // Fill replaces
	b.Click("#send")
	b.WaitURL(srv.URL + "/submit")
	b.WaitText("Hello, helpdesk@example.com")
	if got := b.Title(); got != "Submitted" {
		t.Errorf("title after the form %q", got)
	}

	// Submit, as Enter would.
	b.Go(srv.URL + "/")
	b.Fill("#mailbox", "second@example.com")
	b.Submit("#mailbox")
	b.WaitText("Hello, second@example.com")

	// The link redirects.
	b.Go(srv.URL + "/")
	b.Click("#next")
	if got := b.WaitURL(srv.URL + "/second"); got != srv.URL+"/second" {
		t.Errorf("URL after the redirect %q", got)
	}
	if got := b.Text("#where"); got != "This is the second page." {
		t.Errorf("second page shows %q", got)
	}
	if !strings.Contains(b.PageText(), "second page") {
		t.Errorf("page text %q", b.PageText())
	}

	want := []string{
		"GET / cookie=none",
		"POST /submit cookie=s3cr3t",
		"GET / cookie=s3cr3t",
		"POST /submit cookie=s3cr3t",
		"GET / cookie=s3cr3t",
		"GET /go cookie=s3cr3t",
		"GET /second cookie=s3cr3t",
	}
	if got := srv.seen(); !slices.Equal(got, want) {
		t.Errorf("the server saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	shot := b.Screenshot("second.png")
	data, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) || len(data) < 1000 {
		t.Errorf("%s: %d bytes, not a PNG: %q", shot, len(data), data[:min(len(data), 16)])
	}
}

// TestSameSite shows that the browser's own cookie rules apply: a cookie
// set by 127.0.0.1 with SameSite=Strict does not come along on a form POST
// from localhost, a different site, while it does from a page of 127.0.0.1
// on another port (ports do not make sites).
func TestSameSite(t *testing.T) {
	var mu sync.Mutex
	var got []string // what /echo received, one line per request
	mux := http.NewServeMux()
	mux.HandleFunc("GET /set", func(w http.ResponseWriter, r *http.Request) {
		for _, c := range []*http.Cookie{
			{Name: "strict", Value: "1", SameSite: http.SameSiteStrictMode},
			{Name: "lax", Value: "1", SameSite: http.SameSiteLaxMode},
		} {
			c.Path, c.HttpOnly = "/", true
			http.SetCookie(w, c)
		}
		page(w, "Set", "<p>set</p>")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		var names []string
		for _, c := range r.Cookies() {
			names = append(names, c.Name)
		}
		slices.Sort(names)
		if names == nil {
			names = []string{"none"}
		}
		line := fmt.Sprintf("%s from %s: %s", r.Method, r.Referer(), strings.Join(names, " "))
		mu.Lock()
		got = append(got, line)
		mu.Unlock()
		page(w, "Echo", "<p id=got>"+html.EscapeString(line)+"</p>")
	})
	target := httptest.NewServer(mux) // 127.0.0.1:P
	defer target.Close()
	echo := target.URL + "/echo"

	// The pages that post to /echo, served under both names.
	from := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page(w, "From", `<form id="f" method="post" action="`+html.EscapeString(echo)+`">
<button type="submit">Go</button></form>
<a id="link" href="`+html.EscapeString(echo)+`">link</a>`)
	}))
	defer from.Close()
	_, port, _ := net.SplitHostPort(from.Listener.Addr().String())
	sameSite := "http://127.0.0.1:" + port + "/"
	crossSite := "http://localhost:" + port + "/"

	b := browsertest.Start(t)
	b.Go(target.URL + "/set")
	if n := len(b.Cookies()); n != 2 {
		t.Fatalf("the browser stored %v", b.Cookies())
	}

	for _, step := range []struct {
		from, click, want string
	}{
		{sameSite, "button", "POST from " + sameSite + ": lax strict"},
		{crossSite, "button", "POST from " + crossSite + ": none"},
		{crossSite, "#link", "GET from " + crossSite + ": lax"},
	} {
		b.Go(step.from)
		b.Click(step.click)
		b.WaitURL(echo)
		if line := b.Text("#got"); line != step.want {
			t.Errorf("%s of %s: /echo got %q, want %q", step.click, step.from, line, step.want)
		}
	}
	mu.Lock()
	t.Logf("/echo received:\n%s", strings.Join(got, "\n"))
	mu.Unlock()
}

// TestOffLoopback checks that a request off loopback is refused and
// recorded, whether the page asks for it or the test goes there.
func TestOffLoopback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page(w, "Off", `<img src="http://pixel.example.test/p.png" alt="">`)
	}))
	defer srv.Close()
	b := browsertest.Start(t)
	b.Go(srv.URL)
	b.Go("http://www.example.test/")
	b.WaitText("refused www.example.test:80")
	blocked := b.Blocked()
	for _, h := range []string{"pixel.example.test:80", "www.example.test:80"} {
		if !slices.Contains(blocked, h) {
			t.Errorf("Blocked() = %v, lacks %s", blocked, h)
		}
	}
	t.Logf("refused: %v", blocked)
}

// TestErrors checks WebDriver's errors as Do returns them, and that the
// helpers fail the test, within Timeout, when what they wait for never comes.
func TestErrors(t *testing.T) {
	srv := newFlowServer(t)
	f := &fakeT{TB: t}
	b := browsertest.Start(f)
	b.Go(srv.URL + "/")

	err := b.Do(http.MethodPost, "element", map[string]string{"using": "css selector", "value": "#nowhere"}, nil)
	var we *browsertest.Error
	if !errors.As(err, &we) {
		t.Fatalf("Do: %v (%T), want an *Error", err, err)
	}
	if we.Code != "no such element" || we.Status != http.StatusNotFound || we.Command != "POST element" ||
		!strings.Contains(we.Message, "#nowhere") || strings.Contains(we.Message, "Session info") {
		t.Errorf("error %+v", we)
	}
	if !errors.Is(err, &browsertest.Error{Code: "no such element"}) {
		t.Errorf("errors.Is does not match the code: %v", err)
	}
	t.Logf("as text: %v", err)

	err = b.Do(http.MethodPost, "element", map[string]string{"using": "css selector", "value": "##"}, nil)
	if !errors.Is(err, &browsertest.Error{Code: "invalid selector"}) {
		t.Errorf("a bad selector: %v", err)
	}
	if c := b.Cookie("nonesuch"); c != nil {
		t.Errorf("Cookie(nonesuch) = %+v", c)
	}

	b.Timeout = 500 * time.Millisecond
	for _, c := range []struct {
		name string
		f    func()
		want string
	}{
		{"WaitText", func() { b.WaitText("never shown") }, `does not show "never shown"`},
		{"WaitURL", func() { b.WaitURL("http://elsewhere/") }, "not http://elsewhere/"},
		{"Click", func() { b.Click("#nowhere") }, `"#nowhere": webdriver POST element: no such element`},
		{"Text", func() { b.Text("##") }, "invalid selector"},
	} {
		start := time.Now()
		msg := f.fails(c.f)
		took := time.Since(start)
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s failed with %q, want %q", c.name, msg, c.want)
		}
		if took > 5*time.Second {
			t.Errorf("%s took %v to fail, Timeout is %v", c.name, took, b.Timeout)
		}
		t.Logf("%s after %v: %s", c.name, took.Round(time.Millisecond), msg)
	}
}

// TestCleanup checks that a Browser's cleanup ends every process it started
// (ChromeDriver, Chromium and its helpers) and removes its folder.
func TestCleanup(t *testing.T) {
	var dir string
	t.Run("browser", func(t *testing.T) {
		b := browsertest.Start(t)
		dir = browsertest.Dir(b)
		b.Go("about:blank")
	})
	if dir == "" {
		t.Skip("no browser")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is still there: %v", dir, err)
	}
	if runtime.GOOS != "linux" {
		return // processes are looked for in /proc
	}
	var left []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if left = processesNaming(t, dir); len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(left) > 0 {
		t.Errorf("processes left running:\n%s", strings.Join(left, "\n"))
	}
}

// processesNaming returns the live processes (not zombies) whose command
// line names dir.
func processesNaming(t *testing.T, dir string) []string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, e := range entries {
		p := filepath.Join("/proc", e.Name())
		cmdline, err := os.ReadFile(filepath.Join(p, "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(dir)) {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join(p, "stat"))
		if _, rest, ok := bytes.Cut(stat, []byte(") ")); ok && bytes.HasPrefix(rest, []byte("Z")) {
			continue // exited, not yet reaped by its new parent
		}
		found = append(found, e.Name()+": "+string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
	}
	return found
}

// fakeT passes everything to the test but, inside fails, a skip or a
// failure: those it records, ending only the function it runs.
type fakeT struct {
	testing.TB
	catch           bool
	skipped, failed string
}

func (f *fakeT) Skipf(format string, args ...any) {
	if !f.catch {
		f.TB.Helper()
		f.TB.Skipf(format, args...)
	}
	f.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fakeT) Fatalf(format string, args ...any) {
	if !f.catch {
		f.TB.Helper()
		f.TB.Fatalf(format, args...)
	}
	f.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fails runs fn in a goroutine of its own and returns the failure it
// reported, or "" if it returned.
func (f *fakeT) fails(fn func()) string {
	f.catch, f.skipped, f.failed = true, "", ""
	defer func() { f.catch = false }()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
	return f.failed
}

// TestMissing checks that Start without ChromeDriver skips, or fails with
// MAILOAUTH_BROWSER=required.
func TestMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, required := range []bool{false, true} {
		t.Run(fmt.Sprint("required=", required), func(t *testing.T) {
			if required {
				t.Setenv(browsertest.EnvVar, "required")
			} else {
				t.Setenv(browsertest.EnvVar, "")
			}
			f := &fakeT{TB: t}
			f.fails(func() {
				browsertest.Start(f)
				t.Error("Start returned")
			})
			msg := f.skipped
			if required {
				msg = f.failed
			}
			if !strings.Contains(msg, "chromedriver not found") {
				t.Errorf("skipped %q, failed %q", f.skipped, f.failed)
			}
			t.Log(msg)
		})
	}
}
