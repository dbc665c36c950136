package entra

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/internal/firsttoken"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/oauth"
)

// Exchange Online submission limits for one mailbox
// (https://learn.microsoft.com/en-us/exchange/troubleshoot/send-emails/smtp-submission-improvements).
const (
	// exchangeMaxConns: a fourth concurrent submission connection gets
	// "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded".
	exchangeMaxConns = 3
	// exchangeMessagesPerMinute: more is not refused but delayed.
	exchangeMessagesPerMinute = 30
	// exchangeMaxRecipients: Exchange Online's documented recipient limit
	// per message (the service description's "Recipient limit", 500 by
	// default; admins can lower it per mailbox, not raise it above 1000).
	// Not in the facts file's primary sources: the conservative default.
	exchangeMaxRecipients = 500
)

// exchangeLimits are the Limits of every Exchange Online mailbox.
var exchangeLimits = provider.Limits{
	MaxConns:          exchangeMaxConns,
	MessagesPerMinute: exchangeMessagesPerMinute,
	MaxRecipients:     exchangeMaxRecipients,
}

// ClientCredentials returns the Mailbox of an app-only (client credentials)
// configuration: the app itself holds the right to cfg.Mailbox
// (SMTP.SendAsApp, IMAP.AccessAsApp, plus the Exchange service principal and
// mailbox permission set up in Exchange Online PowerShell).
//
// cfg needs TenantID (a real tenant, not "common"), ClientID, Mailbox and
// exactly one of ClientSecret and Certificate. The token scope is the
// cloud's ExchangeResource + "/.default". Unless cfg.Lazy is set, it fetches
// one token before returning, so that a wrong tenant, client, secret or
// certificate fails here, with the identity provider's error (see
// provider.Diagnose), rather than at the first message; the token is kept
// for the first connection.
func ClientCredentials(ctx context.Context, cfg Config) (*provider.Mailbox, error) {
	if err := cfg.validate(true); err != nil {
		return nil, err
	}
	ep, err := cfg.tokenEndpoint()
	if err != nil {
		return nil, err
	}
	base := &appOnly{
		cfg:      cfg,
		endpoint: ep,
		scope:    cfg.cloud().AppOnlyScope(),
		watcher:  newExpiryWatcher(cfg),
	}
	var first *oauth2.Token
	if !cfg.Lazy {
		// Fetched here, not through the Source: a failure is this call's
		// one report, with no retry promised, and the token is not fetched
		// twice.
		if first, err = base.Refresh(ctx, nil); err != nil {
			return nil, provider.Annotate(err)
		}
	}
	return cfg.mailbox(auth.NewSource(firsttoken.New(base, first, cfg.Clock), cfg.sourceOptions())), nil
}

// mailbox returns the Exchange Online Mailbox of cfg with tokens.
func (c Config) mailbox(tokens auth.TokenSource) *provider.Mailbox {
	cl := c.cloud()
	return &provider.Mailbox{
		Address:   strings.TrimSpace(c.Mailbox),
		SMTP:      cl.SMTP,
		IMAP:      cl.IMAP,
		Mechanism: auth.XOAUTH2, // Exchange Online offers no OAUTHBEARER
		Tokens:    tokens,
		Limits:    exchangeLimits,
	}
}

// tokenEndpoint returns the token endpoint of cfg with its credential.
func (c Config) tokenEndpoint() (*oauth.Client, error) {
	cred, err := c.Credential()
	if err != nil {
		return nil, err
	}
	return &oauth.Client{
		ID:         strings.TrimSpace(c.ClientID),
		TokenURL:   c.TokenURL(),
		Auth:       cred,
		HTTPClient: c.HTTPClient,
		Logger:     c.Logger,
		Clock:      c.Clock,
	}, nil
}

// sourceOptions are the auth.Source options every Entra mailbox uses.
func (c Config) sourceOptions() *auth.SourceOptions {
	return &auth.SourceOptions{Logger: c.Logger, Clock: c.Clock}
}

// appOnly fetches app-only tokens; auth.Source caches them.
type appOnly struct {
	cfg      Config
	endpoint *oauth.Client
	scope    string
	watcher  *expiryWatcher // nil when the credential's expiry is unknown
}

// Refresh implements auth.Refresher: a new token each call.
func (s *appOnly) Refresh(ctx context.Context, _ *oauth2.Token) (*oauth2.Token, error) {
	s.watcher.check(ctx)
	tok, err := s.endpoint.ClientCredentials(ctx, []string{s.scope})
	if err != nil {
		return nil, fmt.Errorf("entra: app-only token for %s (tenant %s, client %s): %w",
			s.cfg.Mailbox, s.cfg.TenantID, s.cfg.ClientID, wrapExpired(s.cfg, err))
	}
	return tok, nil
}
