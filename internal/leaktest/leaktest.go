// Package leaktest checks that no secret of a token request comes back in
// anything derived from the answer: Echo is a token endpoint that echoes
// every parameter it receives, in every form a server might (raw,
// URL-encoded, base64 at each alignment, inside JSON and HTML), and Check
// and CheckError look for each of those forms in a text or an error.
//
// It is for the module's tests only.
package leaktest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/internal/redact"
	"github.com/mailoauth/mailoauth/provider"
)

// SecretParams are the request parameters that carry a secret (RFC 6749
// sections 2.3.1, 4.1.3, 6; RFC 7523; RFC 7636; RFC 8628).
var SecretParams = []string{"client_secret", "client_assertion", "refresh_token", "code", "code_verifier", "device_code", "assertion", "password"}

// Mode is how Echo answers a token request.
type Mode int

// The answers of Echo; each one carries every parameter of the request.
const (
	// ErrorJSON is HTTP 400 with an OAuth error whose error_description,
	// error_uri and an extra member echo the request.
	ErrorJSON Mode = iota
	// Unavailable is HTTP 503 (Retry-After: 1) with the same body.
	Unavailable
	// ErrorHTML is HTTP 400 with an HTML page that echoes the request.
	ErrorHTML
	// BadSuccess is HTTP 200 with an access token whose token_type and
	// expires_in echo the request: an answer no client may use.
	BadSuccess
	// ErrorIn200 is HTTP 200 carrying an OAuth error that echoes the request.
	ErrorIn200
)

// Modes lists every Mode, for table tests.
var Modes = []Mode{ErrorJSON, Unavailable, ErrorHTML, BadSuccess, ErrorIn200}

func (m Mode) String() string {
	switch m {
	case ErrorJSON:
		return "error-json"
	case Unavailable:
		return "unavailable"
	case ErrorHTML:
		return "error-html"
	case BadSuccess:
		return "bad-success"
	case ErrorIn200:
		return "error-in-200"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Echo is a token endpoint that answers every POST in its Mode, echoing
// the request. A request to a path ending in "/devicecode" or
// "/device/code" is a device authorization request: it gets a device code
// (a secret of its own, recorded like the others) unless DeviceEcho is
// set. Close it when done (NewEcho registers that with t).
type Echo struct {
	*httptest.Server
	mode Mode

	mu      sync.Mutex // guards the fields below
	forms   []url.Values
	devices []string
	// DeviceEcho makes the device authorization endpoint echo too.
	deviceEcho bool
}

// NewEcho starts an Echo in mode.
func NewEcho(t testing.TB, mode Mode) *Echo {
	t.Helper()
	e := &Echo{mode: mode}
	e.Server = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.Close)
	return e
}

// EchoDeviceAuthorization makes the device authorization endpoint answer
// in the Echo's mode too, instead of issuing a device code.
func (e *Echo) EchoDeviceAuthorization() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.deviceEcho = true
}

// Secrets returns every secret the endpoint has seen: the values of
// SecretParams in the requests, HTTP Basic credentials, and the device
// codes it issued.
func (e *Echo) Secrets() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, f := range e.forms {
		for _, p := range SecretParams {
			out = append(out, f[p]...)
		}
		out = append(out, f["basic"]...)
	}
	return append(out, e.devices...)
}

// Forms returns the forms received, in order.
func (e *Echo) Forms() []url.Values {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]url.Values(nil), e.forms...)
}

func (e *Echo) serve(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	form := url.Values{}
	for k, v := range r.PostForm {
		form[k] = append([]string(nil), v...)
	}
	if _, pass, ok := r.BasicAuth(); ok {
		// The client ID before the colon is no secret; the header itself
		// is echoed too, as a server quoting the request would.
		form["basic"] = []string{pass}
		form["authorization"] = []string{r.Header.Get("Authorization")}
	}
	device := strings.HasSuffix(r.URL.Path, "/devicecode") || strings.HasSuffix(r.URL.Path, "/device/code")
	e.mu.Lock()
	e.forms = append(e.forms, form)
	deviceEcho := e.deviceEcho
	var code string
	if device && !deviceEcho {
		code = "DC-" + randomText()
		e.devices = append(e.devices, code)
	}
	e.mu.Unlock()

	if device && !deviceEcho {
		writeJSON(w, http.StatusOK, map[string]any{"device_code": code, "user_code": "ECHO-CODE",
			"verification_uri": "https://echo.example/device", "expires_in": 900, "interval": 1})
		return
	}
	echo := echoText(form)
	switch e.mode {
	case ErrorJSON, Unavailable, ErrorIn200:
		status := http.StatusBadRequest
		switch e.mode {
		case Unavailable:
			status = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "1")
		case ErrorIn200:
			status = http.StatusOK
		}
		writeJSON(w, status, map[string]any{"error": "invalid_grant", "error_description": "echo: " + echo,
			"error_uri": "https://echo.example/error?request=" + url.QueryEscape(echo), "echo": form,
			"error_codes": []int{70000}})
	case ErrorHTML:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "<html><body><p>Bad request: %s</p><p>%s</p></body></html>", echo, html.EscapeString(echo))
	case BadSuccess:
		// The secrets first, as a client that quotes a bad value's start
		// in its error shows them.
		var first []string
		for _, p := range SecretParams {
			first = append(first, form[p]...)
		}
		bad := strings.Join(first, " ") + " " + echo
		writeJSON(w, http.StatusOK, map[string]any{"access_token": "AT-echo", "token_type": bad, "expires_in": bad})
	}
}

