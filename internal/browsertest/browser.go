package browsertest

import (
	"flag"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// EnvVar names the environment variable that, set to "required", turns a
// missing ChromeDriver or Chromium into a test failure instead of a skip.
const EnvVar = "MAILOAUTH_BROWSER"

// DefaultTimeout is the Timeout a new Browser has.
const DefaultTimeout = 10 * time.Second

// pageLoadTimeout bounds one navigation (WebDriver's "pageLoad" timeout).
const pageLoadTimeout = 30 * time.Second

// Browser is one headless Chromium session driven through its own
// ChromeDriver process, owned by one test.
type Browser struct {
	// Timeout bounds the waits: WaitURL, WaitText, and the wait for an
	// element to appear before Click, Fill, Submit or Text act on it.
	Timeout time.Duration

	t       testing.TB
	dir     string // holds the profile, HOME and ChromeDriver's files
	driver  *driver
	proxy   *refuser
	client  *http.Client
	session string // the session's URL, http://127.0.0.1:PORT/session/ID
	version string
}

// flags are Chromium's command line, besides the profile and the proxy: no
// window, no sandbox (the tests run as root), no GPU, and fewer of its own
// calls to Google's services (those left meet the refusing proxy).
var flags = []string{
	"--headless",
	"--no-sandbox",
	"--disable-gpu",
	"--disable-quic",
	"--no-first-run",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
	"--window-size=1280,800",
}

// Start starts ChromeDriver on a free loopback port and opens a session in a
// new headless Chromium with an empty profile. The test's cleanup deletes the
// session, stops ChromeDriver, waits for it and removes the profile; when the
// test has failed it first logs the page's URL and the tail of ChromeDriver's
// log, and saves a screenshot when go test runs with -artifacts.
//
// ChromeDriver is looked up in PATH, Chromium as chromium, chromium-browser,
// google-chrome or chrome (and the usual application on macOS). When either
// is missing, Start skips the test, or fails it if EnvVar is "required".
func Start(t testing.TB) *Browser {
	t.Helper()
	driverPath, browserPath, missing := find()
	if missing != "" {
		if os.Getenv(EnvVar) == "required" {
			t.Fatalf("browsertest: %s not found (on Debian: .ci/install-peers)", missing)
		}
		t.Skipf("browsertest: %s not found; set %s=required to fail instead", missing, EnvVar)
	}

	dir, err := os.MkdirTemp("", "mailoauth-browser-")
	if err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	b := &Browser{Timeout: DefaultTimeout, t: t, dir: dir,
		client: &http.Client{Timeout: 2 * pageLoadTimeout}}
	t.Cleanup(b.close)

	// Chromium writes outside its profile too (a crash database under
	// ~/.config, dconf under ~/.cache): give it a home of its own.
	env := os.Environ()
	for _, v := range []string{"HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"} {
		p := filepath.Join(dir, strings.ToLower(v))
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatalf("browsertest: %v", err)
		}
		env = append(env, v+"="+p)
	}
	if b.proxy, err = startRefuser(); err != nil {
		t.Fatalf("browsertest: proxy: %v", err)
	}
	if b.driver, err = startDriver(driverPath, dir, env); err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	if err := b.newSession(browserPath); err != nil {
		t.Fatalf("browsertest: new session: %v", err)
	}
	t.Logf("browsertest: %s %s via %s", filepath.Base(browserPath), b.version, driverPath)
	return b
}

// find returns the paths of ChromeDriver and Chromium, or what is missing.
func find() (driverPath, browserPath, missing string) {
	driverPath, err := exec.LookPath("chromedriver")
	if err != nil {
		return "", "", "chromedriver"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return driverPath, p, ""
		}
	}
	if runtime.GOOS == "darwin" {
		for _, p := range []string{
			"/Applications/Chromium.app/Contents/MacOS/Chromium",
			"/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
		} {
			if _, err := os.Stat(p); err == nil {
				return driverPath, p, ""
			}
		}
	}
	return "", "", "chromium"
}

// Version returns the browser's version as the session reported it.
func (b *Browser) Version() string { return b.version }

// Blocked returns the hosts (host:port) off loopback that the browser has
// tried to reach since Start, each refused. Chromium asks some of its own
// (Google's time, update and account services, its default search engine),
// so a test looks in the list for the hosts its pages name.
func (b *Browser) Blocked() []string { return b.proxy.hosts() }

// close is Start's cleanup.
func (b *Browser) close() {
	t := b.t
	if b.session != "" {
		if t.Failed() {
			b.logFailure()
		}
		if err := b.send(http.MethodDelete, b.session, "DELETE session", nil, nil); err != nil {
			t.Errorf("browsertest: closing the browser: %v", err)
		}
	}
	if b.driver != nil {
		if err := b.driver.stop(); err != nil {
			t.Errorf("browsertest: %v", err)
		}
		if t.Failed() {
			t.Logf("browsertest: ChromeDriver's log ends:\n%s", tail(b.driver.log, 30))
		}
	}
	if b.proxy != nil {
		b.proxy.close()
	}
	// The browser's crash handler may outlive the browser by a moment.
	var err error
	for range 50 {
		if err = os.RemoveAll(b.dir); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("browsertest: removing the profile: %v", err)
}

// logFailure logs where the browser was, and keeps a screenshot when the
// test's artifacts are kept.
func (b *Browser) logFailure() {
	var url string
	if err := b.Do(http.MethodGet, "url", nil, &url); err != nil {
		b.t.Logf("browsertest: the test failed; the page's URL: %v", err)
		return
	}
	b.t.Logf("browsertest: the test failed at %s", url)
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		png, err := b.png()
		if err == nil {
			var path string
			if path, err = b.save("failure.png", png); err == nil {
				b.t.Logf("browsertest: screenshot %s", path)
			}
		}
		if err != nil {
			b.t.Logf("browsertest: screenshot: %v", err)
		}
	}
}

// tail returns the last n lines of a file, each cut to 300 bytes, or why the
// file could not be read.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	lines = lines[max(0, len(lines)-n):]
	for i, l := range lines {
		if len(l) > 300 {
			lines[i] = l[:300] + "…"
		}
	}
	return strings.Join(lines, "\n")
}
