package oidc

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/authorize"
	"github.com/mailoauth/mailoauth/provider/oauth"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// NewDeviceFlow returns the device authorization (RFC 8628) of cfg's
// mailbox, ready to run (flow.Authorize) or to adjust first: the server's
// device authorization endpoint, cfg's client authenticating on every
// request the same way, cfg.Scopes (with offline_access when the server
// lists it), cfg.Resources and cfg.Params on every request. The grant is
// saved in store under cfg.Key(), where Delegated finds it: run it with
// flow.Authorize(ctx, prompt). ctx bounds the discovery only.
func NewDeviceFlow(ctx context.Context, cfg Config, store tokenstore.Store) (*authorize.DeviceFlow, error) {
	md, client, err := prepare(ctx, cfg, store)
	if err != nil {
		return nil, err
	}
	if md.DeviceAuthorizationEndpoint == "" {
		return nil, &provider.ConfigError{Package: "oidc", Field: "Metadata.DeviceAuthorizationEndpoint", Reason: "the identity provider names no device authorization endpoint (device_authorization_endpoint): enable the device flow for it, or authorize in a browser"}
	}
	return &authorize.DeviceFlow{
		DeviceURL: md.DeviceAuthorizationEndpoint,
		Client:    client,
		Scopes:    cfg.delegatedScopes(md),
		Store:     store,
		Key:       cfg.Key(),
		Account:   strings.TrimSpace(cfg.Mailbox),
		Logger:    cfg.Logger,
		Clock:     cfg.Clock,
	}, nil
}

// NewAuthCodeFlow returns the authorization code flow with PKCE of cfg's
// mailbox: mount flow.StartHandler() on the page with the "Authorize
// mailbox" button and flow.CallbackHandler() at redirectURL, which must be
// registered for the client. The authorization request carries
// cfg.Resources and cfg.Params too, and prompt=consent when it asks for
// offline_access (OpenID Connect Core section 11 makes a refresh token
// depend on it). When the server announces it (RFC 9207), the callback's
// iss must name it. ctx bounds the discovery only.
func NewAuthCodeFlow(ctx context.Context, cfg Config, store tokenstore.Store, redirectURL string) (*authorize.AuthCodeFlow, error) {
	if u, err := url.Parse(redirectURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" {
		return nil, &provider.ConfigError{Package: "oidc", Field: "redirectURL", Reason: fmt.Sprintf("the callback URL %q is not an absolute http(s) URL without fragment", truncate(redirectURL, 120))}
	}
	md, client, err := prepare(ctx, cfg, store)
	if err != nil {
		return nil, err
	}
	if md.AuthorizationEndpoint == "" {
		return nil, &provider.ConfigError{Package: "oidc", Field: "Metadata.AuthorizationEndpoint", Reason: "the identity provider names no authorization endpoint (authorization_endpoint): give its authorization URL"}
	}
	scopes := cfg.delegatedScopes(md)
	params := cfg.params()
	if params == nil {
		params = url.Values{}
	}
	if params.Get("prompt") == "" && slices.Contains(scopes, scopeOfflineAccess) {
		params.Set("prompt", "consent")
	}
	return &authorize.AuthCodeFlow{
		AuthURL:       md.AuthorizationEndpoint,
		Client:        client,
		RedirectURL:   redirectURL,
		Scopes:        scopes,
		Params:        params,
		Issuer:        md.Issuer,
		RequireIssuer: md.IssParameterSupported,
		Store:         store,
		Key:           cfg.Key(),
		Account:       strings.TrimSpace(cfg.Mailbox),
		Logger:        cfg.Logger,
		Clock:         cfg.Clock,
	}, nil
}

// prepare checks cfg and store and returns the metadata and the token
// client of a flow.
func prepare(ctx context.Context, cfg Config, store tokenstore.Store) (*Metadata, *oauth.Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, nil, err
	}
	if store == nil {
		return nil, nil, &provider.ConfigError{Package: "oidc", Field: "store", Reason: "the program passed no token store to save the grant in (a programming error)"}
	}
	md, client, err := (&server{cfg: cfg}).resolve(ctx)
	if err != nil {
		return nil, nil, provider.Annotate(err)
	}
	return md, client, nil
}
