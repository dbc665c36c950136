package oauth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/oauth2/jwt"

	"github.com/mailoauth/mailoauth/retry"
)

// MaxTokenResponse is the largest token-endpoint answer read, in bytes. A
// larger body is refused with a *ResponseError.
const MaxTokenResponse = 1 << 20

// Grant types posted by the flows of this module.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
	GrantJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// Client is one OAuth client (an app registration) at one authorization
// server's token endpoint. Each grant goes through golang.org/x/oauth2,
// which builds the request and reads the answer; the Client adds what
// x/oauth2 cannot do: its credential on every request (Auth, a client
// assertion signed anew each time included), and answers turned into typed
// errors that name no secret of the request.
//
// A Client is plain data: set the fields, then use it from any number
// of goroutines; do not change the fields while requests are in flight.
// It caches nothing: each call is a new request (auth.Source caches).
type Client struct {
	// ID is the client_id.
	ID string
	// TokenURL is the token endpoint.
	TokenURL string
	// Auth authenticates the client on every request, to the token
	// endpoint and to the device authorization endpoint, the same way:
	// ClientSecretBasic, ClientSecretPost, a *PrivateKeyJWT; nil: a public
	// client (client_id only, the method "none").
	Auth ClientAuth
	// Params are sent with every request, to the token endpoint and to
	// the device authorization endpoint: resource indicators (RFC 8707
	// section 2, repeatable), an audience, any parameter a server asks
	// for. A parameter the request sets itself (grant_type, scope,
	// client_id, the grant's code or token...) cannot be given here: the
	// request fails (see CheckParams).
	Params url.Values
	// HTTPClient carries every request: its Transport and Timeout are
	// used, redirects are never followed. nil: http.DefaultTransport.
	HTTPClient *http.Client
	// Logger receives one debug line per request (grant, status, duration);
	// never a token, secret, code or assertion. nil: discard.
	Logger *slog.Logger
	// Clock turns expires_in into Token.Expiry; nil: retry.System.
	Clock retry.Clock
}

// Errors of the grants, common to every method below: an error answer is a
// *TokenError (4xx) or an *UnavailableError (429 and 5xx, with
// Retry-After), both wrapping an *oauth2.RetrieveError whose Body keeps the
// answer so that Diagnose can read Entra's error_codes; an answer that is
// malformed, not JSON, over MaxTokenResponse, a redirect, or whose
// expires_in is not a plausible number of seconds is a *ResponseError; a
// failure to reach the endpoint is a *NetworkError. Every text in them, the
// RetrieveError's Body, ErrorDescription and ErrorURI included, is scrubbed
// of the request's secrets (client secret, assertion, refresh token, code,
// verifier, device code) in any form a server may echo them.

// ClientCredentials asks for an app-only token for scopes (RFC 6749
// section 4.4) through clientcredentials.Config.Token: a new request on
// each call.
func (c *Client) ClientCredentials(ctx context.Context, scopes []string) (*oauth2.Token, error) {
	cc := &clientcredentials.Config{ClientID: c.ID, TokenURL: c.TokenURL, Scopes: scopes, AuthStyle: oauth2.AuthStyleInParams}
	return c.grant(ctx, GrantClientCredentials, func(ctx context.Context) (*oauth2.Token, error) { return cc.Token(ctx) })
}

// Refresh redeems a refresh token (RFC 6749 section 6) through
// oauth2.Config. It sends no scope: the grant's scopes come back. When the
// answer carries no new refresh token, the returned token keeps
// refreshToken, so a caller can always store the result as it is.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (*oauth2.Token, error) {
	if refreshToken == "" {
		return nil, fmt.Errorf("oauth: refresh: no refresh token")
	}
	conf := c.config("", nil)
	return c.grant(ctx, GrantRefreshToken, func(ctx context.Context) (*oauth2.Token, error) {
		// An expired token makes x/oauth2 redeem its refresh token at once.
		return conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
	})
}

// Exchange redeems an authorization code (RFC 6749 section 4.1.3) with
// its PKCE verifier (RFC 7636 section 4.5; empty: none) through
// oauth2.Config.Exchange. redirectURL is the one the authorization
// request named.
func (c *Client) Exchange(ctx context.Context, code, redirectURL, verifier string) (*oauth2.Token, error) {
	conf := c.config(redirectURL, nil)
	var opts []oauth2.AuthCodeOption
	if verifier != "" {
		opts = append(opts, oauth2.VerifierOption(verifier))
	}
	return c.grant(ctx, GrantAuthorizationCode, func(ctx context.Context) (*oauth2.Token, error) { return conf.Exchange(ctx, code, opts...) })
}

// JWTBearer asks for a token with an assertion that x/oauth2/jwt signs
// from jc (RFC 7523 section 2.1; Google's service accounts). jc.TokenURL
// is replaced by the Client's. x/oauth2 stamps the assertion with the
// wall clock (time.Now), not with Clock.
func (c *Client) JWTBearer(ctx context.Context, jc *jwt.Config) (*oauth2.Token, error) {
	conf := *jc
	conf.TokenURL = c.TokenURL
	return c.grant(ctx, GrantJWTBearer, func(ctx context.Context) (*oauth2.Token, error) { return conf.TokenSource(ctx).Token() })
}

// grant runs one x/oauth2 call of grant through an exchange and returns
// its outcome in our terms.
func (c *Client) grant(ctx context.Context, grant string, call func(context.Context) (*oauth2.Token, error)) (*oauth2.Token, error) {
	if c == nil || c.TokenURL == "" {
		return nil, fmt.Errorf("oauth: token endpoint URL is empty")
	}
	x := c.newExchange(ctx, grant, c.TokenURL)
	tok, err := call(x.context())
	return x.token(tok, err)
}

// config is the oauth2.Config of the Client. The client secret is never
// given to x/oauth2: Auth adds the credential to every request, whatever
// it is.
func (c *Client) config(redirectURL string, scopes []string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:    c.ID,
		Endpoint:    oauth2.Endpoint{TokenURL: c.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: redirectURL,
		Scopes:      scopes,
	}
}

func (c *Client) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

func (c *Client) now() time.Time { return retry.Or(c.Clock).Now() }
