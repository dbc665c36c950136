package entra_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/oauth"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// TestTokenLifetimeMustBeFinite: an expires_in that is not a finite,
// plausible number of seconds is refused with a *oauth.ResponseError; it
// never yields a token that does not expire.
func TestTokenLifetimeMustBeFinite(t *testing.T) {
	for _, expiresIn := range []string{`"NaN"`, `"nan"`, `"Inf"`, `"+Inf"`, `"-Inf"`, `"Infinity"`, `1e400`, `"1e400"`,
		`-1`, `"-3600"`, `1e12`, `9223372036854775807`, `3600.5`, `"soon"`, `true`, `[3600]`} {
		t.Run(expiresIn, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"access_token":"AT-forever","token_type":"Bearer","expires_in":%s}`, expiresIn)
			}))
			defer srv.Close()
			cfg := serverConfig(srv, io.Discard)
			cfg.ClientSecret = testSecret
			mb, err := entra.ClientCredentials(context.Background(), cfg)
			var re *oauth.ResponseError
			require.True(t, errors.As(err, &re), "expires_in %s: err = %v, mailbox %v", expiresIn, err, mb)
			assert.Contains(t, re.Reason, "expires_in")
		})
	}
}

// TestOneShotCallsReportOnce: a configuration refused at start-up fails
// ClientCredentials and Delegated with one error that promises no retry,
// and no WARN line repeats it.
func TestOneShotCallsReportOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		call func(e *env, cfg entra.Config) error
	}{
		{"client credentials", func(e *env, cfg entra.Config) error {
			cfg.ClientSecret = "the wrong secret value"
			_, err := entra.ClientCredentials(context.Background(), cfg)
			return err
		}},
		{"delegated first token", func(e *env, cfg entra.Config) error {
			store := tokenstore.NewMemory()
			if err := store.Save(context.Background(), cfg.Key(), &tokenstore.Record{
				Token: &oauth2.Token{AccessToken: "old", RefreshToken: "not-a-refresh-token-of-this-idp", Expiry: e.srv.Now().Add(-time.Hour)}}); err != nil {
				return err
			}
			_, err := entra.Delegated(context.Background(), cfg, store)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.srv.AddApp(providertest.App{ClientID: testClientID, Secret: testSecret, Roles: []string{"SMTP.SendAsApp"}})
			cfg := e.cfg
			if tc.name != "client credentials" {
				cfg.ClientSecret = testSecret
			}
			err := tc.call(e, cfg)
			require.Error(t, err)
			for _, promise := range []string{"in a row", "next attempt"} {
				assert.NotContains(t, err.Error(), promise, "a one-shot call promises no further attempt")
			}
			for _, rec := range e.logs.records(t, slog.LevelWarn) {
				t.Errorf("a log line repeats the error returned: %s", rec)
			}
		})
	}
}
