package providertest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/internal/jwt"
)

const (
	mailerSA   = "mailer@project.iam.gserviceaccount.com"
	deployerSA = "deployer@project.iam.gserviceaccount.com"
	cloudScope = "https://www.googleapis.com/auth/cloud-platform"
)

// iamServer has a delegating service account without a key and a caller allowed to sign as it.
func iamServer(t *testing.T) *Server {
	t.Helper()
	s := newServer(t)
	s.AddApp(App{ServiceAccountEmail: mailerSA, ClientID: "112233445566778899", DelegatedScopes: []string{googleMail}})
	s.AddApp(App{ServiceAccountEmail: deployerSA})
	s.AllowSignJWT(deployerSA, mailerSA)
	return s
}

// signJWT calls signJwt as caller (an access token) for account.
func signJWT(t *testing.T, s *Server, caller, account string, body any) reply {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/v1/projects/-/serviceAccounts/"+account+":signJwt", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if caller != "" {
		req.Header.Set("Authorization", "Bearer "+caller)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return readReply(t, resp)
}

func delegationPayload(s *Server, iss, sub string, life time.Duration) map[string]any {
	now := s.Now()
	c, _ := json.Marshal(map[string]any{"iss": iss, "sub": sub, "scope": googleMail, "aud": s.URL() + "/token",
		"iat": now.Unix(), "exp": now.Add(life).Unix()})
	return map[string]any{"payload": string(c)}
}

func callerToken(s *Server, email string, scopes ...string) string {
	if len(scopes) == 0 {
		scopes = []string{cloudScope}
	}
	return s.IssueToken(TokenSpec{Email: email, Scopes: scopes})
}

