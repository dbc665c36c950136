package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/authorize"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/google"
	"github.com/mailoauth/mailoauth/smtpx"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// Paths of the page.
const (
	pathHome      = "/"
	pathAuthorize = "/authorize"
	pathCallback  = "/oauth/callback"
	pathSendTest  = "/send-test"
)

const (
	// csrfCookie holds the token every form posts back.
	csrfCookie = "webauth_csrf"
	csrfField  = "csrf"
	// maxFormBytes bounds a posted form; ours carry one token.
	maxFormBytes = 4 << 10
	// sendTimeout bounds "Send a test": a token refresh and one SMTP
	// session.
	sendTimeout = time.Minute
)

// app is the settings page of one mailbox. Its handlers are safe for
// concurrent use.
type app struct {
	cfg         config
	callbackURL string
	key         string // the grant's tokenstore key
	flow        *authorize.AuthCodeFlow
	start       http.Handler // flow.StartHandler
	mux         *http.ServeMux
	csp         string // the Content-Security-Policy of every answer

	mu       sync.Mutex // guards the fields below
	lastErr  *event     // the last failure, cleared by a success
	lastSent *event     // the last test message sent
}

// event is something that happened, for the page to show.
type event struct {
	At        time.Time
	Text      string
	Diagnosis *provider.Diagnosis // nil when Diagnose knows nothing of the error
}

// newApp returns the page for cfg. cfg.publicURL must be set: the callback
// URL is derived from it.
func newApp(cfg config) (*app, error) {
	if cfg.now == nil {
		cfg.now = time.Now
	}
	u, err := url.Parse(cfg.publicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("-public-url %q is not an http(s) URL", cfg.publicURL)
	}
	a := &app{
		cfg:         cfg,
		callbackURL: strings.TrimRight(cfg.publicURL, "/") + pathCallback,
	}
	switch cfg.provider {
	case "entra":
		a.flow, err = entra.NewAuthCodeFlow(cfg.entra, cfg.store, a.callbackURL)
		a.key = cfg.entra.Key()
	case "google":
		a.flow, err = google.NewAuthCodeFlow(cfg.google, cfg.store, a.callbackURL)
		a.key = cfg.google.Key()
	default:
		err = fmt.Errorf("unknown provider %q", cfg.provider)
	}
	if err != nil {
		return nil, err
	}
	a.flow.OnComplete = a.authorized
	a.csp = contentSecurityPolicy(a.flow.AuthURL, a.callbackURL)
	// The flow reports refusals and failed exchanges of authorizations it
	// started (a forged callback link is not reported), with their
	// diagnosis: the page shows the last one.
	a.flow.OnError = func(r *http.Request, err error) {
		if failed, ok := r.Context().Value(callbackFailed{}).(*bool); ok {
			*failed = true
		}
		a.fail(fmt.Errorf("the authorization failed; nothing was saved: %w", err))
	}
	a.start = a.flow.StartHandler()

	a.mux = http.NewServeMux()
	a.mux.HandleFunc("GET "+pathHome+"{$}", a.home)
	a.mux.HandleFunc("POST "+pathAuthorize, a.authorize)
	a.mux.Handle("GET "+pathCallback, a.callback(a.flow.CallbackHandler()))
	a.mux.HandleFunc("POST "+pathSendTest, a.sendTest)
	return a, nil
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", a.csp)
	a.mux.ServeHTTP(w, r)
}

// home shows the settings page.
func (a *app) home(w http.ResponseWriter, r *http.Request) {
	csrf := a.csrfToken(w, r)
	v := pageData{
		Provider:    a.cfg.provider,
		Mailbox:     a.mailboxAddress(),
		CallbackURL: a.callbackURL,
		CSRF:        csrf,
	}
	rec, err := a.cfg.store.Load(r.Context(), a.key)
	switch {
	case err == nil:
		v.Authorized = true
		v.Account = rec.Account
		v.Scopes = strings.Join(rec.Scopes, " ")
		v.Saved = formatTime(rec.UpdatedAt)
		if rec.Token != nil && !rec.Token.Expiry.IsZero() {
			v.Expiry = formatTime(rec.Token.Expiry)
			v.Expired = !a.cfg.now().Before(rec.Token.Expiry)
		}
	case errors.Is(err, tokenstore.ErrNotFound):
	default:
		v.StoreError = err.Error()
	}
	a.mu.Lock()
	v.LastError, v.LastSent = a.lastErr, a.lastSent
	a.mu.Unlock()
	renderPage(w, http.StatusOK, v)
}

// authorize starts the authorization: the flow redirects the browser to the
// identity provider.
func (a *app) authorize(w http.ResponseWriter, r *http.Request) {
	if !a.checkCSRF(w, r) {
		return
	}
	a.start.ServeHTTP(w, r)
}

// contentSecurityPolicy allows nothing but the page's inline style, and
// forms posting to the page itself. A browser checks form-action on each
// redirect that follows a form too (CSP Level 3, section 6.3.3), so
// "Authorize mailbox" needs every hop of its way: the identity provider
// (https:, for Entra may send a federated tenant on to its own sign-in
// host; or the plain http origin of a test server on a loopback address)
// and back to the callback, on the page's public origin.
func contentSecurityPolicy(authURL, callbackURL string) string {
	formAction := "'self' https:"
	for _, raw := range []string{authURL, callbackURL} {
		if u, err := url.Parse(raw); err == nil && u.Scheme == "http" && u.Host != "" {
			formAction += " http://" + u.Host
		}
	}
	return "default-src 'none'; style-src 'unsafe-inline'; form-action " + formAction + "; frame-ancestors 'none'"
}

