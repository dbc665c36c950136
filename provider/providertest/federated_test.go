package providertest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/internal/jwt"
)

const (
	aksIssuer  = "https://eastus.oic.prod-aks.azure.com/tenant/cluster/"
	podSubject = "system:serviceaccount:mail:sender"
)

// federatedForm is a client_credentials request whose client assertion is token.
func federatedForm(clientID, scope, token string) url.Values {
	return url.Values{"grant_type": {GrantClientCredentials}, "client_id": {clientID}, "scope": {scope},
		"client_assertion_type": {clientAssertionType}, "client_assertion": {token}}
}

func federatedApp(s *Server, creds ...FederatedCredential) {
	s.AddApp(App{ClientID: "fed-app", Roles: []string{"SMTP.SendAsApp", "IMAP.AccessAsApp", "Mail.Send"},
		Mailboxes: []string{"helpdesk@example.com"}, FederatedCredentials: creds})
}

func TestFederatedTokenIsAClientAssertionForExchangeAndGraph(t *testing.T) {
	s := newServer(t)
	federatedApp(s, FederatedCredential{Issuer: aksIssuer, Subject: podSubject})
	tok := s.NewIssuer(aksIssuer).Token(podSubject, TokenExchangeAudience, time.Hour)

	r := post(t, s, entraToken(s), federatedForm("fed-app", "https://outlook.office365.com/.default", tok))
	if r.status != http.StatusOK {
		t.Fatalf("Exchange: %d %s", r.status, r.raw)
	}
	if err := s.VerifySASL("helpdesk@example.com", r.str("access_token")); err != nil {
		t.Fatalf("VerifySASL: %v", err)
	}
	var c struct {
		Appidacr string `json:"appidacr"`
	}
	if err := jwt.Decode(r.str("access_token"), nil, &c); err != nil || c.Appidacr != acrCertificate {
		t.Errorf("appidacr = %q (%v), want %q as for any client assertion", c.Appidacr, err, acrCertificate)
	}
	// The same token again: federated tokens are not single-use (a projected file is read per request).
	g := post(t, s, entraToken(s), federatedForm("fed-app", "https://graph.microsoft.com/.default", tok))
	if g.status != http.StatusOK {
		t.Fatalf("Graph with the same token: %d %s", g.status, g.raw)
	}
	if err := s.VerifyGraph("helpdesk@example.com", g.str("access_token")); err != nil {
		t.Fatalf("VerifyGraph: %v", err)
	}
	if err := s.VerifyGraph("ceo@example.com", g.str("access_token")); err == nil {
		t.Error("VerifyGraph let the app open a mailbox it has no permission on")
	}
	if err := s.VerifySASL("helpdesk@example.com", g.str("access_token")); err == nil {
		t.Error("a Graph token passed a mail server's check")
	}
	if err := s.VerifyGraph("helpdesk@example.com", r.str("access_token")); err == nil {
		t.Error("an Exchange token passed Graph's check")
	}
}

func TestFederatedTokenRefusals(t *testing.T) {
	s := newServer(t)
	other := newServer(t)
	aks := s.NewIssuer(aksIssuer)
	creds := []FederatedCredential{{Issuer: aksIssuer, Subject: podSubject}}
	user := s.IssueToken(TokenSpec{UPN: "alice@example.com", Version: tokenVersion2, Audience: TokenExchangeAudience,
		Claims: map[string]any{"iss": s.EntraIssuer(""), "sub": "alice-oid"}})
	cases := []struct {
		name  string
		creds []FederatedCredential
		token string
		code  int
	}{
		{"no federated credentials", nil, aks.Token(podSubject, TokenExchangeAudience, 0), 70025},
		{"issuer", creds, s.NewIssuer("https://other.example/").Token(podSubject, TokenExchangeAudience, 0), 700211},
		{"issuer with trailing slash", []FederatedCredential{{Issuer: strings.TrimSuffix(aksIssuer, "/"), Subject: podSubject}},
			aks.Token(podSubject, TokenExchangeAudience, 0), 700211},
		{"subject", creds, aks.Token("system:serviceaccount:mail:other", TokenExchangeAudience, 0), 700213},
		{"subject case", creds, aks.Token(strings.ToUpper(podSubject), TokenExchangeAudience, 0), 7002138},
		{"audience", creds, aks.Token(podSubject, "https://github.com/contoso", 0), 700212},
		{"expired", creds, aks.Token(podSubject, TokenExchangeAudience, -time.Minute), 700024},
		{"signed by another server's issuer", creds, other.NewIssuer(aksIssuer).Token(podSubject, TokenExchangeAudience, 0), 7000272},
		{"Entra user token", []FederatedCredential{{Issuer: s.EntraIssuer(""), Subject: "alice-oid"}}, user, 700229},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			federatedApp(s, tc.creds...)
			r := post(t, s, entraToken(s), federatedForm("fed-app", "https://outlook.office365.com/.default", tc.token))
			wantEntraError(t, r, http.StatusUnauthorized, errInvalidClient, tc.code)
		})
	}
}

