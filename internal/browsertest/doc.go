// Package browsertest lets a test drive a real headless Chromium through a
// web flow: load a page, fill and submit a form, follow redirects, read the
// text and the cookies as the browser stored them, and take screenshots.
//
// It speaks the W3C WebDriver protocol to ChromeDriver over HTTP, with
// net/http and encoding/json only, so the module gains no dependency. On
// Debian, .ci/install-peers installs both programs (packages chromium and
// chromium-driver).
//
//	b := browsertest.Start(t)
//	b.Go(srv.URL + "/settings")
//	b.Fill("#mailbox", "helpdesk@example.com")
//	b.Click("button[type=submit]")
//	b.WaitURL(srv.URL + "/done")
//	b.WaitText("Authorized")
//	if c := b.Cookie("session"); c == nil || !c.HttpOnly {
//		t.Errorf("session cookie as stored: %+v", c)
//	}
//
// Start skips the test when ChromeDriver or Chromium is missing, unless the
// environment variable MAILOAUTH_BROWSER is "required", which makes it fail
// instead. Each Browser is one ChromeDriver process with one browser session
// and its own empty profile; the test's cleanup ends both and removes the
// profile.
//
// The browser reaches loopback directly (127.0.0.0/8, [::1], localhost and
// its subdomains; Chromium never proxies those, nor link-local addresses):
// every other request goes to a local proxy that refuses it and records the
// host, see [Browser.Blocked]. The network here is closed, and Chromium
// calls Google and its default search engine on its own even with its
// background networking turned off.
//
// localhost and 127.0.0.1 are different sites to the browser (a site is a
// scheme and a host's registrable domain, whatever the port), so one
// httptest server reached under both names is enough to test what crosses
// sites. Both count as secure contexts: Chromium keeps Secure cookies that
// they set over plain HTTP.
//
// The methods of a Browser are test helpers: they fail the test with
// t.Fatal when the browser reports an error, so they must be called from the
// goroutine running the test. [Browser.Do] is the exception: it returns the
// error, an [*Error] when it comes from WebDriver, for the tests that expect
// one.
package browsertest
