package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
	"github.com/mailoauth/mailoauth/provider"
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
	// maxStarted bounds the authorizations remembered as started here.
	maxStarted = 100
)

// app is the settings page of one mailbox. Its handlers are safe for
// concurrent use.
type app struct {
	cfg         config
	callbackURL string
	key         string // the grant's tokenstore key
	flow        *provider.AuthCodeFlow
	start       http.Handler // flow.StartHandler
	finish      http.Handler // flow.CallbackHandler
	mux         *http.ServeMux

	mu       sync.Mutex           // guards the fields below
	started  map[string]time.Time // state -> start time, of authorizations started here
	lastErr  *event               // the last failure, cleared by a success
	lastSent *event               // the last test message sent
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
		started:     map[string]time.Time{},
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
	a.start, a.finish = a.flow.StartHandler(), a.flow.CallbackHandler()

	a.mux = http.NewServeMux()
	a.mux.HandleFunc("GET "+pathHome+"{$}", a.home)
	a.mux.HandleFunc("POST "+pathAuthorize, a.authorize)
	a.mux.HandleFunc("GET "+pathCallback, a.callback)
	a.mux.HandleFunc("POST "+pathSendTest, a.sendTest)
	return a, nil
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https:; frame-ancestors 'none'")
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
// identity provider. The state it chose is remembered, so that an error
// coming back for it can be shown on the page.
func (a *app) authorize(w http.ResponseWriter, r *http.Request) {
	if !a.checkCSRF(w, r) {
		return
	}
	a.start.ServeHTTP(w, r)
	loc, err := url.Parse(w.Header().Get("Location"))
	if err != nil {
		return
	}
	if state := loc.Query().Get("state"); state != "" {
		a.rememberStarted(state)
	}
}

// callback is the redirect URI. The flow checks the state (single use,
// bound to this browser), exchanges the code and saves the grant; an error
// the identity provider sent for an authorization started here is kept for
// the settings page too.
func (a *app) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if code := q.Get("error"); code != "" && a.takeStarted(q.Get("state")) {
		a.fail(&provider.CallbackError{Code: code, Description: q.Get("error_description"), URI: q.Get("error_uri")})
	}
	a.finish.ServeHTTP(w, r)
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
	to, err := a.send(ctx)
	if err != nil {
		a.cfg.logger.WarnContext(ctx, "test message not sent", "err", err)
		a.fail(err)
	} else {
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
func (a *app) send(ctx context.Context) (to string, err error) {
	var mb *provider.Mailbox
	switch a.cfg.provider {
	case "entra":
		mb, err = entra.Delegated(ctx, a.cfg.entra, a.cfg.store)
	case "google":
		mb, err = google.Delegated(ctx, a.cfg.google, a.cfg.store)
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
	c, err := smtpx.Dial(ctx, mb, &smtpx.Options{TLSConfig: a.cfg.tlsConfig, Logger: a.cfg.logger})
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

// fail records err as the last error, with its diagnosis.
func (a *app) fail(err error) {
	e := &event{At: a.cfg.now(), Text: err.Error(), Diagnosis: provider.Diagnose(err)}
	a.mu.Lock()
	a.lastErr = e
	a.mu.Unlock()
}

// rememberStarted records a state this page started, forgetting those
// older than provider.StateLifetime and, beyond maxStarted, the oldest.
func (a *app) rememberStarted(state string) {
	now := a.cfg.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	var oldest string
	for s, at := range a.started {
		if now.Sub(at) > provider.StateLifetime {
			delete(a.started, s)
		} else if oldest == "" || at.Before(a.started[oldest]) {
			oldest = s
		}
	}
	if len(a.started) >= maxStarted {
		delete(a.started, oldest)
	}
	a.started[state] = now
}

// takeStarted reports whether state was started here (and not yet
// answered), and forgets it.
func (a *app) takeStarted(state string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	at, ok := a.started[state]
	delete(a.started, state)
	return ok && a.cfg.now().Sub(at) <= provider.StateLifetime
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
