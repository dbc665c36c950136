package google

import (
	"context"
	"fmt"
	"net/url"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/authorize"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// offlineParams make Google return a refresh token on every consent:
// access_type=offline asks for one, prompt=consent makes Google ask again
// (without it only the first consent of a user gets a refresh token).
func offlineParams() url.Values {
	return url.Values{"access_type": {"offline"}, "prompt": {"consent"}}
}

// NewAuthCodeFlow returns the authorization-code (PKCE) flow of cfg's
// mailbox for a web app: mount flow.StartHandler() behind an "Authorize
// mailbox" button and flow.CallbackHandler() at redirectURL, which must be
// listed exactly among the client's Authorized redirect URIs (else Google
// answers redirect_uri_mismatch). The grant is saved in store under
// cfg.Key(); set OnComplete to show your own page afterwards.
func NewAuthCodeFlow(cfg Config, store tokenstore.Store, redirectURL string) (*authorize.AuthCodeFlow, error) {
	c, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if store == nil {
		return nil, &provider.ConfigError{Package: "google", Field: "store", Reason: "the program passed no token store to save the grant in (a programming error)"}
	}
	u, err := url.Parse(redirectURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" {
		return nil, &provider.ConfigError{Package: "google", Field: "redirectURL", Reason: fmt.Sprintf("the callback URL %q is not an absolute http(s) URL without fragment", truncate(redirectURL, 120))}
	}
	authURL, _ := endpointURLs(c.BaseURL)
	return &authorize.AuthCodeFlow{
		AuthURL:     authURL,
		Client:      c.tokenEndpoint(),
		RedirectURL: redirectURL,
		Scopes:      c.scopes(),
		Params:      offlineParams(),
		Store:       store,
		Key:         c.Key(),
		Account:     c.Mailbox,
		Logger:      c.Logger,
		Clock:       c.Clock,
	}, nil
}

// NewLoopbackFlow returns the installed-app flow of cfg's mailbox: a
// listener on 127.0.0.1 at a random port catches Google's redirect. The
// client must be of type "Desktop app" (its file has an "installed"
// object); Google allows any loopback port for it.
func NewLoopbackFlow(cfg Config, store tokenstore.Store) (*authorize.LoopbackFlow, error) {
	c, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if store == nil {
		return nil, &provider.ConfigError{Package: "google", Field: "store", Reason: "the program passed no token store to save the grant in (a programming error)"}
	}
	authURL, _ := endpointURLs(c.BaseURL)
	return &authorize.LoopbackFlow{
		AuthURL: authURL,
		Client:  c.tokenEndpoint(),
		Scopes:  c.scopes(),
		Params:  offlineParams(),
		Store:   store,
		Key:     c.Key(),
		Account: c.Mailbox,
		Logger:  c.Logger,
		Clock:   c.Clock,
	}, nil
}

// AuthorizeLoopback runs the installed-app flow once: open gets the consent
// URL (open a browser there, or print it), the redirect is caught on
// 127.0.0.1, and the grant is saved in store under cfg.Key(). It waits at
// most authorize.StateLifetime, or until ctx is done.
func AuthorizeLoopback(ctx context.Context, cfg Config, store tokenstore.Store, open func(authURL string) error) (*tokenstore.Record, error) {
	f, err := NewLoopbackFlow(cfg, store)
	if err != nil {
		return nil, err
	}
	return f.Authorize(ctx, open)
}
