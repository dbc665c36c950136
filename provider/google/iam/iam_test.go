package iam_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/internal/jwt"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/google/iam"
	"github.com/mailoauth/mailoauth/provider/providertest"
)

const (
	mailer   = "mailer@project.iam.gserviceaccount.com"
	deployer = "deployer@project.iam.gserviceaccount.com"
	helpdesk = "helpdesk@example.com"
	gmail    = "https://mail.google.com/"
)

// idpWithAccounts has the delegating service account (no key file) and a caller that may sign as it.
func idpWithAccounts(t *testing.T) *providertest.Server {
	t.Helper()
	idp := providertest.New()
	t.Cleanup(idp.Close)
	idp.AddApp(providertest.App{ServiceAccountEmail: mailer, ClientID: "109876543210987654321", DelegatedScopes: []string{gmail},
		Mailboxes: []string{helpdesk}})
	idp.AddApp(providertest.App{ServiceAccountEmail: deployer})
	idp.AllowSignJWT(deployer, mailer)
	return idp
}

// caller is an access token of email with the cloud-platform scope, as ADC would give.
func caller(idp *providertest.Server, email string, scopes ...string) oauth2.TokenSource {
	if scopes == nil {
		scopes = []string{iam.CloudPlatformScope}
	}
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: idp.IssueToken(providertest.TokenSpec{Email: email, Scopes: scopes}), TokenType: "Bearer"})
}

func signer(idp *providertest.Server, ts oauth2.TokenSource) *iam.Signer {
	return &iam.Signer{ServiceAccount: mailer, Caller: ts, BaseURL: idp.URL(), HTTPClient: idp.Client(), Clock: idp}
}

// jwtBearer exchanges an assertion at the Google token endpoint.
func jwtBearer(t *testing.T, idp *providertest.Server, assertion string) (status int, accessToken string) {
	t.Helper()
	resp, err := idp.Client().PostForm(idp.URL()+"/token", url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {assertion}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &body)
	return resp.StatusCode, body.AccessToken
}

func wantError(t *testing.T, err error, reason iam.Reason) *iam.Error {
	t.Helper()
	var e *iam.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want an *iam.Error", err, err)
	}
	if e.Reason != reason || e.DiagnosisCode() != "iam: "+string(reason) {
		t.Fatalf("Reason = %q (%s), want %q; %v", e.Reason, e.DiagnosisCode(), reason, err)
	}
	return e
}

func noSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	text := fmt.Sprintf("%v | %+v | %#v", err, err, err)
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("secret %.12s... in %q", s, text)
		}
	}
}

func TestDelegationAssertionIsExchangedForTheUsersToken(t *testing.T) {
	idp := idpWithAccounts(t)
	s := signer(idp, caller(idp, deployer))
	before := idp.Now().Unix()
	assertion, err := s.DelegationAssertion(context.Background(), helpdesk, []string{gmail}, idp.URL()+"/token")
	after := idp.Now().Unix()
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Iss, Sub, Scope, Aud string
		Iat, Exp             int64
	}
	if err := jwt.Decode(assertion, nil, &c); err != nil {
		t.Fatal(err)
	}
	if c.Iss != mailer || c.Sub != helpdesk || c.Scope != gmail || c.Aud != idp.URL()+"/token" || c.Iat < before || c.Iat > after ||
		c.Exp-c.Iat != int64(iam.DelegationLifetime/time.Second) {
		t.Fatalf("claims %+v", c)
	}
	status, access := jwtBearer(t, idp, assertion)
	if status != http.StatusOK {
		t.Fatalf("JWT-bearer grant: HTTP %d", status)
	}
	if err := idp.VerifySASL(helpdesk, access); err != nil {
		t.Fatalf("the delegated token does not open the mailbox: %v", err)
	}
	// Signed anew for each call.
	again, _ := s.DelegationAssertion(context.Background(), helpdesk, []string{gmail}, idp.URL()+"/token")
	if again == "" || idp.Hits("signjwt") != 2 {
		t.Errorf("%d signJwt calls for two assertions", idp.Hits("signjwt"))
	}
}

