package providertest

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/internal/jwt"
)

const uamiResource = "/subscriptions/0000/resourceGroups/mail/providers/Microsoft.ManagedIdentity/userAssignedIdentities/"

// identityGet asks an endpoint; header is the Metadata or X-IDENTITY-HEADER value ("" for none).
func identityGet(t *testing.T, endpoint string, q url.Values, headerName, header string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, endpoint+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if header != "" {
		req.Header.Set(headerName, header)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return readReply(t, resp)
}

func imds(t *testing.T, s *Server, resource string, selector ...string) reply {
	t.Helper()
	q := url.Values{"api-version": {"2018-02-01"}, "resource": {resource}}
	if len(selector) == 2 {
		q.Set(selector[0], selector[1])
	}
	return identityGet(t, s.IMDSEndpoint(), q, "Metadata", "true")
}

func wantIMDSError(t *testing.T, r reply, code, desc string) {
	t.Helper()
	if r.status != http.StatusBadRequest || r.str("error") != code || r.str("error_description") != desc {
		t.Fatalf("got %d %s, want 400 %s %q", r.status, r.raw, code, desc)
	}
}

func TestIMDSIssuesTokensTheMailAndGraphChecksAccept(t *testing.T) {
	s := newServer(t)
	mi := s.AddManagedIdentity(ManagedIdentity{ResourceID: uamiResource + "mailer", Roles: []string{"IMAP.AccessAsApp", "Mail.Send"},
		Mailboxes: []string{"helpdesk@example.com"}})
	if !guidRE.MatchString(mi.ClientID) || !guidRE.MatchString(mi.ObjectID) || mi.Tenant != DefaultTenant {
		t.Fatalf("IDs not filled in: %+v", mi)
	}
	r := imds(t, s, "https://outlook.office365.com")
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	// The metadata service sends its numbers as strings.
	for _, f := range []string{"expires_in", "expires_on", "not_before"} {
		if _, err := strconv.ParseInt(r.str(f), 10, 64); err != nil {
			t.Errorf("%s = %v, want a string of digits", f, r.json[f])
		}
	}
	if r.str("client_id") != mi.ClientID || r.str("resource") != "https://outlook.office365.com" || r.str("token_type") != "Bearer" {
		t.Errorf("answer %s", r.raw)
	}
	exchange := r.str("access_token")
	if err := s.VerifySASL("helpdesk@example.com", exchange); err != nil {
		t.Fatalf("VerifySASL: %v", err)
	}
	if err := s.VerifySASL("ceo@example.com", exchange); err == nil {
		t.Error("the identity opened a mailbox it was not granted")
	}
	var c struct {
		Appid string `json:"appid"`
		Oid   string `json:"oid"`
		Sub   string `json:"sub"`
		Idtyp string `json:"idtyp"`
		Ver   string `json:"ver"`
		MirID string `json:"xms_mirid"`
	}
	if err := jwt.Decode(exchange, nil, &c); err != nil {
		t.Fatal(err)
	}
	if c.Appid != mi.ClientID || c.Oid != mi.ObjectID || c.Sub != mi.ObjectID || c.Idtyp != "app" || c.Ver != tokenVersion1 ||
		c.MirID != mi.ResourceID {
		t.Errorf("claims %+v, identity %+v", c, mi)
	}

	g := imds(t, s, "https://graph.microsoft.com/")
	if err := s.VerifyGraph("helpdesk@example.com", g.str("access_token")); err != nil {
		t.Fatalf("VerifyGraph: %v", err)
	}
	if s.Hits("imds") != 2 {
		t.Errorf("Hits(imds) = %d", s.Hits("imds"))
	}
}

func TestIMDSRolesAreRequired(t *testing.T) {
	s := newServer(t)
	s.AddManagedIdentity(ManagedIdentity{})
	tok := imds(t, s, "https://outlook.office365.com").str("access_token")
	if err := s.VerifySASL("helpdesk@example.com", tok); err == nil {
		t.Error("a token without roles opened a mailbox")
	}
	g := imds(t, s, "https://graph.microsoft.com").str("access_token")
	if err := s.VerifyGraph("helpdesk@example.com", g); err == nil {
		t.Error("a Graph token without Mail.* roles passed")
	}
}

func TestIMDSIdentitySelection(t *testing.T) {
	s := newServer(t)
	wantIMDSError(t, imds(t, s, "https://outlook.office365.com"), errInvalidRequest, imdsNotFound)

	a := s.AddManagedIdentity(ManagedIdentity{ResourceID: uamiResource + "a"})
	if r := imds(t, s, "https://outlook.office365.com"); r.str("client_id") != a.ClientID {
		t.Fatalf("the only user-assigned identity is used without a selector: %s", r.raw)
	}
	b := s.AddManagedIdentity(ManagedIdentity{ResourceID: uamiResource + "b"})
	wantIMDSError(t, imds(t, s, "https://outlook.office365.com"), errInvalidRequest, imdsMultiple)
	for _, sel := range [][2]string{{"client_id", b.ClientID}, {"object_id", b.ObjectID}, {"msi_res_id", b.ResourceID}} {
		if r := imds(t, s, "https://outlook.office365.com", sel[0], sel[1]); r.str("client_id") != b.ClientID {
			t.Errorf("%s: %s", sel[0], r.raw)
		}
	}
	wantIMDSError(t, imds(t, s, "https://outlook.office365.com", "client_id", newGUID()), errInvalidRequest, imdsNotFound)
	sys := s.AddManagedIdentity(ManagedIdentity{})
	if r := imds(t, s, "https://outlook.office365.com"); r.str("client_id") != sys.ClientID {
		t.Errorf("without a selector the system-assigned identity answers: %s", r.raw)
	}
}

func TestIMDSRequestChecks(t *testing.T) {
	s := newServer(t)
	s.AddManagedIdentity(ManagedIdentity{})
	q := url.Values{"api-version": {"2018-02-01"}, "resource": {"https://outlook.office365.com"}}
	wantIMDSError(t, identityGet(t, s.IMDSEndpoint(), q, "Metadata", ""), "bad_request_102", imdsNoMetadata)
	wantIMDSError(t, identityGet(t, s.IMDSEndpoint(), q, "Metadata", "True"), "bad_request_102", imdsNoMetadata)
	wantIMDSError(t, identityGet(t, s.IMDSEndpoint(), url.Values{"resource": q["resource"]}, "Metadata", "true"),
		errInvalidRequest, "Required query variable 'api-version' is missing")
	both := url.Values{"api-version": q["api-version"], "resource": q["resource"], "client_id": {"x"}, "object_id": {"y"}}
	if r := identityGet(t, s.IMDSEndpoint(), both, "Metadata", "true"); r.status != http.StatusBadRequest {
		t.Errorf("two selectors: %d %s", r.status, r.raw)
	}
	r := imds(t, s, "https://outlook.office365.co")
	if r.status != http.StatusBadRequest || r.str("error") != "invalid_resource" || !strings.HasPrefix(r.str("error_description"), "AADSTS500011: ") {
		t.Errorf("unknown resource: %d %s", r.status, r.raw)
	}
	s.FailIdentity(1, TooManyRequests(3*time.Second))
	if r := imds(t, s, "https://outlook.office365.com"); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "3" {
		t.Errorf("injected failure: %d %v", r.status, r.header)
	}
	if r := imds(t, s, "https://outlook.office365.com"); r.status != http.StatusOK {
		t.Errorf("after the failure: %d %s", r.status, r.raw)
	}
}

func TestAppServiceEndpoint(t *testing.T) {
	s := newServer(t)
	endpoint, header := s.AppServiceEnvironment()
	q := url.Values{"api-version": {appServiceAPIVersion}, "resource": {"https://outlook.office365.com"}}
	r := identityGet(t, endpoint, q, appServiceHeader, header)
	if r.status != http.StatusBadRequest || r.json["message"] != appServiceUnknown || r.json["statusCode"] != float64(400) {
		t.Fatalf("no identity: %d %s", r.status, r.raw)
	}
	uami := s.AddManagedIdentity(ManagedIdentity{ResourceID: uamiResource + "a", Roles: []string{"SMTP.SendAsApp"}})
	if r := identityGet(t, endpoint, q, appServiceHeader, header); r.status != http.StatusBadRequest {
		t.Fatalf("App Service does not fall back to a user-assigned identity: %d %s", r.status, r.raw)
	}
	q.Set("principal_id", uami.ObjectID)
	r = identityGet(t, endpoint, q, appServiceHeader, header)
	if r.status != http.StatusOK || r.str("client_id") != uami.ClientID {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if _, has := r.json["expires_in"]; has {
		t.Error("App Service's 2019-08-01 answer has no expires_in")
	}
	if on, err := strconv.ParseInt(r.str("expires_on"), 10, 64); err != nil || on <= s.Now().Unix() {
		t.Errorf("expires_on = %v", r.json["expires_on"])
	}
	if err := s.VerifySASL("anyone@example.com", r.str("access_token")); err != nil {
		t.Errorf("VerifySASL: %v", err)
	}

	if r := identityGet(t, endpoint, q, appServiceHeader, ""); r.status != http.StatusUnauthorized {
		t.Errorf("no header: %d %s", r.status, r.raw)
	}
	rotated := s.RotateIdentityHeader()
	if r := identityGet(t, endpoint, q, appServiceHeader, header); r.status != http.StatusUnauthorized {
		t.Errorf("old header after rotation: %d %s", r.status, r.raw)
	}
	if r := identityGet(t, endpoint, q, appServiceHeader, rotated); r.status != http.StatusOK {
		t.Errorf("new header: %d %s", r.status, r.raw)
	}
	q.Set("api-version", "2017-09-01")
	if r := identityGet(t, endpoint, q, appServiceHeader, rotated); r.status != http.StatusBadRequest {
		t.Errorf("legacy api-version: %d %s", r.status, r.raw)
	}
	if s.Hits("appservice") != 7 {
		t.Errorf("Hits(appservice) = %d", s.Hits("appservice"))
	}
}

func TestManagedIdentityAsFederatedCredential(t *testing.T) {
	s := newServer(t)
	mi := s.AddManagedIdentity(ManagedIdentity{ResourceID: uamiResource + "fic"})
	federatedApp(s, FederatedCredential{Issuer: s.EntraIssuer(""), Subject: mi.ObjectID})
	r := imds(t, s, TokenExchangeAudience)
	var c struct {
		Iss string `json:"iss"`
		Ver string `json:"ver"`
	}
	if err := jwt.Decode(r.str("access_token"), nil, &c); err != nil || c.Iss != s.EntraIssuer("") || c.Ver != tokenVersion2 {
		t.Fatalf("federation token %+v (%v)", c, err)
	}
	a := post(t, s, entraToken(s), federatedForm("fed-app", "https://outlook.office365.com/.default", r.str("access_token")))
	if a.status != http.StatusOK {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	if err := s.VerifySASL("helpdesk@example.com", a.str("access_token")); err != nil {
		t.Fatal(err)
	}
	// The system-assigned identity's subject is not trusted.
	sys := s.AddManagedIdentity(ManagedIdentity{})
	r = imds(t, s, TokenExchangeAudience, "client_id", sys.ClientID)
	a = post(t, s, entraToken(s), federatedForm("fed-app", "https://outlook.office365.com/.default", r.str("access_token")))
	wantEntraError(t, a, http.StatusUnauthorized, errInvalidClient, 700213)
}
