package entra

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/authorize"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// NewDeviceFlow returns the device-code authorization of cfg's mailbox,
// ready to run (flow.Authorize) or to adjust first. The app registration
// must allow public client flows when it has no secret or certificate; a
// confidential app authenticates on every request. The grant is saved in
// store under cfg.Key(), where Delegated finds it. The flow polls at the
// interval Entra names (5 s), on the wall clock.
func NewDeviceFlow(cfg Config, store tokenstore.Store) (*authorize.DeviceFlow, error) {
	if err := cfg.validate(false); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, &provider.ConfigError{Package: "entra", Field: "store", Reason: "the program passed no token store to save the grant in (a programming error)"}
	}
	ep, err := cfg.tokenEndpoint()
	if err != nil {
		return nil, err
	}
	return &authorize.DeviceFlow{
		DeviceURL: cfg.DeviceCodeURL(),
		Client:    ep,
		Scopes:    cfg.DelegatedScopes(),
		Store:     store,
		Key:       cfg.Key(),
		Account:   strings.TrimSpace(cfg.Mailbox),
		Logger:    cfg.Logger,
		Clock:     cfg.Clock,
	}, nil
}

// AuthorizeDevice authorizes cfg's mailbox with the device code flow: it
// hands prompt the code and the page where a user (the mailbox owner, or an
// admin with rights to a shared mailbox) enters it, waits until the user
// approves, declines or the code expires (15 minutes) or ctx is done, and
// saves the grant in store under cfg.Key().
//
// prompt must return quickly: show or send the message and return nil.
func AuthorizeDevice(ctx context.Context, cfg Config, store tokenstore.Store, prompt func(authorize.DevicePrompt) error) (*tokenstore.Record, error) {
	if prompt == nil {
		return nil, &provider.ConfigError{Package: "entra", Field: "prompt", Reason: "the program passed no function to show the user code (a programming error)"}
	}
	f, err := NewDeviceFlow(cfg, store)
	if err != nil {
		return nil, err
	}
	rec, err := f.Authorize(ctx, prompt)
	if err != nil {
		return nil, fmt.Errorf("entra: device authorization of %s: %w", cfg.Mailbox, err)
	}
	return rec, nil
}

// NewAuthCodeFlow returns the authorization-code (PKCE) flow of cfg's
// mailbox: mount flow.StartHandler() on the page with the "Authorize
// mailbox" button and flow.CallbackHandler() at redirectURL, which must be
// registered exactly (scheme, host, port, path) as a Web redirect URI of
// the app registration (else AADSTS50011). Set OnComplete to show your own
// page after the grant is saved in store under cfg.Key().
func NewAuthCodeFlow(cfg Config, store tokenstore.Store, redirectURL string) (*authorize.AuthCodeFlow, error) {
	if err := cfg.validate(false); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, &provider.ConfigError{Package: "entra", Field: "store", Reason: "the program passed no token store to save the grant in (a programming error)"}
	}
	if err := checkRedirectURL(redirectURL); err != nil {
		return nil, err
	}
	ep, err := cfg.tokenEndpoint()
	if err != nil {
		return nil, err
	}
	return &authorize.AuthCodeFlow{
		AuthURL:     cfg.AuthorizeURL(),
		Client:      ep,
		RedirectURL: redirectURL,
		Scopes:      cfg.DelegatedScopes(),
		Store:       store,
		Key:         cfg.Key(),
		Account:     strings.TrimSpace(cfg.Mailbox),
		Logger:      cfg.Logger,
		Clock:       cfg.Clock,
	}, nil
}

// checkRedirectURL accepts an absolute http or https URL without fragment.
func checkRedirectURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" {
		return &provider.ConfigError{Package: "entra", Field: "redirectURL", Reason: fmt.Sprintf("the callback URL %q is not an absolute http(s) URL without fragment", truncate(s, 120))}
	}
	return nil
}
