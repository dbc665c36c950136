package authorize

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/oauth"
	"github.com/mailoauth/mailoauth/retry"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// bindingCookiePrefix starts the name of the cookie that ties a started
// authorization to the browser that started it; the rest of the name is
// derived from the state, so two authorizations in two tabs do not collide.
const bindingCookiePrefix = "mailoauth_auth_"

// exchangeTimeout bounds the code exchange and the save a callback does.
const exchangeTimeout = 30 * time.Second

// AuthCodeFlow is the authorization code grant with PKCE (S256) as two
// http.Handlers an app mounts: StartHandler sends the admin's browser to
// the consent page, CallbackHandler (mounted at RedirectURL's path) takes
// the code, exchanges it, saves the grant in Store and calls OnComplete.
//
// The state is 256 random bits, single use, valid for StateLifetime, kept in
// this value's memory (so the start and the callback must reach the same
// process: use sticky sessions behind a load balancer) and bound to the
// browser by a cookie. Set the fields before the first request and do not
// change them afterwards; the handlers are safe for concurrent use.
type AuthCodeFlow struct {
	AuthURL     string
	Client      *oauth.Client
	RedirectURL string
	Scopes      []string
	Params      url.Values // extra authorize parameters (Google: access_type=offline, prompt=consent; resource, repeatable)
	// Issuer is the identity provider's issuer identifier. When set, an
	// iss parameter on the callback must equal it, or the answer is
	// refused before its code is redeemed: it may come from another
	// identity provider (a mix-up attack, RFC 9207 section 2.4).
	Issuer string
	// RequireIssuer also refuses a callback without iss: set it when the
	// provider's metadata announces authorization_response_iss_parameter_supported.
	RequireIssuer bool
	Store         tokenstore.Store
	Key           string // store key of the record
	Account       string // mailbox the record belongs to; sent as login_hint unless Params has one
	// OnComplete is called after the grant is saved, to answer the browser.
	// nil: a plain success page.
	OnComplete func(w http.ResponseWriter, r *http.Request, rec *tokenstore.Record)
	// OnError, when set, hears of each authorization that failed after it
	// was started here: the identity provider's refusal (a *CallbackError)
	// or a failed code exchange or save. err carries its Diagnosis. The
	// error page is still rendered by the flow. Callbacks with an unknown
	// state (a forged link) are not reported.
	OnError func(r *http.Request, err error)
	Logger  *slog.Logger
	Clock   retry.Clock // nil: retry.System
	// MaxPending bounds the authorizations started and not finished; the
	// oldest is dropped first. Zero: DefaultMaxPending.
	MaxPending int

	once    sync.Once
	pending *pendingTable
}

// CallbackError is the identity provider's error on the callback
// (?error=&error_description=&error_uri=), e.g. access_denied when the admin
// refused consent. Diagnose reads it.
type CallbackError struct {
	Code, Description, URI string
}

func (e *CallbackError) Error() string {
	s := "authorize: authorization refused by the identity provider: " + e.Code
	if e.Description != "" {
		s += ": " + firstLine(e.Description)
	}
	return s
}

func (f *AuthCodeFlow) table() *pendingTable {
	f.once.Do(func() { f.pending = newPendingTable() })
	return f.pending
}

func (f *AuthCodeFlow) now() time.Time { return retry.Or(f.Clock).Now() }

func (f *AuthCodeFlow) logger() *slog.Logger {
	if f.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Logger
}

// StartHandler redirects the browser to AuthURL with a new state and PKCE
// challenge, and sets the cookie that binds the state to this browser.
func (f *AuthCodeFlow) StartHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, POST")
			renderPage(w, http.StatusMethodNotAllowed, page{Title: "Method not allowed"})
			return
		}
		_, redirectPath, err := f.checkConfig()
		if err != nil {
			f.logger().ErrorContext(r.Context(), "authorization flow misconfigured", "err", err)
			renderPage(w, http.StatusInternalServerError, page{Title: "Authorization is not configured", Lines: []string{err.Error()}})
			return
		}
		state := newState()
		verifier := oauth2.GenerateVerifier()
		binding := randomString(stateBytes)
		max := f.MaxPending
		if max <= 0 {
			max = DefaultMaxPending
		}
		f.table().Put(&pendingAuth{
			state:       state,
			verifier:    verifier,
			browserHash: sha256.Sum256([]byte(binding)),
			created:     f.now(),
		}, f.now(), max)

		http.SetCookie(w, &http.Cookie{
			Name:     bindingCookieName(state),
			Value:    binding,
			Path:     redirectPath,
			MaxAge:   int(StateLifetime / time.Second),
			HttpOnly: true,
			Secure:   strings.HasPrefix(f.RedirectURL, "https://"),
			SameSite: http.SameSiteLaxMode, // sent on the IdP's top-level redirect back to us
		})
		to := authCodeURL(f.AuthURL, f.Client.ID, f.RedirectURL, f.Scopes, state, verifier, f.Params, f.Account)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		http.Redirect(w, r, to, http.StatusFound)
	})
}

