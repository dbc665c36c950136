// Package iam has Google sign a service account's JWTs without a key file:
// the IAM Service Account Credentials API's signJwt signs a claims set with
// a key Google keeps for the service account, and the caller proves only
// its own identity with an access token (Application Default Credentials,
// workload identity federation, a VM's service account). That is how
// domain-wide delegation works without a key: Google signs the delegation
// assertion, which the JWT-bearer grant then exchanges for a Workspace
// user's token.
//
//	creds, _ := google.FindDefaultCredentials(ctx, iam.CloudPlatformScope) // golang.org/x/oauth2/google
//	signer := &iam.Signer{ServiceAccount: "mailer@project.iam.gserviceaccount.com", Caller: creds.TokenSource}
//	assertion, err := signer.DelegationAssertion(ctx, "helpdesk@example.com", []string{"https://mail.google.com/"}, "https://oauth2.googleapis.com/token")
//	// POST grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=... to the token URL.
//
// The caller's account needs the permission iam.serviceAccounts.signJwt on
// the service account (roles/iam.serviceAccountTokenCreator), the API
// iamcredentials.googleapis.com must be enabled in the caller's project, and
// a Workspace admin must have authorized the service account's client ID
// for the scopes (domain-wide delegation). The package takes the caller's
// credentials as an oauth2.TokenSource so that it does not depend on
// golang.org/x/oauth2/google.
package iam

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/internal/fetch"
	"github.com/mailoauth/mailoauth/internal/jwt"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/retry"
)

// Endpoints and scopes.
const (
	// BaseURL is the IAM Service Account Credentials API.
	BaseURL = "https://iamcredentials.googleapis.com"
	// CloudPlatformScope is the scope the caller's access token needs to call
	// signJwt.
	CloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"
	// DelegationLifetime is the lifetime of a DelegationAssertion: Google's
	// token endpoint accepts at most one hour between iat and exp
	// (https://developers.google.com/identity/protocols/oauth2/service-account),
	// although signJwt would sign up to twelve.
	DelegationLifetime = time.Hour
)

// Signer signs JWTs as a service account through signJwt. Its zero
// BaseURL, HTTPClient, Clock and Logger work; ServiceAccount and Caller
// must be set. A Signer holds no state and is safe for concurrent use.
type Signer struct {
	// ServiceAccount is the email (or unique ID) of the service account
	// whose Google-managed key signs.
	ServiceAccount string
	// Caller gives the access tokens that call signJwt, with the scope
	// CloudPlatformScope: Application Default Credentials, workload
	// identity federation's external-account credentials
	// (golang.org/x/oauth2/google), any oauth2.TokenSource.
	Caller oauth2.TokenSource
	// Delegates is a delegation chain of service accounts (emails), each
	// holding the Token Creator role on the next and the last on
	// ServiceAccount; empty: the caller holds it on ServiceAccount.
	Delegates []string
	// BaseURL is where the API is; empty: BaseURL. Tests point it at
	// providertest's Server.
	BaseURL string
	// HTTPClient sends the requests; nil: http.DefaultClient.
	HTTPClient *http.Client
	// Clock sets iat and exp and spaces retries; nil: retry.System.
	Clock retry.Clock
	// Logger gets a debug line per retry; nil: none.
	Logger *slog.Logger
}

