package providertest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestInformationPages(t *testing.T) {
	s := newServer(t)
	for _, p := range []string{"/devicelogin", "/device", "/error?code=50011"} {
		resp, err := s.Client().Get(s.URL() + p)
		if err != nil {
			t.Fatal(err)
		}
		r := readReply(t, resp)
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %q", p, r.status, r.header.Get("Content-Type"))
		}
	}
	resp, err := s.Client().Get(s.URL() + "/error?code=x")
	if err != nil {
		t.Fatal(err)
	}
	if r := readReply(t, resp); r.status != 400 {
		t.Errorf("/error without a number: %d", r.status)
	}
}

func TestPublicClientCannotUseClientCredentials(t *testing.T) {
	s := newServer(t)
	s.AddApp(App{ClientID: "cli", Public: true})
	r := post(t, s, entraToken(s), url.Values{"grant_type": {"client_credentials"}, "client_id": {"cli"},
		"scope": {"https://outlook.office365.com/.default"}})
	wantEntraError(t, r, 401, "invalid_client", 7000218)
}

// Hostile or broken requests get a 4xx answer on every route, never a 5xx or a hang.
func TestBadRequestsGet4xx(t *testing.T) {
	s := newServer(t)
	s.AddApp(App{ClientID: "app", Secret: "pw", RedirectURIs: []string{testRedirect}})
	huge := "grant_type=client_credentials&x=" + strings.Repeat("a", maxFormBytes+10)
	routes := []string{entraToken(s), s.URL() + "/token", s.URL() + "/" + DefaultTenant + "/oauth2/v2.0/devicecode",
		s.URL() + "/device/code", s.URL() + "/introspect", s.URL() + "/revoke"}
	bodies := []string{"", huge, "%zz=%%", "grant_type=refresh_token&refresh_token=\x00\xff", "token=a.b.c&token=d"}
	for _, u := range routes {
		for _, b := range bodies {
			req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(b))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := s.Client().Do(req)
			if err != nil {
				t.Fatalf("%s: %v", u, err)
			}
			r := readReply(t, resp)
			if strings.HasSuffix(u, "/introspect") && r.raw == `{"active":false}` {
				continue // RFC 7662: an unknown token is inactive, not an error
			}
			if r.status < 400 || r.status > 499 {
				t.Errorf("%s with %.20q: %d %.200s", u, b, r.status, r.raw)
			}
		}
	}
	for _, u := range []string{s.URL() + "/" + DefaultTenant + "/oauth2/v2.0/authorize?%zz", s.URL() + "/o/oauth2/v2/auth?client_id=" + url.QueryEscape("\x00")} {
		resp, err := noRedirect(s).Get(u)
		if err != nil {
			t.Fatal(err)
		}
		if r := readReply(t, resp); r.status < 400 || r.status > 499 {
			t.Errorf("%s: %d", u, r.status)
		}
	}
}