// checkConfig validates the fields StartHandler needs and returns the
// parsed AuthURL and the path of RedirectURL (the binding cookie's path).
func (f *AuthCodeFlow) checkConfig() (*url.URL, string, error) {
	if f.Client == nil || f.Client.ID == "" {
		return nil, "", errors.New("authorize: AuthCodeFlow needs a Client with an ID")
	}
	if f.Store == nil || f.Key == "" {
		return nil, "", errors.New("authorize: AuthCodeFlow needs Store and Key")
	}
	au, err := url.Parse(f.AuthURL)
	if err != nil || au.Scheme == "" || au.Host == "" {
		return nil, "", fmt.Errorf("authorize: AuthCodeFlow.AuthURL %q is not an absolute URL", f.AuthURL)
	}
	ru, err := url.Parse(f.RedirectURL)
	if err != nil || ru.Scheme == "" || ru.Host == "" {
		return nil, "", fmt.Errorf("authorize: AuthCodeFlow.RedirectURL %q is not an absolute URL", f.RedirectURL)
	}
	p := ru.Path
	if p == "" {
		p = "/"
	}
	return au, p, nil
}

func bindingCookieName(state string) string {
	sum := sha256.Sum256([]byte(state))
	return fmt.Sprintf("%s%x", bindingCookiePrefix, sum[:8])
}

// CallbackHandler checks the state (known, unused, not expired, started in
// this browser), shows the identity provider's error if it sent one,
// otherwise exchanges the code with the PKCE verifier, saves the grant and
// calls OnComplete. Every failure is a page that says what went wrong (with
// the Diagnosis when Diagnose knows the error), never a bare 500.
func (f *AuthCodeFlow) CallbackHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			renderPage(w, http.StatusMethodNotAllowed, page{Title: "Method not allowed"})
			return
		}
		ctx := r.Context()
		_, redirectPath, err := f.checkConfig()
		if err != nil {
			f.logger().ErrorContext(ctx, "authorization flow misconfigured", "err", err)
			renderPage(w, http.StatusInternalServerError, page{Title: "Authorization is not configured", Lines: []string{err.Error()}})
			return
		}
		q := r.URL.Query()
		state := q.Get("state")
		var p *pendingAuth
		var stateProblem string
		if state == "" {
			stateProblem = "The answer from the identity provider carries no state."
		} else {
			var expired, ok bool
			p, expired, ok = f.table().Take(state, f.now())
			switch {
			case expired:
				stateProblem = fmt.Sprintf("This authorization was started more than %d minutes ago and has expired.", int(StateLifetime/time.Minute))
			case !ok:
				stateProblem = "This authorization is unknown or was already used (a reloaded or replayed page), or the server restarted since it began."
			}
		}
		if p != nil {
			c, err := r.Cookie(bindingCookieName(state))
			if err != nil {
				stateProblem = "This authorization was started in another browser, or the browser refused the cookie it set."
				p = nil
			} else {
				sum := sha256.Sum256([]byte(c.Value))
				if subtle.ConstantTimeCompare(sum[:], p.browserHash[:]) != 1 {
					stateProblem = "This authorization was started in another browser session."
					p = nil
				}
			}
			clearBindingCookie(w, state, redirectPath)
		}

		if problem := checkIssuer(q, f.Issuer, f.RequireIssuer); p != nil && problem != "" {
			// Neither the code nor the error of an answer from another
			// server is used; the state it spent is gone.
			f.logger().WarnContext(ctx, "authorization callback refused", "account", f.Account, "reason", problem)
			if f.OnError != nil {
				f.OnError(r, fmt.Errorf("authorize: authorization answer refused: %s", problem))
			}
			renderPage(w, http.StatusBadRequest, page{
				Title: "Authorization not accepted",
				Lines: []string{problem, "Nothing was saved. Start the authorization again from the beginning."},
			})
			return
		}
		if code := q.Get("error"); code != "" {
			cerr := &CallbackError{Code: code, Description: q.Get("error_description"), URI: q.Get("error_uri")}
			f.logger().WarnContext(ctx, "identity provider refused the authorization", "account", f.Account, "error", cerr.Code, "description", firstLine(cerr.Description))
			pg := page{
				Title:     "Authorization failed",
				Lines:     []string{"The identity provider did not authorize access to the mailbox."},
				Code:      cerr.Code,
				Detail:    cerr.Description,
				URI:       cerr.URI,
				Diagnosis: provider.Diagnose(cerr),
			}
			if stateProblem != "" {
				pg.Lines = append(pg.Lines, stateProblem)
			}
			pg.Lines = append(pg.Lines, "Nothing was saved. Start the authorization again once the problem is fixed.")
			if p != nil && f.OnError != nil {
				f.OnError(r, provider.Annotate(cerr))
			}
			renderPage(w, http.StatusBadRequest, pg)
			return
		}
		if p == nil {
			f.logger().WarnContext(ctx, "authorization callback refused", "account", f.Account, "reason", stateProblem)
			renderPage(w, http.StatusBadRequest, page{
				Title: "Authorization not accepted",
				Lines: []string{stateProblem, "Nothing was saved. Start the authorization again from the beginning."},
			})
			return
		}
		code := q.Get("code")
		if code == "" {
			renderPage(w, http.StatusBadRequest, page{
				Title: "Authorization not accepted",
				Lines: []string{"The answer from the identity provider carries neither a code nor an error.", "Nothing was saved. Start the authorization again."},
			})
			return
		}

		xctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), exchangeTimeout)
		defer cancel()
		rec, err := exchangeAndSave(xctx, f.Client, code, p.verifier, f.RedirectURL, f.Store, f.Key, f.Account, f.Scopes, f.now())
		if err != nil {
			f.logger().ErrorContext(ctx, "authorization code exchange failed", "account", f.Account, "err", err)
			if f.OnError != nil {
				f.OnError(r, provider.Annotate(err))
			}
			renderFailure(w, err)
			return
		}
		f.logger().InfoContext(ctx, "mailbox authorized", "account", f.Account, "key", f.Key)
		if f.OnComplete != nil {
			f.OnComplete(w, r, rec)
			return
		}
		renderPage(w, http.StatusOK, page{
			Title: "Mailbox authorized",
			Lines: []string{successLine(f.Account), "You can close this window."},
		})
	})
}

