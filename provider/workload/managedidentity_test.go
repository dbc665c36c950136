package workload_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/provider/workload"
	"github.com/mailoauth/mailoauth/smtpx"
	"github.com/mailoauth/mailoauth/smtpx/smtpxtest"
)

const uami = "/subscriptions/0000/resourceGroups/mail/providers/Microsoft.ManagedIdentity/userAssignedIdentities/"

func TestManagedIdentityMailboxSendsThroughSMTP(t *testing.T) {
	idp := newIdP(t)
	id := idp.AddManagedIdentity(providertest.ManagedIdentity{ResourceID: uami + "mailer", Roles: []string{"SMTP.SendAsApp"},
		Mailboxes: []string{helpdesk}})
	idp.AddManagedIdentity(providertest.ManagedIdentity{ResourceID: uami + "other"})
	mi := &workload.ManagedIdentity{ClientID: id.ClientID, Endpoint: idp.IMDSEndpoint(), Clock: idp}
	tokens := auth.NewSource(workload.Refresher(mi, exchange), &auth.SourceOptions{Clock: idp})

	srv := smtpxtest.New(&smtpxtest.Options{Verify: idp.VerifySASL})
	defer srv.Close()
	ctx := context.Background()
	c, err := smtpx.Dial(ctx, srv.Mailbox(helpdesk, tokens), &smtpx.Options{TLSConfig: srv.TLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := "From: helpdesk@example.com\r\nTo: a@example.net\r\nSubject: hi\r\n\r\nsent with a managed identity\r\n"
	if err := c.Send(ctx, helpdesk, []string{"a@example.net"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	if m := srv.Messages(); len(m) != 1 || m[0].User != helpdesk || !bytes.Contains(m[0].Data, []byte("managed identity")) {
		t.Fatalf("messages %+v", m)
	}

	// auth.Source caches the token until shortly before its expiry (expires_on, a string).
	first, _ := tokens.Token(ctx)
	if want := time.Unix(idp.Now().Add(providertest.DefaultTokenLifetime).Unix(), 0); first.Expiry.Sub(want).Abs() > 2*time.Second {
		t.Errorf("expiry %v, want about %v", first.Expiry, want)
	}
	if _, err := tokens.Token(ctx); err != nil || idp.Hits("imds") != 1 {
		t.Errorf("%d requests to the metadata service, want the one cached token (%v)", idp.Hits("imds"), err)
	}
	idp.Advance(providertest.DefaultTokenLifetime)
	if next, err := tokens.Token(ctx); err != nil || next.AccessToken == first.AccessToken || idp.Hits("imds") != 2 {
		t.Errorf("after expiry: %v, %d requests", err, idp.Hits("imds"))
	}
}

func TestManagedIdentityOnAppServiceReadsTheRotatedHeader(t *testing.T) {
	idp := newIdP(t)
	idp.AddManagedIdentity(providertest.ManagedIdentity{Roles: []string{"Mail.Send"}})
	endpoint, header := idp.AppServiceEnvironment()
	e := newEnv("IDENTITY_ENDPOINT", endpoint, "IDENTITY_HEADER", header)
	mi := &workload.ManagedIdentity{Clock: idp, Getenv: e.get}
	ctx := context.Background()
	tok, err := mi.Token(ctx, graph+"/.default")
	if err != nil {
		t.Fatal(err)
	}
	if err := idp.VerifyGraph(helpdesk, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	if tok.Expiry.IsZero() || idp.Hits("appservice") != 1 || idp.Hits("imds") != 0 {
		t.Errorf("expiry %v, %d App Service and %d metadata requests", tok.Expiry, idp.Hits("appservice"), idp.Hits("imds"))
	}
	e.set("IDENTITY_HEADER", idp.RotateIdentityHeader())
	var log logs
	mi.Logger = log.logger()
	idp.FailIdentity(1, providertest.ServerError(503))
	if _, err := mi.Token(ctx, exchange); err != nil {
		t.Fatalf("after the platform rotated the header: %v", err)
	}
	if !strings.Contains(log.String(), "retrying") {
		t.Errorf("no retry logged:\n%s", log.String())
	}
	noSecret(t, log.String(), header, e.get("IDENTITY_HEADER"))

	// A stale header (the platform rotated it, the variable was not updated) is refused.
	idp.RotateIdentityHeader()
	_, err = mi.Token(ctx, exchange)
	we := wantError(t, err, workload.ReasonRefused)
	if we.Status != http.StatusUnauthorized || we.Source != "managed identity (App Service)" {
		t.Errorf("%+v", we)
	}
	noSecret(t, errorTexts(err), e.get("IDENTITY_HEADER"))
}

func TestManagedIdentityErrors(t *testing.T) {
	idp := newIdP(t)
	ctx := context.Background()
	imds := func(m workload.ManagedIdentity, resource string) error {
		m.Endpoint, m.Clock = idp.IMDSEndpoint(), idp
		_, err := m.Token(ctx, resource)
		return err
	}

	we := wantError(t, imds(workload.ManagedIdentity{}, exchange), workload.ReasonIdentityNotFound)
	if we.Status != 400 || we.Code != "invalid_request" || we.Description != "Identity not found" || we.Source != "managed identity (IMDS)" ||
		!strings.HasSuffix(we.Endpoint, "/metadata/identity/oauth2/token") {
		t.Errorf("%+v", we)
	}
	a := idp.AddManagedIdentity(providertest.ManagedIdentity{ResourceID: uami + "a"})
	idp.AddManagedIdentity(providertest.ManagedIdentity{ResourceID: uami + "b"})
	wantError(t, imds(workload.ManagedIdentity{}, exchange), workload.ReasonMultipleIdentities)
	wantError(t, imds(workload.ManagedIdentity{ClientID: "00000000-0000-0000-0000-000000000000"}, exchange), workload.ReasonIdentityNotFound)
	for _, named := range []workload.ManagedIdentity{{ClientID: a.ClientID}, {ObjectID: a.ObjectID}, {ResourceID: a.ResourceID}} {
		if err := imds(named, exchange); err != nil {
			t.Errorf("%+v: %v", named, err)
		}
	}
	we = wantError(t, imds(workload.ManagedIdentity{ClientID: a.ClientID}, "https://outlook.office356.com"), workload.ReasonUnknownResource)
	if we.Code != "invalid_resource" || !strings.Contains(we.Reply().Text, "AADSTS500011") {
		t.Errorf("%+v", we)
	}

	// Throttled on every attempt: the error says how long to wait, Diagnose calls it transient.
	idp.FailIdentity(5, providertest.TooManyRequests(20*time.Second))
	err := imds(workload.ManagedIdentity{ClientID: a.ClientID}, exchange)
	we = wantError(t, err, workload.ReasonThrottled)
	if we.RetryAfter != 20*time.Second || !we.Temporary() || we.Reply().Wait != 20*time.Second {
		t.Errorf("%+v", we)
	}
	if d := provider.Diagnose(err); d == nil || d.Kind != provider.Transient {
		t.Errorf("diagnosis %+v", d)
	}
	// Updating (410) and failing (500) are retried; five failures in a row are unavailable.
	before := idp.Hits("imds")
	idp.FailIdentity(2, providertest.Failure{Status: http.StatusGone, Body: `{"error":"unavailable"}`})
	if err := imds(workload.ManagedIdentity{ClientID: a.ClientID}, exchange); err != nil || idp.Hits("imds")-before != 3 {
		t.Errorf("410 twice then a token: %v after %d requests", err, idp.Hits("imds")-before)
	}
	idp.FailIdentity(5, providertest.ServerError(500))
	wantError(t, imds(workload.ManagedIdentity{ClientID: a.ClientID}, exchange), workload.ReasonUnavailable)

	// App Service: a client ID it does not know.
	endpoint, header := idp.AppServiceEnvironment()
	e := newEnv("IDENTITY_ENDPOINT", endpoint, "IDENTITY_HEADER", header)
	_, err = (&workload.ManagedIdentity{ClientID: "00000000-0000-0000-0000-000000000000", Getenv: e.get, Clock: idp}).Token(ctx, exchange)
	we = wantError(t, err, workload.ReasonIdentityNotFound)
	if we.Code != "" || !strings.HasPrefix(we.Description, "No User Assigned or Delegated Managed Identity found") {
		t.Errorf("%+v", we)
	}
}

func TestManagedIdentityUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	endpoint := srv.URL + "/metadata/identity/oauth2/token"
	srv.Close()
	mi := &workload.ManagedIdentity{Endpoint: endpoint, Clock: providertest.New()}
	defer mi.Clock.(*providertest.Server).Close()
	_, err := mi.Token(context.Background(), exchange)
	we := wantError(t, err, workload.ReasonUnavailable)
	if we.Err == nil || we.Status != 0 || we.Reply() != (provider.Reply{}) {
		t.Errorf("%+v", we)
	}
	if d := provider.Diagnose(err); d == nil || d.Kind != provider.Transient {
		t.Errorf("diagnosis of the network failure: %+v", d)
	}
}

// dialGuard fails the test if anything is dialled.
type dialGuard struct{ t *testing.T }

func (g dialGuard) RoundTrip(r *http.Request) (*http.Response, error) {
	g.t.Errorf("a request was sent to %s", r.URL.Host)
	return nil, errors.New("dialGuard: no requests")
}

func TestManagedIdentityNeverReachesTheMetadataAddressInATest(t *testing.T) {
	mi := &workload.ManagedIdentity{HTTPClient: &http.Client{Transport: dialGuard{t}}, Getenv: newEnv().get}
	_, err := mi.Token(context.Background(), exchange)
	var ce *provider.ConfigError
	if !errors.As(err, &ce) || ce.Field != "ManagedIdentity.Endpoint" {
		t.Fatalf("err = %v, want a refusal before any request", err)
	}
	// Naming the address explicitly would reach it; the guard shows the request would go there.
	var seen string
	mi.Endpoint = workload.IMDSEndpoint
	mi.HTTPClient = &http.Client{Transport: rewriteFunc(func(r *http.Request) {
		seen = r.URL.Host + r.URL.Path + " Metadata=" + r.Header.Get("Metadata") + " " + r.URL.Query().Get("api-version")
	})}
	_, _ = mi.Token(context.Background(), exchange)
	if seen != "169.254.169.254/metadata/identity/oauth2/token Metadata=true 2018-02-01" {
		t.Errorf("request %q", seen)
	}
}

// rewriteFunc records a request and answers 400 without touching the network.
type rewriteFunc func(*http.Request)

func (f rewriteFunc) RoundTrip(r *http.Request) (*http.Response, error) {
	f(r)
	return &http.Response{StatusCode: 400, Header: http.Header{}, Body: readCloser(`{}`), Request: r}, nil
}

func TestManagedIdentityConfigErrors(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		mi       workload.ManagedIdentity
		audience string
	}{
		"two selectors":      {workload.ManagedIdentity{ClientID: "a", ObjectID: "b", Endpoint: "http://127.0.0.1:1/x"}, exchange},
		"no audience":        {workload.ManagedIdentity{Endpoint: "http://127.0.0.1:1/x"}, " "},
		"remote http":        {workload.ManagedIdentity{Endpoint: "http://imds.example.com/token"}, exchange},
		"header gone":        {workload.ManagedIdentity{Getenv: newEnv("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token").get}, exchange},
		"endpoint not a URL": {workload.ManagedIdentity{Endpoint: "::"}, exchange},
		"Service Fabric": {workload.ManagedIdentity{Getenv: newEnv("IDENTITY_ENDPOINT", "https://127.0.0.1:2377/metadata/identity/oauth2/token",
			"IDENTITY_HEADER", "h", "IDENTITY_SERVER_THUMBPRINT", "ab").get}, exchange},
		"Azure Arc": {workload.ManagedIdentity{Getenv: newEnv("IDENTITY_ENDPOINT", "http://localhost:40342/metadata/identity/oauth2/token",
			"IMDS_ENDPOINT", "http://localhost:40342").get}, exchange},
		"Cloud Shell": {workload.ManagedIdentity{Getenv: newEnv("MSI_ENDPOINT", "http://localhost:50342/oauth2/token").get}, exchange},
	} {
		tc.mi.HTTPClient = &http.Client{Transport: dialGuard{t}}
		_, err := tc.mi.Token(ctx, tc.audience)
		var ce *provider.ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%s: err = %v", name, err)
		} else if name == "Service Fabric" || name == "Azure Arc" || name == "Cloud Shell" {
			if !strings.HasPrefix(ce.Reason, name+"'s managed identity endpoint is not supported") {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}

func TestManagedIdentityAnswersAreScrubbed(t *testing.T) {
	// An endpoint that echoes what it was sent must not put the header or a token into the error.
	const header = "identity-header-value-0123456789"
	var echo string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		echo = r.Header.Get("X-IDENTITY-HEADER")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"statusCode":400,"message":"bad header ` + echo + ` for eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"}`))
	}))
	defer srv.Close()
	e := newEnv("IDENTITY_ENDPOINT", srv.URL+"/msi/token", "IDENTITY_HEADER", header)
	_, err := (&workload.ManagedIdentity{Getenv: e.get}).Token(context.Background(), exchange)
	wantError(t, err, workload.ReasonRefused)
	if echo != header {
		t.Fatalf("the endpoint got header %q", echo)
	}
	noSecret(t, errorTexts(err), header, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")
}

func TestManagedIdentityUnusableAnswers(t *testing.T) {
	for name, body := range map[string]string{
		"not JSON":  `<html>proxy login</html>`,
		"no token":  `{"expires_on":"1999999999"}`,
		"no expiry": `{"access_token":"opaque-token-value"}`,
	} {
		mi := &workload.ManagedIdentity{Endpoint: "http://127.0.0.1:1/metadata/identity/oauth2/token",
			HTTPClient: &http.Client{Transport: rewrite{status: 200, body: body}}}
		_, err := mi.Token(context.Background(), exchange)
		if we := wantError(t, err, workload.ReasonBadAnswer); !we.Reply().Unusable {
			t.Errorf("%s: not marked unusable", name)
		}
		noSecret(t, errorTexts(err), "opaque-token-value")
	}
	// Numbers as numbers are read too, and expires_in serves when expires_on is missing.
	mi := &workload.ManagedIdentity{Endpoint: "http://127.0.0.1:1/t", HTTPClient: &http.Client{Transport: rewrite{status: 200,
		body: `{"access_token":"opaque","expires_in":3600}`}}}
	if tok, err := mi.Token(context.Background(), exchange); err != nil || time.Until(tok.Expiry) < 59*time.Minute {
		t.Errorf("%v %v", tok, err)
	}
	// The metadata service's strings, with a token that is not a JWT: the expiry comes from expires_on.
	mi.HTTPClient = &http.Client{Transport: rewrite{status: 200,
		body: `{"access_token":"opaque","expires_in":"3599","expires_on":"1999999999","token_type":"Bearer"}`}}
	if tok, err := mi.Token(context.Background(), exchange); err != nil || !tok.Expiry.Equal(time.Unix(1999999999, 0)) {
		t.Errorf("%v %v", tok, err)
	}
}

func TestManagedIdentityAsFederatedCredential(t *testing.T) {
	idp := newIdP(t)
	id := idp.AddManagedIdentity(providertest.ManagedIdentity{ResourceID: uami + "federated"})
	trustingApp(idp, providertest.FederatedCredential{Issuer: idp.EntraIssuer(""), Subject: id.ObjectID})
	mi := &workload.ManagedIdentity{ClientID: id.ClientID, Endpoint: idp.IMDSEndpoint(), Clock: idp}
	tok, err := exchangeAssertion(context.Background(), idp, mi, exchange)
	if err != nil {
		t.Fatal(err)
	}
	if err := idp.VerifySASL(helpdesk, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
}