// wantGoogleAPIError checks status, status name and ErrorInfo reason.
func wantGoogleAPIError(t *testing.T, r reply, status int, name, reason string) {
	t.Helper()
	var body struct {
		Error struct {
			Code    int    `json:"code"`
			Status  string `json:"status"`
			Message string `json:"message"`
			Details []struct {
				Type   string `json:"@type"`
				Reason string `json:"reason"`
			} `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.raw), &body); err != nil {
		t.Fatalf("%d %s: %v", r.status, r.raw, err)
	}
	got := ""
	if len(body.Error.Details) > 0 {
		got = body.Error.Details[0].Reason
	}
	if r.status != status || body.Error.Code != status || body.Error.Status != name || got != reason || body.Error.Message == "" {
		t.Fatalf("got %d %s, want %d %s %s", r.status, r.raw, status, name, reason)
	}
}

func TestSignJWTAssertionIsAcceptedByTheJWTBearerGrant(t *testing.T) {
	s := iamServer(t)
	r := signJWT(t, s, callerToken(s, deployerSA), mailerSA, delegationPayload(s, mailerSA, "helpdesk@example.com", time.Hour))
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	hdr := map[string]any{}
	if err := jwt.Decode(r.str("signedJwt"), &hdr, nil); err != nil {
		t.Fatal(err)
	}
	if hdr["kid"] != r.str("keyId") || hdr["alg"] != jwt.RS256 || len(r.str("keyId")) != 40 {
		t.Fatalf("header %v, keyId %q", hdr, r.str("keyId"))
	}
	g := post(t, s, s.URL()+"/token", url.Values{"grant_type": {GrantJWTBearer}, "assertion": {r.str("signedJwt")}})
	if g.status != http.StatusOK {
		t.Fatalf("JWT-bearer grant: %d %s", g.status, g.raw)
	}
	if u, err := s.Verify(g.str("access_token")); err != nil || u != "helpdesk@example.com" {
		t.Fatalf("Verify = %q, %v", u, err)
	}
	if s.Hits("signjwt") != 1 {
		t.Errorf("Hits(signjwt) = %d", s.Hits("signjwt"))
	}
}

func TestSignJWTForOneAccountDoesNotSignForAnother(t *testing.T) {
	s := iamServer(t)
	s.AddApp(App{ServiceAccountEmail: "other@project.iam.gserviceaccount.com", DelegatedScopes: []string{googleMail}})
	// Signed with mailer's managed key, but claiming to be other.
	r := signJWT(t, s, callerToken(s, deployerSA), mailerSA,
		delegationPayload(s, "other@project.iam.gserviceaccount.com", "helpdesk@example.com", time.Hour))
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	g := post(t, s, s.URL()+"/token", url.Values{"grant_type": {GrantJWTBearer}, "assertion": {r.str("signedJwt")}})
	wantGoogleError(t, g, http.StatusBadRequest, errInvalidGrant, "Invalid JWT Signature.")
}

func TestSignJWTRefusals(t *testing.T) {
	s := iamServer(t)
	s.AddApp(App{ServiceAccountEmail: "hop@project.iam.gserviceaccount.com"})
	good := delegationPayload(s, mailerSA, "helpdesk@example.com", time.Hour)
	cases := []struct {
		name, caller, account string
		body                  any
		status                int
		code, reason          string
	}{
		{"no credential", "", mailerSA, good, 401, "UNAUTHENTICATED", "CREDENTIALS_MISSING"},
		{"not a token", "garbage", mailerSA, good, 401, "UNAUTHENTICATED", "ACCESS_TOKEN_TYPE_UNSUPPORTED"},
		{"no cloud-platform scope", s.IssueToken(TokenSpec{Email: deployerSA}), mailerSA, good, 403, "PERMISSION_DENIED", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"},
		{"no role", callerToken(s, "intern@example.com"), mailerSA, good, 403, "PERMISSION_DENIED", "IAM_PERMISSION_DENIED"},
		{"unknown account", callerToken(s, deployerSA), "ghost@project.iam.gserviceaccount.com", good, 403, "PERMISSION_DENIED", "IAM_PERMISSION_DENIED"},
		{"delegate without role", callerToken(s, deployerSA), mailerSA,
			map[string]any{"payload": good["payload"], "delegates": []string{"projects/-/serviceAccounts/hop@project.iam.gserviceaccount.com"}},
			403, "PERMISSION_DENIED", "IAM_PERMISSION_DENIED"},
		{"exp beyond 12 h", callerToken(s, deployerSA), mailerSA, delegationPayload(s, mailerSA, "a@example.com", 13*time.Hour), 400, "INVALID_ARGUMENT", ""},
		{"payload not JSON", callerToken(s, deployerSA), mailerSA, map[string]any{"payload": "nope"}, 400, "INVALID_ARGUMENT", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantGoogleAPIError(t, signJWT(t, s, tc.caller, tc.account, tc.body), tc.status, tc.code, tc.reason)
		})
	}
}

func TestSignJWTRefusesAnExpiredCallerToken(t *testing.T) {
	s := iamServer(t)
	tok := callerToken(s, deployerSA)
	s.Advance(2 * DefaultTokenLifetime)
	wantGoogleAPIError(t, signJWT(t, s, tok, mailerSA, delegationPayload(s, mailerSA, "a@example.com", time.Hour)),
		401, "UNAUTHENTICATED", "ACCESS_TOKEN_EXPIRED")
}

func TestSignJWTDelegationChainAndDisabledAPI(t *testing.T) {
	s := iamServer(t)
	hop := "hop@project.iam.gserviceaccount.com"
	s.AddApp(App{ServiceAccountEmail: hop})
	s.AllowSignJWT("ci@example.com", hop)
	s.AllowSignJWT(hop, mailerSA)
	body := delegationPayload(s, mailerSA, "helpdesk@example.com", time.Hour)
	body["delegates"] = []string{"projects/-/serviceAccounts/" + hop}
	if r := signJWT(t, s, callerToken(s, "ci@example.com"), mailerSA, body); r.status != http.StatusOK {
		t.Fatalf("chain: %d %s", r.status, r.raw)
	}
	s.SetIAMCredentialsAPI(false)
	wantGoogleAPIError(t, signJWT(t, s, callerToken(s, deployerSA), mailerSA, body), 403, "PERMISSION_DENIED", "SERVICE_DISABLED")
	s.SetIAMCredentialsAPI(true)
	s.FailSignJWT(1, ServerError(503))
	if r := signJWT(t, s, callerToken(s, deployerSA), mailerSA, delegationPayload(s, mailerSA, "a@example.com", time.Hour)); r.status != 503 {
		t.Fatalf("injected: %d", r.status)
	}
}
