package providertest

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func deviceServer(t *testing.T) *Server {
	t.Helper()
	s := newServer(t)
	s.AddApp(App{ClientID: "cli", Public: true})
	return s
}

func startEntraDevice(t *testing.T, s *Server) reply {
	t.Helper()
	r := post(t, s, s.URL()+"/"+DefaultTenant+"/oauth2/v2.0/devicecode", url.Values{"client_id": {"cli"}, "scope": {mailScopes}})
	if r.status != 200 {
		t.Fatalf("devicecode: %d %s", r.status, r.raw)
	}
	return r
}

func pollEntra(t *testing.T, s *Server, deviceCode string) reply {
	t.Helper()
	return post(t, s, entraToken(s), url.Values{"grant_type": {GrantDeviceCode}, "client_id": {"cli"}, "device_code": {deviceCode}})
}

func TestEntraDeviceCodeEveryState(t *testing.T) {
	s := deviceServer(t)
	s.SignIn("alice@example.com")
	d := startEntraDevice(t, s)
	for _, k := range []string{"user_code", "device_code", "verification_uri", "message"} {
		if d.str(k) == "" {
			t.Errorf("devicecode response lacks %s: %s", k, d.raw)
		}
	}
	if d.json["expires_in"] != float64(900) || d.json["interval"] != float64(5) {
		t.Errorf("expires_in/interval = %v/%v", d.json["expires_in"], d.json["interval"])
	}
	if _, ok := d.json["verification_uri_complete"]; ok {
		t.Error("Entra does not send verification_uri_complete")
	}
	if !strings.Contains(d.str("message"), d.str("user_code")) || !strings.HasSuffix(d.str("verification_uri"), "/devicelogin") {
		t.Errorf("message/uri: %s", d.raw)
	}
	if codes := s.DeviceCodes(); len(codes) != 1 || codes[0] != d.str("user_code") {
		t.Fatalf("DeviceCodes = %v", codes)
	}
	dc := d.str("device_code")

	wantEntraError(t, pollEntra(t, s, dc), 400, "authorization_pending", 70016)
	// Polled again at once: slow down.
	if r := pollEntra(t, s, dc); r.status != 400 || r.str("error") != "slow_down" {
		t.Fatalf("fast poll: %d %s", r.status, r.raw)
	}
	s.Advance(5 * time.Second)
	wantEntraError(t, pollEntra(t, s, dc), 400, "authorization_pending", 70016)

	if err := s.ApproveDevice(strings.ToLower(d.str("user_code"))); err != nil {
		t.Fatal(err)
	}
	s.Advance(5 * time.Second)
	r := pollEntra(t, s, dc)
	if r.status != 200 || r.str("refresh_token") == "" {
		t.Fatalf("after approval: %d %s", r.status, r.raw)
	}
	if u, err := s.Verify(r.str("access_token")); err != nil || u != "alice@example.com" {
		t.Fatalf("Verify = %q, %v", u, err)
	}
	s.Advance(5 * time.Second)
	wantEntraError(t, pollEntra(t, s, dc), 400, "invalid_grant", 90120)
	if err := s.ApproveDevice(d.str("user_code")); !errors.Is(err, ErrDeviceDecided) {
		t.Errorf("second approval: %v", err)
	}
	if s.Requests("device_code") != 5 {
		t.Errorf("Requests(device_code) = %d, want 5", s.Requests("device_code"))
	}
}

func TestEntraDeviceDeclinedExpiredUnknown(t *testing.T) {
	s := deviceServer(t)
	declined := startEntraDevice(t, s)
	if err := s.DeclineDevice(declined.str("user_code")); err != nil {
		t.Fatal(err)
	}
	wantEntraError(t, pollEntra(t, s, declined.str("device_code")), 400, "authorization_declined", 70000)

	expiring := startEntraDevice(t, s)
	if err := s.ApproveDevice(expiring.str("user_code")); !errors.Is(err, ErrNotSignedIn) {
		t.Errorf("approve without sign-in: %v", err)
	}
	s.Advance(DefaultDeviceExpiry)
	wantEntraError(t, pollEntra(t, s, expiring.str("device_code")), 400, "expired_token", 70019)
	s.SignIn("alice@example.com")
	if err := s.ApproveDevice(expiring.str("user_code")); !errors.Is(err, ErrDeviceExpired) {
		t.Errorf("approve expired: %v", err)
	}

	wantEntraError(t, pollEntra(t, s, "no-such-code"), 400, "bad_verification_code", 70018)
	if err := s.ApproveDevice("NOPE-NOPE"); !errors.Is(err, ErrUnknownUserCode) {
		t.Errorf("approve unknown: %v", err)
	}
}

func TestDeviceIntervalSetting(t *testing.T) {
	s := deviceServer(t)
	s.SetDeviceInterval(1500 * time.Millisecond)
	s.SetDeviceExpiry(time.Minute)
	d := startEntraDevice(t, s)
	if d.json["interval"] != float64(2) || d.json["expires_in"] != float64(60) {
		t.Fatalf("interval/expires_in = %v/%v", d.json["interval"], d.json["expires_in"])
	}
	pollEntra(t, s, d.str("device_code"))
	s.Advance(1500 * time.Millisecond)
	wantEntraError(t, pollEntra(t, s, d.str("device_code")), 400, "authorization_pending", 70016)
}

func TestEntraDeviceConfidentialClientNeedsCredential(t *testing.T) {
	s := newServer(t)
	s.AddApp(App{ClientID: "conf", Secret: "pw"})
	d := post(t, s, s.URL()+"/"+DefaultTenant+"/oauth2/v2.0/devicecode", url.Values{"client_id": {"conf"}, "scope": {mailScopes}})
	r := post(t, s, entraToken(s), url.Values{"grant_type": {GrantDeviceCode}, "client_id": {"conf"}, "device_code": {d.str("device_code")}})
	wantEntraError(t, r, 401, "invalid_client", 7000218)
	r = post(t, s, entraToken(s), url.Values{"grant_type": {GrantDeviceCode}, "client_id": {"conf"}, "client_secret": {"pw"}, "device_code": {d.str("device_code")}})
	wantEntraError(t, r, 400, "authorization_pending", 70016)
}
