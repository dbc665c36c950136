package oauth

import (
	"context"
	"strings"
	"testing"

	"github.com/mailoauth/mailoauth/provider"
)

// TestDeviceAuthorizationErrorsNameTheirEndpoint: an answer of the device
// authorization endpoint is never called the token endpoint's, in the
// error or in its diagnosis, and the diagnosis of a refused client there
// does not send the operator to make a new secret.
func TestDeviceAuthorizationErrorsNameTheirEndpoint(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
	}{
		{401, `{"error":"invalid_client","error_description":"client authentication failed"}`},
		{503, `{"error":"temporarily_unavailable"}`},
		{200, `not json`},
	} {
		ts := newTokenServer(t, tc.status, tc.body)
		_, err := ts.endpoint(ClientSecretPost("right-secret")).DeviceAuth(context.Background(), ts.URL+"/device", []string{"mail"})
		if err == nil {
			t.Fatalf("HTTP %d: no error", tc.status)
		}
		if msg := err.Error(); !strings.Contains(msg, "device authorization endpoint "+ts.URL+"/device") || strings.Contains(msg, "token endpoint") {
			t.Errorf("HTTP %d: %q does not name the device authorization endpoint, or names the token endpoint", tc.status, msg)
		}
		d := provider.Diagnose(err)
		if d == nil {
			t.Fatalf("HTTP %d: no diagnosis for %v", tc.status, err)
		}
		if !strings.Contains(d.Summary, "device authorization endpoint") {
			t.Errorf("HTTP %d: the diagnosis does not say which endpoint answered: %v", tc.status, d)
		}
		if tc.status == 401 && strings.Contains(strings.ToLower(d.Fix), "new secret") {
			t.Errorf("the device endpoint's invalid_client advises a new secret: %v", d)
		}
	}
}
