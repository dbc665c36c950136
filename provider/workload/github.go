package workload

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/internal/fetch"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/retry"
)

// The variables a GitHub Actions runner sets for a job with the
// permission id-token: write
// (https://docs.github.com/en/actions/reference/security/oidc).
const (
	envGitHubURL   = "ACTIONS_ID_TOKEN_REQUEST_URL"
	envGitHubToken = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
)

// GitHubActions is a Source of GitHub Actions OIDC tokens: it asks the
// runner's token endpoint for a new token on every call, since a token
// lives about five minutes. Its issuer is
// https://token.actions.githubusercontent.com and its subject names the
// repository and the branch, tag, environment or pull request
// ("repo:OWNER/REPO:environment:NAME"); the app registration's federated
// credential must name both exactly, with the same case.
//
// The job must have the permission id-token: write, or the runner sets
// neither variable. RequestToken is a secret: String and LogValue never
// show it, and no error quotes it.
type GitHubActions struct {
	// RequestURL and RequestToken are ACTIONS_ID_TOKEN_REQUEST_URL and
	// ACTIONS_ID_TOKEN_REQUEST_TOKEN; empty: those variables, looked up on
	// each call.
	RequestURL   string
	RequestToken string
	// HTTPClient sends the requests; nil: http.DefaultClient.
	HTTPClient *http.Client
	// Clock spaces retries; nil: retry.System.
	Clock retry.Clock
	// Logger gets a debug line per retry; nil: none.
	Logger *slog.Logger
	// Getenv looks up variables; nil: os.Getenv.
	Getenv func(string) string
}

// gitHubAnswer is the token endpoint's JSON
// (https://github.com/actions/toolkit/blob/main/packages/core/src/oidc-utils.ts).
type gitHubAnswer struct {
	Value string `json:"value"`
}

// Token asks for a token whose aud is audience; an empty audience asks for
// AzureADTokenExchange. Network failures, 429 and 5xx are retried.
func (g *GitHubActions) Token(ctx context.Context, audience string) (*oauth2.Token, error) {
	if g == nil {
		return nil, &provider.ConfigError{Package: "workload", Field: "GitHubActions", Reason: "no GitHub Actions settings"}
	}
	if audience == "" {
		audience = AzureADTokenExchange
	}
	get := lookup(g.Getenv)
	raw, secret := g.RequestURL, g.RequestToken
	if raw == "" {
		raw = get(envGitHubURL)
	}
	if secret == "" {
		secret = get(envGitHubToken)
	}
	if raw == "" || secret == "" {
		return nil, &provider.ConfigError{Package: "workload", Field: "GitHubActions",
			Reason: envGitHubURL + " and " + envGitHubToken + " are not set: give the workflow job the permission id-token: write"}
	}
	u, err := fetch.CheckURL(raw)
	if err != nil {
		return nil, &provider.ConfigError{Package: "workload", Field: "GitHubActions.RequestURL", Reason: envGitHubURL + ": " + err.Error()}
	}
	q := u.Query()
	q.Set("audience", audience)
	u.RawQuery = q.Encode()
	endpoint := fetch.Redacted(u)
	build := func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, fmt.Errorf("workload: GitHub Actions token request: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Accept", "application/json")
		return req, nil
	}
	ans, err := fetch.Do(ctx, g.HTTPClient, build, fetch.Policy{Clock: g.Clock, Logger: g.Logger, Service: "GitHub Actions token endpoint"})
	if err != nil {
		return nil, unreachable("GitHub Actions", endpoint, err)
	}
	if ans.Status != http.StatusOK {
		e := answerError("GitHub Actions", endpoint, ans, secret)
		if e.Reason == ReasonRefused && (ans.Status == http.StatusUnauthorized || ans.Status == http.StatusForbidden) {
			e.Err = fmt.Errorf("the runner refused %s: it is valid only while its job runs", envGitHubToken)
		}
		return nil, e
	}
	var a gitHubAnswer
	if ans.TooLarge || json.Unmarshal(ans.Body, &a) != nil || strings.TrimSpace(a.Value) == "" {
		return nil, &Error{Source: "GitHub Actions", Reason: ReasonBadAnswer, Endpoint: endpoint, Status: ans.Status,
			Err: fmt.Errorf("no \"value\" in the answer")}
	}
	return jwtToken(strings.TrimSpace(a.Value)), nil
}

// String shows the settings without the request token.
func (g *GitHubActions) String() string {
	if g == nil {
		return "workload.GitHubActions(nil)"
	}
	return fmt.Sprintf("workload.GitHubActions{RequestURL: %q, RequestToken: %s}", redactedURL(g.RequestURL), redactedSecret(g.RequestToken))
}

// GoString is String, so %#v does not print the request token either.
func (g *GitHubActions) GoString() string { return g.String() }

// LogValue shows the settings without the request token in log lines.
func (g *GitHubActions) LogValue() slog.Value {
	if g == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(slog.String("request_url", redactedURL(g.RequestURL)),
		slog.String("request_token", redactedSecret(g.RequestToken)))
}

// redactedURL is raw without its query.
func redactedURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparsable]"
	}
	return fetch.Redacted(u)
}

// redactedSecret says whether a secret is set, never what it is.
func redactedSecret(s string) string {
	if s == "" {
		return `""`
	}
	return "[redacted]"
}