// delegationClaims are the claims of a domain-wide delegation assertion
// (https://developers.google.com/identity/protocols/oauth2/service-account#authorizingrequests).
type delegationClaims struct {
	Iss   string `json:"iss"`
	Sub   string `json:"sub"`
	Scope string `json:"scope"`
	Aud   string `json:"aud"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
}

// DelegationAssertion returns the assertion of Google's JWT-bearer grant
// that impersonates user: iss the service account, sub user, scope the
// scopes, aud tokenURL (Google's token endpoint), valid from now for
// DelegationLifetime. It is signed anew on each call.
func (s *Signer) DelegationAssertion(ctx context.Context, user string, scopes []string, tokenURL string) (string, error) {
	if strings.TrimSpace(user) == "" || len(scopes) == 0 || tokenURL == "" {
		return "", &provider.ConfigError{Package: "iam", Field: "DelegationAssertion",
			Reason: "domain-wide delegation needs the user to act as, at least one scope and the token endpoint"}
	}
	now := retry.Or(s.Clock).Now()
	return s.SignJWT(ctx, delegationClaims{Iss: s.ServiceAccount, Sub: user, Scope: strings.Join(scopes, " "),
		Aud: tokenURL, Iat: now.Unix(), Exp: now.Add(DelegationLifetime).Unix()})
}

// signRequest and signAnswer are signJwt's JSON
// (https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/signJwt).
type signRequest struct {
	Payload   string   `json:"payload"`
	Delegates []string `json:"delegates,omitempty"`
}

type signAnswer struct {
	KeyID     string `json:"keyId"`
	SignedJWT string `json:"signedJwt"`
}

// SignJWT has claims (anything that encodes to a JSON object; an exp at
// most 12 hours ahead) signed with the service account's Google-managed
// key and returns the compact JWT, whose header Google writes (RS256 and
// the key's kid). 429 and 5xx answers and network failures are retried
// with backoff; every other failure is an *Error.
func (s *Signer) SignJWT(ctx context.Context, claims any) (string, error) {
	if s == nil || strings.TrimSpace(s.ServiceAccount) == "" {
		return "", &provider.ConfigError{Package: "iam", Field: "ServiceAccount", Reason: "no service account to sign as"}
	}
	if s.Caller == nil {
		return "", &provider.ConfigError{Package: "iam", Field: "Caller",
			Reason: "no credentials to call the IAM Credentials API with: give Application Default Credentials or another token source"}
	}
	payload, err := json.Marshal(claims)
	if err != nil || !bytes.HasPrefix(bytes.TrimSpace(payload), []byte("{")) {
		return "", fmt.Errorf("iam: the claims do not encode to a JSON object")
	}
	base := s.BaseURL
	if base == "" {
		base = BaseURL
	}
	u, err := fetch.CheckURL(strings.TrimRight(base, "/") + "/v1/projects/-/serviceAccounts/" + url.PathEscape(s.ServiceAccount) + ":signJwt")
	if err != nil {
		return "", &provider.ConfigError{Package: "iam", Field: "BaseURL", Reason: err.Error()}
	}
	body := signRequest{Payload: string(payload)}
	for _, d := range s.Delegates {
		body.Delegates = append(body.Delegates, "projects/-/serviceAccounts/"+d)
	}
	reqBody, err := json.Marshal(body)
	if err != nil {
		return "", fmt.Errorf("iam: encode the request: %w", err)
	}
	var bearer string
	build := func(ctx context.Context) (*http.Request, error) {
		tok, err := s.Caller.Token()
		if err != nil {
			return nil, &Error{ServiceAccount: s.ServiceAccount, Reason: ReasonCaller, Err: err}
		}
		bearer = tok.AccessToken
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(reqBody))
		if err != nil {
			return nil, fmt.Errorf("iam: signJwt request: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		tok.SetAuthHeader(req)
		return req, nil
	}
	ans, err := fetch.Do(ctx, s.HTTPClient, build, fetch.Policy{Clock: s.Clock, Logger: s.Logger, Service: "IAM Credentials API"})
	if err != nil {
		var e *Error
		if errors.As(err, &e) || ctx.Err() != nil {
			return "", err
		}
		return "", &Error{ServiceAccount: s.ServiceAccount, Reason: ReasonUnavailable, Err: err}
	}
	if ans.Status != http.StatusOK {
		return "", answerError(s.ServiceAccount, ans, bearer)
	}
	var a signAnswer
	if ans.TooLarge || json.Unmarshal(ans.Body, &a) != nil || jwt.Decode(a.SignedJWT, nil, nil) != nil {
		return "", &Error{ServiceAccount: s.ServiceAccount, Reason: ReasonBadAnswer, Status: ans.Status,
			Err: errors.New("no signed JWT in the answer")}
	}
	return a.SignedJWT, nil
}
