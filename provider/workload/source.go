package workload

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/internal/jwt"
	"github.com/mailoauth/mailoauth/provider"
)

// AzureADTokenExchange is the audience Entra ID requires of a federated
// token in the global cloud: the audience of an app registration's
// federated identity credential, and the one GitHubActions asks for by
// default. US Government uses api://AzureADTokenExchangeUSGov and China
// api://AzureADTokenExchangeChina
// (https://learn.microsoft.com/en-us/entra/workload-id/workload-identity-federation-considerations).
const AzureADTokenExchange = "api://AzureADTokenExchange"

// Source gives tokens that prove who the program is, issued by the
// platform it runs on, so that no secret is stored: a Kubernetes
// service-account token (TokenFile), a GitHub Actions OIDC token
// (GitHubActions), an Azure managed identity's token (ManagedIdentity), or
// any function's (Func). Entra ID accepts such a token as the client
// assertion of an app registration whose federated identity credential
// names its issuer, subject and audience; a managed identity's token for a
// resource is also an access token for that resource.
//
// Token returns a token for audience that is valid now, read or fetched
// anew on every call: cache access tokens with auth.Source (see
// Refresher). A source whose audience is fixed where the token is made (a
// projected token file, a Func) ignores audience. Expiry is set from the
// endpoint's answer or the token's exp claim, and is zero only when
// neither says. Implementations are safe for concurrent use.
type Source interface {
	Token(ctx context.Context, audience string) (*oauth2.Token, error)
}

// Func adapts a function that returns a federated token (from any issuer
// an app registration trusts) to a Source. Whoever makes the token fixes
// its audience: Func ignores the audience asked for. Surrounding white
// space is removed; an empty token is an error.
type Func func(ctx context.Context) (string, error)

// Token calls f.
func (f Func) Token(ctx context.Context, _ string) (*oauth2.Token, error) {
	if f == nil {
		return nil, &provider.ConfigError{Package: "workload", Field: "Func", Reason: "no function to get the federated token from"}
	}
	v, err := f(ctx)
	if err != nil {
		return nil, fmt.Errorf("workload: federated token function: %w", err)
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, &Error{Source: "function", Reason: ReasonBadAnswer, Err: errEmpty}
	}
	return jwtToken(v), nil
}

// Refresher returns an auth.Refresher that gets every token from src for
// audience: give it to auth.NewSource to cache a managed identity's access
// tokens for a resource (https://outlook.office365.com for Exchange
// Online's IMAP and SMTP, https://graph.microsoft.com for Microsoft Graph).
// The managed identity endpoints cache tokens themselves and may hand back
// the token a server just refused; auth.Source copes with that.
func Refresher(src Source, audience string) auth.Refresher {
	return auth.RefreshFunc(func(ctx context.Context, _ *oauth2.Token) (*oauth2.Token, error) {
		return src.Token(ctx, audience)
	})
}

// errEmpty is the cause of an empty token.
var errEmpty = fmt.Errorf("the token is empty")

// jwtToken wraps a token value whose expiry is its exp claim.
func jwtToken(value string) *oauth2.Token { return newToken(value, time.Time{}) }

// newToken wraps a token value; a zero expiry is read from its exp claim
// when it is a JWT.
func newToken(value string, expiry time.Time) *oauth2.Token {
	if expiry.IsZero() {
		expiry = jwtExpiry(value)
	}
	return &oauth2.Token{AccessToken: value, TokenType: "Bearer", Expiry: expiry}
}

// jwtExpiry is the exp claim of a JWT, read without checking its
// signature (the recipient checks it); zero when v is not a JWT or has no
// exp.
func jwtExpiry(v string) time.Time {
	var c struct {
		Exp float64 `json:"exp"`
	}
	if jwt.Decode(v, nil, &c) != nil || c.Exp <= 0 {
		return time.Time{}
	}
	return time.Unix(int64(c.Exp), 0)
}

// lookup returns getenv, or os.Getenv when it is nil.
func lookup(getenv func(string) string) func(string) string {
	if getenv == nil {
		return os.Getenv
	}
	return getenv
}
