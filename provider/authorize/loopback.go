package authorize

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/oauth"
	"github.com/mailoauth/mailoauth/retry"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// loopbackShutdownTimeout bounds the wait for the browser's connection to
// finish after the redirect was answered.
const loopbackShutdownTimeout = 5 * time.Second

// LoopbackFlow is the authorization code grant with PKCE for programs on a
// desk (Google's installed-app flow, RFC 8252): it listens on 127.0.0.1 at
// a random port, has the caller open the consent page, catches the one
// redirect back, exchanges the code and saves the grant.
type LoopbackFlow struct {
	AuthURL string
	Client  *oauth.Client
	Scopes  []string
	Params  url.Values // extra authorize parameters (resource, repeatable)
	// Issuer and RequireIssuer check the redirect's iss parameter as
	// AuthCodeFlow's do (RFC 9207).
	Issuer        string
	RequireIssuer bool
	Store         tokenstore.Store
	Key, Account  string
	// Timeout bounds the wait for the browser. Zero: StateLifetime.
	Timeout time.Duration
	Logger  *slog.Logger
	Clock   retry.Clock // nil: retry.System
}

// loopbackResult is what the one accepted redirect produced.
type loopbackResult struct {
	rec *tokenstore.Record
	err error
}

// Authorize listens on 127.0.0.1, calls open with the consent URL (open a
// browser, or print the URL when that fails), and waits for the redirect.
// The browser is answered with a short page saying whether the grant was
// saved; then the listener is closed. Requests whose state does not match
// are refused and do not end the wait.
func (f *LoopbackFlow) Authorize(ctx context.Context, open func(authURL string) error) (*tokenstore.Record, error) {
	if f.Client == nil || f.Client.ID == "" {
		return nil, errors.New("authorize: LoopbackFlow needs a Client with an ID")
	}
	if f.Store == nil || f.Key == "" {
		return nil, errors.New("authorize: LoopbackFlow needs Store and Key")
	}
	if open == nil {
		return nil, errors.New("authorize: LoopbackFlow.Authorize needs an open function")
	}
	if u, err := url.Parse(f.AuthURL); err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("authorize: LoopbackFlow.AuthURL %q is not an absolute URL", f.AuthURL)
	}
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = StateLifetime
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("authorize: loopback authorization: listen: %w", err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	redirectURL := "http://127.0.0.1:" + strconv.Itoa(port) + "/"

	state := newState()
	verifier := oauth2.GenerateVerifier()
	to := authCodeURL(f.AuthURL, f.Client.ID, redirectURL, f.Scopes, state, verifier, f.Params, f.Account)

	done := make(chan loopbackResult, 1)
	var once sync.Once // the first request with the right state wins
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		rq := r.URL.Query()
		if subtle.ConstantTimeCompare([]byte(rq.Get("state")), []byte(state)) != 1 {
			renderPage(w, http.StatusBadRequest, page{Title: "Authorization not accepted",
				Lines: []string{"This request does not belong to the authorization the program is waiting for."}})
			return
		}
		handled := false
		once.Do(func() {
			handled = true
			res := f.handleRedirect(ctx, w, rq, verifier, redirectURL)
			done <- res
		})
		if !handled {
			renderPage(w, http.StatusBadRequest, page{Title: "Authorization already received",
				Lines: []string{"The program already received this authorization. You can close this window."}})
		}
	})
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	srvDone := make(chan struct{})
	go func() {
		defer close(srvDone)
		_ = srv.Serve(ln)
	}()
	defer func() {
		sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), loopbackShutdownTimeout)
		defer scancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
		<-srvDone
	}()

	if err := open(to); err != nil {
		return nil, fmt.Errorf("authorize: loopback authorization: open browser: %w", err)
	}
	select {
	case res := <-done:
		return res.rec, res.err
	case <-ctx.Done():
		return nil, fmt.Errorf("authorize: loopback authorization: no redirect received: %w", ctx.Err())
	}
}

// handleRedirect turns the one accepted redirect into a saved grant and
// answers the browser.
func (f *LoopbackFlow) handleRedirect(ctx context.Context, w http.ResponseWriter, q url.Values, verifier, redirectURL string) loopbackResult {
	if problem := checkIssuer(q, f.Issuer, f.RequireIssuer); problem != "" {
		renderPage(w, http.StatusBadRequest, page{Title: "Authorization not accepted",
			Lines: []string{problem, "Nothing was saved. Run the program's authorization again."}})
		return loopbackResult{err: fmt.Errorf("authorize: loopback authorization: answer refused: %s", problem)}
	}
	if code := q.Get("error"); code != "" {
		cerr := &CallbackError{Code: code, Description: q.Get("error_description"), URI: q.Get("error_uri")}
		renderPage(w, http.StatusBadRequest, page{
			Title:     "Authorization failed",
			Lines:     []string{"The identity provider did not authorize access to the mailbox. You can close this window."},
			Code:      cerr.Code,
			Detail:    cerr.Description,
			URI:       cerr.URI,
			Diagnosis: provider.Diagnose(cerr),
		})
		return loopbackResult{err: provider.Annotate(cerr)}
	}
	code := q.Get("code")
	if code == "" {
		renderPage(w, http.StatusBadRequest, page{Title: "Authorization not accepted",
			Lines: []string{"The answer from the identity provider carries neither a code nor an error."}})
		return loopbackResult{err: errors.New("authorize: loopback authorization: redirect without code or error")}
	}
	xctx, cancel := context.WithTimeout(ctx, exchangeTimeout)
	defer cancel()
	rec, err := exchangeAndSave(xctx, f.Client, code, verifier, redirectURL, f.Store, f.Key, f.Account, f.Scopes, f.now())
	if err != nil {
		f.logger().ErrorContext(ctx, "loopback authorization: code exchange failed", "account", f.Account, "err", err)
		renderFailure(w, err)
		return loopbackResult{err: provider.Annotate(err)}
	}
	f.logger().InfoContext(ctx, "mailbox authorized", "account", f.Account, "key", f.Key)
	renderPage(w, http.StatusOK, page{Title: "Mailbox authorized",
		Lines: []string{successLine(f.Account), "You can close this window and return to the program."}})
	return loopbackResult{rec: rec}
}

func (f *LoopbackFlow) now() time.Time { return retry.Or(f.Clock).Now() }

func (f *LoopbackFlow) logger() *slog.Logger {
	if f.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Logger
}
