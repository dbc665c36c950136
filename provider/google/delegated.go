package google

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/oauth"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// Delegated returns the Mailbox of a user's own grant: the user authorized
// the client once (NewAuthCodeFlow or AuthorizeLoopback) and the refresh
// token is in store under cfg.Key().
//
// Refresh tokens are redeemed through a tokenstore.Refresher, which saves a
// rotated refresh token before the access token it came with is used.
// A missing grant gives an error wrapping tokenstore.ErrNotFound. Unless
// cfg.Lazy is set, Delegated gets a valid access token before returning, so
// a revoked or expired grant (invalid_grant; see provider.Diagnose: an app
// in "Testing" status loses its grants after 7 days) fails here.
func Delegated(ctx context.Context, cfg Config, store tokenstore.Store) (*provider.Mailbox, error) {
	c, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if store == nil {
		return nil, &provider.ConfigError{Package: "google", Field: "store", Reason: "the program passed no token store holding the grant (a programming error)"}
	}
	g := &delegatedGrant{cfg: c, key: c.Key(), endpoint: c.tokenEndpoint()}
	if !c.Lazy {
		if _, err := store.Load(ctx, g.key); err != nil {
			if errors.Is(err, tokenstore.ErrNotFound) {
				return nil, fmt.Errorf("google: no grant for %s under key %q: authorize the mailbox first, in a browser: %w", c.Mailbox, g.key, err)
			}
			return nil, fmt.Errorf("google: load grant for %s: %w", c.Mailbox, err)
		}
	}
	refresher := tokenstore.NewRefresher(store, g.key, g.refresh, &tokenstore.RefresherOptions{Logger: c.Logger, Clock: c.Clock})
	if !c.Lazy {
		// The refresher keeps the token for the Source's first call; asked
		// directly, a failure is this call's one report.
		if _, err := refresher.Refresh(ctx, nil); err != nil {
			return nil, provider.Annotate(err)
		}
	}
	smtp, imap := servers(c.SMTPImplicitTLS)
	mb := &provider.Mailbox{
		Address:   c.Mailbox,
		SMTP:      smtp,
		IMAP:      imap,
		Mechanism: auth.XOAUTH2,
		Tokens:    auth.NewSource(refresher, c.sourceOptions()),
		Limits:    limits(),
	}
	return mb, nil
}

// delegatedGrant is the refresh side of one delegated Mailbox.
type delegatedGrant struct {
	cfg      Config
	key      string
	endpoint *oauth.Client
}

// refresh redeems rec's refresh token; the Refresher saves the result.
// Google's refresh needs no scope: the grant's scopes come back.
func (g *delegatedGrant) refresh(ctx context.Context, rec *tokenstore.Record) (*oauth2.Token, error) {
	if rec == nil || rec.Token == nil || rec.Token.RefreshToken == "" {
		return nil, fmt.Errorf("google: the grant stored for %s under key %q has no refresh token: authorize again, asking for offline access (access_type=offline, prompt=consent)", g.cfg.Mailbox, g.key)
	}
	tok, err := g.endpoint.Refresh(ctx, rec.Token.RefreshToken)
	if err != nil {
		return nil, fmt.Errorf("google: refresh grant for %s: %w", g.cfg.Mailbox, err)
	}
	return tok, nil
}