// echoText is every value of form in every form a careless server might
// send it back in.
func echoText(form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range form[k] {
			fmt.Fprintf(&b, "%s=%s (%s)", k, v, url.QueryEscape(v))
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
				for shift := range 3 {
					b.WriteString(" " + enc.EncodeToString(append([]byte("user=x\x01auth=Bearer "[:shift]), v...)))
				}
			}
			b.WriteString("; ")
		}
	}
	return b.String()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randomText() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// forms returns the texts that reveal s: s itself, its URL encodings, its
// JSON and HTML escapes, and (for secrets of redact.MinLength or more)
// its base64 at every alignment.
func forms(s string) []string {
	if s == "" {
		return nil
	}
	out := []string{s, url.QueryEscape(s), url.PathEscape(s), html.EscapeString(s)}
	j, _ := json.Marshal(s)
	out = append(out, string(j[1:len(j)-1]))
	var noHTML bytes.Buffer
	enc := json.NewEncoder(&noHTML)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	out = append(out, strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(noHTML.String(), `"`), "\n"), `"`))
	out = append(out, redact.Forms(s)...)
	return out
}

// Find returns the first secret one of whose forms text contains, and the
// form found; ok is false when text reveals none.
func Find(text string, secrets []string) (secret, form string, ok bool) {
	for _, s := range secrets {
		for _, f := range forms(s) {
			if f != "" && strings.Contains(text, f) {
				return s, f, true
			}
		}
	}
	return "", "", false
}

// Check fails t when text reveals a secret; where names the text.
func Check(t testing.TB, where, text string, secrets []string) {
	t.Helper()
	if len(secrets) == 0 {
		t.Fatalf("%s: no secret to look for: the request carried none?", where)
	}
	if s, f, ok := Find(text, secrets); ok {
		t.Errorf("%s reveals the secret %q (as %q):\n%s", where, short(s), short(f), short(text))
	}
}

// CheckError fails t when err reveals a secret: its text, its %+v and %#v,
// every *oauth2.RetrieveError in its chain (Body, ErrorCode,
// ErrorDescription, ErrorURI, the response's headers and a request still
// readable through it), every provider.Replier's Reply and its Diagnosis.
func CheckError(t testing.TB, err error, secrets []string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error to check")
	}
	Check(t, "err.Error()", err.Error(), secrets)
	Check(t, "%+v", fmt.Sprintf("%+v", err), secrets)
	Check(t, "%#v", fmt.Sprintf("%#v", err), secrets)
	walk(err, func(e error) {
		var re *oauth2.RetrieveError
		if errors.As(e, &re) {
			Check(t, "RetrieveError.Body", string(re.Body), secrets)
			Check(t, "RetrieveError.ErrorCode", re.ErrorCode, secrets)
			Check(t, "RetrieveError.ErrorDescription", re.ErrorDescription, secrets)
			Check(t, "RetrieveError.ErrorURI", re.ErrorURI, secrets)
			Check(t, "RetrieveError.Error()", re.Error(), secrets)
			if re.Response != nil {
				Check(t, "RetrieveError.Response.Header", fmt.Sprint(re.Response.Header), secrets)
				if rq := re.Response.Request; rq != nil {
					Check(t, "RetrieveError.Response.Request", fmt.Sprint(rq.URL, rq.Header), secrets)
					if rq.GetBody != nil {
						if b, err := rq.GetBody(); err == nil {
							body, _ := io.ReadAll(b)
							Check(t, "RetrieveError.Response.Request body", string(body), secrets)
						}
					}
				}
			}
		}
		if r, ok := e.(provider.Replier); ok {
			Check(t, "Reply()", fmt.Sprintf("%+v", r.Reply()), secrets)
		}
	})
	if d := provider.Diagnose(err); d != nil {
		Check(t, "Diagnosis", fmt.Sprintf("%+v", *d), secrets)
	}
}

// walk calls fn on err and everything it wraps.
func walk(err error, fn func(error)) {
	if err == nil {
		return
	}
	fn(err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		walk(u.Unwrap(), fn)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walk(e, fn)
		}
	}
}

// Page returns an HTML page's text with its escapes undone, for Check.
func Page(body string) string { return html.UnescapeString(body) }

func short(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// Logs is an io.Writer for slog handlers that keeps everything written.
type Logs struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns what was written.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
