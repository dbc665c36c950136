package google_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/internal/leaktest"
	"github.com/mailoauth/mailoauth/provider/google"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// TestNoSecretInWhatATokenEndpointEchoes: whatever Google's token endpoint
// sends back, no secret of the request (the service account's assertion,
// the client secret, the refresh token, the authorization code, the PKCE
// verifier) appears in the error, the wrapped *oauth2.RetrieveError, the
// diagnosis, the browser's page or the log.
func TestNoSecretInWhatATokenEndpointEchoes(t *testing.T) {
	keyJSON, _ := serviceAccountKeyFile(t)
	client := []byte(`{"installed":{"client_id":"desk.apps.googleusercontent.com","client_secret":"GOCSPX-desk-secret-value"}}`)
	grants := []struct {
		name string
		run  func(t *testing.T, cfg google.Config) (string, error)
	}{
		{"service account", func(t *testing.T, cfg google.Config) (string, error) {
			cfg.ServiceAccountKey = keyJSON
			_, err := google.ServiceAccount(context.Background(), cfg)
			return "", err
		}},
		{"refresh token", func(t *testing.T, cfg google.Config) (string, error) {
			cfg.ClientJSON = client
			store := tokenstore.NewMemory()
			if err := store.Save(context.Background(), cfg.Key(), &tokenstore.Record{Token: &oauth2.Token{
				AccessToken: "old", RefreshToken: "1//refresh-token-of-bob-0123456789", Expiry: time.Now().Add(-time.Hour)}}); err != nil {
				t.Fatal(err)
			}
			_, err := google.Delegated(context.Background(), cfg, store)
			return "", err
		}},
		{"loopback authorization code", func(t *testing.T, cfg google.Config) (string, error) {
			cfg.ClientJSON = client
			var page string
			_, err := google.AuthorizeLoopback(context.Background(), cfg, tokenstore.NewMemory(), func(authURL string) error {
				u, err := url.Parse(authURL)
				if err != nil {
					return err
				}
				q := u.Query()
				back := q.Get("redirect_uri") + "?" + url.Values{"state": {q.Get("state")}, "code": {"4/0AVG7fiQ-code-from-google-0123"}}.Encode()
				resp, err := http.Get(back)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				var b strings.Builder
				_, _ = io.Copy(&b, resp.Body)
				page = b.String()
				return nil
			})
			return page, err
		}},
	}
	for _, g := range grants {
		for _, mode := range leaktest.Modes {
			t.Run(g.name+"/"+mode.String(), func(t *testing.T) {
				echo := leaktest.NewEcho(t, mode)
				logs := &leaktest.Logs{}
				cfg := google.Config{Mailbox: "bob@example.com", BaseURL: echo.URL, HTTPClient: echo.Client(),
					Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
				page, err := g.run(t, cfg)
				secrets := echo.Secrets()
				leaktest.CheckError(t, err, secrets)
				leaktest.Check(t, "log", logs.String(), secrets)
				if page != "" {
					leaktest.Check(t, "browser page", leaktest.Page(page), secrets)
				}
			})
		}
	}
}

// TestOneShotCallsReportOnce: a service account or a grant refused at
// start-up fails ServiceAccount or Delegated with one error that promises
// no retry, and no log line repeats it.
func TestOneShotCallsReportOnce(t *testing.T) {
	keyJSON, _ := serviceAccountKeyFile(t)
	for name, call := range map[string]func(cfg google.Config) error{
		"service account": func(cfg google.Config) error {
			cfg.ServiceAccountKey = keyJSON
			_, err := google.ServiceAccount(context.Background(), cfg)
			return err
		},
		"delegated first token": func(cfg google.Config) error {
			cfg.ClientJSON = []byte(`{"installed":{"client_id":"desk.apps.googleusercontent.com"}}`)
			store := tokenstore.NewMemory()
			if err := store.Save(context.Background(), cfg.Key(), &tokenstore.Record{Token: &oauth2.Token{
				AccessToken: "old", RefreshToken: "1//revoked", Expiry: time.Now().Add(-time.Hour)}}); err != nil {
				return err
			}
			_, err := google.Delegated(context.Background(), cfg, store)
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			echo := leaktest.NewEcho(t, leaktest.ErrorJSON)
			logs := &leaktest.Logs{}
			err := call(google.Config{Mailbox: "bob@example.com", BaseURL: echo.URL, HTTPClient: echo.Client(),
				Logger: slog.New(slog.NewTextHandler(logs, nil))})
			if err == nil {
				t.Fatal("no error")
			}
			for _, promise := range []string{"in a row", "next attempt"} {
				if strings.Contains(err.Error(), promise) {
					t.Errorf("the error promises a further attempt (%q): %v", promise, err)
				}
			}
			if l := logs.String(); l != "" {
				t.Errorf("the failure is logged as well as returned:\n%s", l)
			}
		})
	}
}
