package oidc

import (
	"context"
	"fmt"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/internal/firsttoken"
	"github.com/mailoauth/mailoauth/provider"
)

// ClientCredentials returns the Mailbox of an app-only configuration: the
// client itself holds the right to cfg.Mailbox, with the client
// credentials grant (RFC 6749 section 4.4) for cfg.Scopes and
// cfg.Resources. The token must name the mailbox the way the mail server
// reads it (Dovecot: username_attribute): set that up at the server, per
// client.
//
// cfg needs a credential: a client secret or a private key. Unless
// cfg.Lazy is set, the metadata is read and one token fetched before
// returning, so that a wrong issuer, client, secret or scope fails here
// with the server's answer (see provider.Diagnose); the token is kept for
// the first connection.
func ClientCredentials(ctx context.Context, cfg Config) (*provider.Mailbox, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.ClientSecret == "" && cfg.PrivateKey == nil {
		return nil, &provider.ConfigError{Package: "oidc", Field: "ClientSecret", Reason: "client credentials need a client secret or a private key"}
	}
	base := &appOnly{srv: &server{cfg: cfg}}
	var first *oauth2.Token
	if !cfg.Lazy {
		// Fetched here, not through the Source: a failure is this call's
		// one report, and the token is not fetched twice.
		var err error
		if first, err = base.Refresh(ctx, nil); err != nil {
			return nil, provider.Annotate(err)
		}
	}
	return cfg.mailbox(auth.NewSource(firsttoken.New(base, first, cfg.Clock), cfg.sourceOptions())), nil
}

// appOnly fetches client credentials tokens; auth.Source caches them.
type appOnly struct {
	srv *server
}

// Refresh implements auth.Refresher: a new token each call.
func (a *appOnly) Refresh(ctx context.Context, _ *oauth2.Token) (*oauth2.Token, error) {
	_, client, err := a.srv.resolve(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := client.ClientCredentials(ctx, a.srv.cfg.Scopes)
	if err != nil {
		return nil, fmt.Errorf("oidc: app-only token for %s (client %s): %w", a.srv.cfg.Mailbox, a.srv.cfg.ClientID, err)
	}
	return tok, nil
}