func successLine(account string) string {
	if account == "" {
		return "The authorization was saved."
	}
	return "The authorization for " + account + " was saved."
}

func clearBindingCookie(w http.ResponseWriter, state, path string) {
	http.SetCookie(w, &http.Cookie{Name: bindingCookieName(state), Value: "", Path: path, MaxAge: -1, HttpOnly: true})
}

// exchangeAndSave redeems code with the PKCE verifier and saves the grant.
// AuthCodeFlow and LoopbackFlow share it.
func exchangeAndSave(ctx context.Context, c *oauth.Client, code, verifier, redirectURL string, store tokenstore.Store, key, account string, scopes []string, now time.Time) (*tokenstore.Record, error) {
	tok, err := c.Exchange(ctx, code, redirectURL, verifier)
	if err != nil {
		return nil, fmt.Errorf("authorize: redeem authorization code: %w", err)
	}
	return SaveGrant(ctx, store, key, account, scopes, tok, now)
}

// renderFailure shows a failed exchange or save, with its diagnosis.
func renderFailure(w http.ResponseWriter, err error) {
	pg := page{
		Title:     "Authorization failed",
		Lines:     []string{"The sign-in was accepted, but the program could not obtain or save the grant, so the mailbox is not authorized: " + err.Error()},
		Diagnosis: provider.Diagnose(err),
	}
	var te *oauth.TokenError
	if errors.As(err, &te) {
		pg.Code = te.Err.ErrorCode
		pg.Detail = te.Err.ErrorDescription
		pg.URI = te.Err.ErrorURI
	}
	status := http.StatusBadGateway // the identity provider or the store failed, not this request
	renderPage(w, status, pg)
}

// safeLink returns u when it is an http(s) URL, else "" (an error_uri from
// the query string could be javascript:).
func safeLink(u string) string {
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
		return ""
	}
	return u
}

// Reply returns the identity provider's answer for provider.Diagnose.
func (e *CallbackError) Reply() provider.Reply {
	return provider.Reply{Layer: provider.LayerOAuth, Response: e.Code, Text: e.Description, Endpoint: provider.EndpointCallback}
}

// firstLine cuts Entra's multi-line descriptions (trace and correlation ids
// follow the first line) for a one-line message.
func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}