func TestSignJWTThroughADelegationChain(t *testing.T) {
	idp := idpWithAccounts(t)
	const hop = "hop@project.iam.gserviceaccount.com"
	idp.AddApp(providertest.App{ServiceAccountEmail: hop})
	idp.AllowSignJWT("ci@example.com", hop)
	idp.AllowSignJWT(hop, mailer)
	s := signer(idp, caller(idp, "ci@example.com"))
	if _, err := s.SignJWT(context.Background(), map[string]any{"iss": mailer}); err == nil {
		t.Fatal("ci signed without the chain")
	}
	s.Delegates = []string{hop}
	if _, err := s.SignJWT(context.Background(), map[string]any{"iss": mailer}); err != nil {
		t.Fatal(err)
	}
}

func TestSignJWTErrors(t *testing.T) {
	idp := idpWithAccounts(t)
	ctx := context.Background()
	payload := map[string]any{"iss": mailer, "sub": helpdesk}

	denied := caller(idp, "intern@example.com")
	_, err := signer(idp, denied).SignJWT(ctx, payload)
	e := wantError(t, err, iam.ReasonPermissionDenied)
	if r := e.Reply(); r.Layer != provider.LayerOAuth || r.Code != 403 || r.Response != "IAM_PERMISSION_DENIED" || e.Code != "PERMISSION_DENIED" ||
		!strings.Contains(r.Text, "iam.serviceAccounts.signJwt") {
		t.Errorf("Reply %+v of %+v", r, e)
	}
	if !strings.Contains(err.Error(), "roles/iam.serviceAccountTokenCreator") {
		t.Errorf("no advice in %v", err)
	}
	tok, _ := denied.Token()
	noSecret(t, err, tok.AccessToken)

	// An account that does not exist looks the same (Google's answer with the '-' project).
	ghost := signer(idp, caller(idp, deployer))
	ghost.ServiceAccount = "ghost@project.iam.gserviceaccount.com"
	_, err = ghost.SignJWT(ctx, payload)
	wantError(t, err, iam.ReasonPermissionDenied)

	_, err = signer(idp, caller(idp, deployer, "https://www.googleapis.com/auth/userinfo.email")).SignJWT(ctx, payload)
	wantError(t, err, iam.ReasonUnauthenticated)

	expired := caller(idp, deployer)
	idp.Advance(2 * providertest.DefaultTokenLifetime)
	_, err = signer(idp, expired).SignJWT(ctx, payload)
	if e := wantError(t, err, iam.ReasonUnauthenticated); e.Status != 401 || e.Detail != "ACCESS_TOKEN_EXPIRED" {
		t.Errorf("%+v", e)
	}

	idp.SetIAMCredentialsAPI(false)
	_, err = signer(idp, caller(idp, deployer)).SignJWT(ctx, payload)
	if e := wantError(t, err, iam.ReasonServiceDisabled); e.Reply().Response != "SERVICE_DISABLED" {
		t.Errorf("%+v", e)
	}
	idp.SetIAMCredentialsAPI(true)

	_, err = signer(idp, caller(idp, deployer)).SignJWT(ctx, map[string]any{"exp": idp.Now().Add(13 * time.Hour).Unix()})
	wantError(t, err, iam.ReasonRefused)

	boom := errors.New("metadata server unreachable")
	_, err = signer(idp, failing{boom}).SignJWT(ctx, payload)
	wantError(t, err, iam.ReasonCaller)
	if !errors.Is(err, boom) {
		t.Errorf("the caller's error is not wrapped: %v", err)
	}
}