func TestFederatedIssuerWithoutKeysIsUnknown(t *testing.T) {
	s := newServer(t)
	federatedApp(s, FederatedCredential{Issuer: aksIssuer, Subject: podSubject})
	// A token that claims the issuer but was signed by a key the issuer never published.
	key, _, _ := appKey(t)
	forged, err := jwt.Sign(key, jwt.RS256, map[string]any{"kid": "k1"}, map[string]any{"iss": aksIssuer, "sub": podSubject,
		"aud": TokenExchangeAudience, "exp": s.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	r := post(t, s, entraToken(s), federatedForm("fed-app", "https://outlook.office365.com/.default", forged))
	wantEntraError(t, r, http.StatusUnauthorized, errInvalidClient, 7000272)
	if !strings.Contains(r.str("error_description"), aksIssuer) {
		t.Errorf("description does not name the issuer: %s", r.str("error_description"))
	}
}

func TestCertificateAssertionsStillWorkBesideFederatedCredentials(t *testing.T) {
	s := newServer(t)
	key, cert, _ := appKey(t)
	s.AddApp(App{ClientID: "fed-app", Certificate: cert, Roles: []string{"SMTP.SendAsApp"},
		FederatedCredentials: []FederatedCredential{{Issuer: aksIssuer, Subject: podSubject}}})
	a, err := jwt.Sign(key, jwt.PS256, map[string]any{"x5t#S256": jwt.ThumbprintS256(cert)}, map[string]any{
		"iss": "fed-app", "sub": "fed-app", "aud": entraToken(s), "jti": "j1", "exp": s.Now().Add(5 * time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if r := post(t, s, entraToken(s), federatedForm("fed-app", "https://outlook.office365.com/.default", a)); r.status != http.StatusOK {
		t.Fatalf("certificate assertion: %d %s", r.status, r.raw)
	}
}

func TestGitHubActionsOIDCEndpoint(t *testing.T) {
	s := newServer(t)
	const subject = "repo:contoso/mailer:ref:refs/heads/main"
	reqURL, reqToken := s.NewIssuer(GitHubIssuer).GitHubActions(subject)
	get := func(u, bearer string) reply {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return readReply(t, resp)
	}
	r := get(reqURL+"&audience="+url.QueryEscape(TokenExchangeAudience), reqToken)
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	var c assertionClaims
	if err := jwt.Decode(r.str("value"), nil, &c); err != nil {
		t.Fatal(err)
	}
	if c.Iss != GitHubIssuer || c.Sub != subject || c.audiences()[0] != TokenExchangeAudience ||
		unixTime(c.Exp).Sub(unixTime(c.Iat)) != gitHubTokenLifetime {
		t.Fatalf("claims %+v", c)
	}
	if r := get(reqURL, reqToken); r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.raw)
	} else if err := jwt.Decode(r.str("value"), nil, &c); err != nil || c.audiences()[0] != "https://github.com/contoso" {
		t.Fatalf("default audience %v (%v)", c.Aud, err)
	}
	for _, bad := range []string{"", "wrong"} {
		if r := get(reqURL, bad); r.status != http.StatusUnauthorized {
			t.Errorf("bearer %q: %d %s", bad, r.status, r.raw)
		}
	}
	if s.Hits("github") != 4 {
		t.Errorf("Hits(github) = %d", s.Hits("github"))
	}

	federatedApp(s, FederatedCredential{Issuer: GitHubIssuer, Subject: subject})
	r = get(reqURL+"&audience="+url.QueryEscape(TokenExchangeAudience), reqToken)
	if a := post(t, s, entraToken(s), federatedForm("fed-app", "https://outlook.office365.com/.default", r.str("value"))); a.status != http.StatusOK {
		t.Fatalf("GitHub token as assertion: %d %s", a.status, a.raw)
	}
	s.Advance(gitHubTokenLifetime)
	a := post(t, s, entraToken(s), federatedForm("fed-app", "https://outlook.office365.com/.default", r.str("value")))
	wantEntraError(t, a, http.StatusUnauthorized, errInvalidClient, 700024)
}