// callbackFailed is the context key of the flag OnError sets when the
// callback in hand failed.
type callbackFailed struct{}

// callback wraps the flow's callback handler. When an authorization this
// page started fails (the identity provider refused it, or the code could
// not be redeemed or the grant saved), the browser is sent back to the
// settings page, which shows the mailbox's true state and the failure with
// its diagnosis, instead of the flow's own failure page. Other answers (a
// success, a callback this browser did not start) pass through as they
// are.
func (a *app) callback(flow http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		failed := false
		r = r.WithContext(context.WithValue(r.Context(), callbackFailed{}, &failed))
		rec := &bufferedResponse{header: http.Header{}}
		flow.ServeHTTP(rec, r)
		if failed {
			for _, c := range rec.header.Values("Set-Cookie") { // the binding cookie cleared
				w.Header().Add("Set-Cookie", c)
			}
			http.Redirect(w, r, pathHome, http.StatusSeeOther)
			return
		}
		rec.writeTo(w)
	})
}

// bufferedResponse holds a handler's answer until it is known whether to
// send it.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

// writeTo sends the held answer to w.
func (b *bufferedResponse) writeTo(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}

// authorized is the flow's OnComplete: the grant is saved.
func (a *app) authorized(w http.ResponseWriter, r *http.Request, rec *tokenstore.Record) {
	a.mu.Lock()
	a.lastErr = nil
	a.mu.Unlock()
	http.Redirect(w, r, pathHome, http.StatusSeeOther)
}

// sendTest sends one message from the mailbox with the stored grant.
func (a *app) sendTest(w http.ResponseWriter, r *http.Request) {
	if !a.checkCSRF(w, r) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), sendTimeout)
	defer cancel()
	// One log line for a failure: the library's lines that only repeat it
	// are dropped.
	logger, reported := cli.Once(a.cfg.logger)
	to, err := a.send(ctx, logger)
	if err != nil {
		a.cfg.logger.WarnContext(ctx, "test message not sent", "err", err)
		a.fail(err)
	}
	reported(err)
	if err == nil {
		a.mu.Lock()
		a.lastErr = nil
		a.lastSent = &event{At: a.cfg.now(), Text: "A test message was sent to " + to + "."}
		a.mu.Unlock()
	}
	http.Redirect(w, r, pathHome, http.StatusSeeOther)
}

// send opens the mailbox from the stored grant and sends the test message
// through smtpx. A real application keeps one Mailbox (and one
// smtpx.Sender) for as long as it runs; a test button can afford a new one.
func (a *app) send(ctx context.Context, logger *slog.Logger) (to string, err error) {
	var mb *provider.Mailbox
	switch a.cfg.provider {
	case "entra":
		cfg := a.cfg.entra
		cfg.Logger = logger
		mb, err = entra.Delegated(ctx, cfg, a.cfg.store)
	case "google":
		cfg := a.cfg.google
		cfg.Logger = logger
		mb, err = google.Delegated(ctx, cfg, a.cfg.store)
	}
	if err != nil {
		return "", err
	}
	mb.SMTP = a.cfg.smtp.Apply(mb.SMTP)
	to = a.cfg.testTo
	if to == "" {
		to = mb.Address
	}
	msg, _, err := cli.Compose(testMessage(mb.Address, to, a.cfg.now()))
	if err != nil {
		return "", err
	}
	c, err := smtpx.Dial(ctx, mb, &smtpx.Options{TLSConfig: a.cfg.tlsConfig, Logger: logger})
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.Send(ctx, mb.Address, []string{to}, bytes.NewReader(msg)); err != nil {
		return "", err
	}
	return to, nil
}

// testMessage is the message "Send a test" sends.
func testMessage(from, to string, now time.Time) cli.Message {
	return cli.Message{
		From:    from,
		To:      []string{to},
		Subject: "Test message from the mail settings page",
		Body:    "This message was sent with OAuth2 from the mail settings page.\nIf you can read it, sending works.",
		Date:    now,
		IDHost:  "webauth.invalid",
	}
}

// fail records err as the last error, with its diagnosis, both in the
// program's terms (its flags, not the library's Go fields).
func (a *app) fail(err error) {
	e := &event{At: a.cfg.now(), Text: cli.ErrorText(err), Diagnosis: cli.Diagnose(err)}
	a.mu.Lock()
	a.lastErr = e
	a.mu.Unlock()
}

// csrfToken returns the browser's CSRF token, setting a new one when it
// has none. The cookie is SameSite=Strict, so another site's form cannot
// make the browser send it, and the token must also be in the form.
func (a *app) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	token := randomToken()
	http.SetCookie(w, &http.Cookie{
		Name:     csrfCookie,
		Value:    token,
		Path:     "/",
		HttpOnly: true,
		Secure:   strings.HasPrefix(a.cfg.publicURL, "https://"),
		SameSite: http.SameSiteStrictMode,
	})
	return token
}

// checkCSRF answers 403 and returns false unless the form carries the
// browser's CSRF token.
func (a *app) checkCSRF(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	c, err := r.Cookie(csrfCookie)
	if err == nil && len(c.Value) >= 32 &&
		subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue(csrfField))) == 1 {
		return true
	}
	http.Error(w, "The form has expired: reload the mail settings page and try again.", http.StatusForbidden)
	return false
}

// mailboxAddress is the configured mailbox.
func (a *app) mailboxAddress() string {
	if a.cfg.provider == "google" {
		return a.cfg.google.Mailbox
	}
	return a.cfg.entra.Mailbox
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}