func TestSignJWTRetriesTransientFailures(t *testing.T) {
	idp := idpWithAccounts(t)
	idp.FailSignJWT(2, providertest.ServerError(503))
	start := idp.Now()
	if _, err := signer(idp, caller(idp, deployer)).SignJWT(context.Background(), map[string]any{"iss": mailer}); err != nil {
		t.Fatal(err)
	}
	if idp.Hits("signjwt") != 3 || idp.Now().Sub(start) < 3*time.Second {
		t.Errorf("%d calls over %v", idp.Hits("signjwt"), idp.Now().Sub(start))
	}
	idp.FailSignJWT(5, providertest.ServerError(503))
	_, err := signer(idp, caller(idp, deployer)).SignJWT(context.Background(), map[string]any{"iss": mailer})
	if e := wantError(t, err, iam.ReasonUnavailable); !e.Temporary() {
		t.Error("not temporary")
	}
	if d := provider.Diagnose(err); d == nil || d.Kind != provider.Transient {
		t.Errorf("diagnosis %+v", d)
	}
}

func TestSignJWTAnswersGoogleMightGive(t *testing.T) {
	const bearer = "ya29.caller-access-token-0123456789"
	for _, tc := range []struct {
		status int
		body   string
		reason iam.Reason
	}{
		{404, `{"error":{"code":404,"message":"Not found; Gaia id not found for email ghost@x.iam.gserviceaccount.com","status":"NOT_FOUND"}}`, iam.ReasonUnknownAccount},
		{404, `<html>not found</html>`, iam.ReasonRefused},
		{403, `{"error":{"code":403,"message":"Access Not Configured.","errors":[{"reason":"accessNotConfigured"}],"status":"PERMISSION_DENIED"}}`, iam.ReasonServiceDisabled},
		{429, `{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}`, iam.ReasonThrottled},
		{400, `{"error":{"code":400,"message":"bad token ` + bearer + `","status":"INVALID_ARGUMENT"}}`, iam.ReasonRefused},
		{200, `{"keyId":"k","signedJwt":"not-a-jwt"}`, iam.ReasonBadAnswer},
	} {
		s := &iam.Signer{ServiceAccount: mailer, BaseURL: "http://127.0.0.1:1", Clock: noWait{},
			Caller:     oauth2.StaticTokenSource(&oauth2.Token{AccessToken: bearer}),
			HTTPClient: &http.Client{Transport: answer{tc.status, tc.body}}}
		_, err := s.SignJWT(context.Background(), map[string]any{"iss": mailer})
		wantError(t, err, tc.reason)
		noSecret(t, err, bearer)
	}
}

func TestSignerConfigErrors(t *testing.T) {
	idp := idpWithAccounts(t)
	ctx := context.Background()
	var ce *provider.ConfigError
	for name, s := range map[string]*iam.Signer{
		"no account":  {Caller: caller(idp, deployer)},
		"no caller":   {ServiceAccount: mailer},
		"remote http": {ServiceAccount: mailer, Caller: caller(idp, deployer), BaseURL: "http://iam.example.com"},
	} {
		if _, err := s.SignJWT(ctx, map[string]any{}); !errors.As(err, &ce) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := signer(idp, caller(idp, deployer)).DelegationAssertion(ctx, "", []string{gmail}, "https://oauth2.googleapis.com/token"); !errors.As(err, &ce) {
		t.Errorf("no user: %v", err)
	}
	if _, err := signer(idp, caller(idp, deployer)).SignJWT(ctx, []string{"not", "an", "object"}); err == nil {
		t.Error("a JSON array was sent as claims")
	}
	if idp.Hits("signjwt") != 0 {
		t.Errorf("%d calls reached signJwt", idp.Hits("signjwt"))
	}
}

type failing struct{ err error }

func (f failing) Token() (*oauth2.Token, error) { return nil, f.err }

// answer replies status and body to every request, without a network.
type answer struct {
	status int
	body   string
}

func (a answer) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: a.status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(a.body)), Request: r}, nil
}

// noWait is a clock whose Sleep returns at once.
type noWait struct{}

func (noWait) Now() time.Time                                   { return time.Now() }
func (noWait) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }
