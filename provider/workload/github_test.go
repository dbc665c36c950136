package workload_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/internal/jwt"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/provider/workload"
)

func TestGitHubActionsTokenIsExchangedForExchangeAndGraph(t *testing.T) {
	idp := newIdP(t)
	trustingApp(idp, providertest.FederatedCredential{Issuer: providertest.GitHubIssuer, Subject: repoSubject})
	reqURL, reqToken := idp.NewIssuer(providertest.GitHubIssuer).GitHubActions(repoSubject)
	e := newEnv("ACTIONS_ID_TOKEN_REQUEST_URL", reqURL, "ACTIONS_ID_TOKEN_REQUEST_TOKEN", reqToken)
	gh := &workload.GitHubActions{HTTPClient: idp.Client(), Clock: idp, Getenv: e.get}

	ctx := context.Background()
	for _, resource := range []string{exchange, graph} {
		tok, err := exchangeAssertion(ctx, idp, gh, resource)
		if err != nil {
			t.Fatalf("%s: %v", resource, err)
		}
		check := idp.VerifySASL
		if resource == graph {
			check = idp.VerifyGraph
		}
		if err := check(helpdesk, tok.AccessToken); err != nil {
			t.Fatalf("%s: %v", resource, err)
		}
	}
	// A new token on every call, with the audience asked for (the default: Entra's).
	a, err := gh.Token(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := gh.Token(ctx, "api://custom")
	if err != nil {
		t.Fatal(err)
	}
	var ca, cb struct {
		Aud string `json:"aud"`
		Jti string `json:"jti"`
	}
	if jwt.Decode(a.AccessToken, nil, &ca) != nil || jwt.Decode(b.AccessToken, nil, &cb) != nil {
		t.Fatal("not JWTs")
	}
	if ca.Aud != workload.AzureADTokenExchange || cb.Aud != "api://custom" || ca.Jti == cb.Jti {
		t.Errorf("claims %+v %+v", ca, cb)
	}
	if want := time.Unix(idp.Now().Add(5*time.Minute).Unix(), 0); !a.Expiry.Equal(want) {
		t.Errorf("expiry %v, want %v from the exp claim", a.Expiry, want)
	}
	if n := idp.Hits("github"); n != 4 {
		t.Errorf("%d requests to the runner, want one per token", n)
	}
}

func TestGitHubActionsWithoutThePermission(t *testing.T) {
	_, err := (&workload.GitHubActions{Getenv: newEnv().get}).Token(context.Background(), "")
	var ce *provider.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(ce.Reason, "id-token: write") {
		t.Fatalf("err = %v", err)
	}
	_, err = (&workload.GitHubActions{RequestURL: "http://runner.example/token?x=1", RequestToken: "t0ken-value-123456"}).Token(context.Background(), "")
	if !errors.As(err, &ce) || strings.Contains(err.Error(), "x=1") {
		t.Fatalf("plain http to a remote host: %v", err)
	}
}

func TestGitHubActionsRefusedRequestToken(t *testing.T) {
	idp := newIdP(t)
	reqURL, _ := idp.NewIssuer(providertest.GitHubIssuer).GitHubActions(repoSubject)
	const wrong = "expired-request-token-0123456789"
	_, err := (&workload.GitHubActions{RequestURL: reqURL, RequestToken: wrong, HTTPClient: idp.Client(), Clock: idp}).Token(context.Background(), "")
	we := wantError(t, err, workload.ReasonRefused)
	if we.Status != http.StatusUnauthorized || we.Source != "GitHub Actions" || strings.Contains(we.Endpoint, "?") {
		t.Errorf("%+v", we)
	}
	if r := we.Reply(); r.Layer != provider.LayerOAuth || r.Code != http.StatusUnauthorized {
		t.Errorf("Reply %+v", r)
	}
	noSecret(t, errorTexts(err), wrong)
}

func TestGitHubActionsRetriesAndLogsNoSecret(t *testing.T) {
	idp := newIdP(t)
	reqURL, reqToken := idp.NewIssuer(providertest.GitHubIssuer).GitHubActions(repoSubject)
	var log logs
	client := &http.Client{Transport: &failFirst{n: 2, status: http.StatusServiceUnavailable, next: idp.Client().Transport}}
	gh := &workload.GitHubActions{RequestURL: reqURL, RequestToken: reqToken, HTTPClient: client, Clock: idp, Logger: log.logger()}
	start := idp.Now()
	tok, err := gh.Token(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if idp.Now().Sub(start) < 3*time.Second || strings.Count(log.String(), "retrying") != 2 {
		t.Errorf("waited %v; log:\n%s", idp.Now().Sub(start), log.String())
	}
	noSecret(t, log.String(), reqToken, tok.AccessToken)

	// Configuration shown in logs and format verbs hides the request token.
	slog.New(slog.NewTextHandler(&log, nil)).Info("config", "github", gh)
	noSecret(t, log.String()+fmt.Sprintf("%v %+v %#v %s", gh, gh, gh, gh), reqToken)
	if !strings.Contains(log.String(), "[redacted]") {
		t.Errorf("log without the redaction mark:\n%s", log.String())
	}
}

func TestGitHubActionsUnusableAnswer(t *testing.T) {
	idp := newIdP(t)
	reqURL, reqToken := idp.NewIssuer(providertest.GitHubIssuer).GitHubActions(repoSubject)
	client := &http.Client{Transport: rewrite{status: http.StatusOK, body: `{"count":0}`}}
	_, err := (&workload.GitHubActions{RequestURL: reqURL, RequestToken: reqToken, HTTPClient: client}).Token(context.Background(), "")
	we := wantError(t, err, workload.ReasonBadAnswer)
	if !we.Reply().Unusable {
		t.Error("an answer without a token is not marked unusable")
	}
}

// rewrite answers every request with status and body.
type rewrite struct {
	status int
	body   string
	header http.Header
}

func (rw rewrite) RoundTrip(r *http.Request) (*http.Response, error) {
	h := rw.header
	if h == nil {
		h = http.Header{"Content-Type": {"application/json"}}
	}
	return &http.Response{StatusCode: rw.status, Header: h, Body: readCloser(rw.body), Request: r}, nil
}
