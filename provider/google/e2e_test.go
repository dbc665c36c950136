package google_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/google"
	"github.com/mailoauth/mailoauth/provider/oauth"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/tokenstore"
)

const saEmail = "mailer@example-project.iam.gserviceaccount.com"

var (
	saKeyOnce sync.Once
	saKey     *rsa.PrivateKey
)

// serviceAccountKeyFile returns a key file as Google Cloud console writes
// it, and the key in it.
func serviceAccountKeyFile(t testing.TB) ([]byte, *rsa.PrivateKey) {
	t.Helper()
	saKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		saKey = k
	})
	der, err := x509.MarshalPKCS8PrivateKey(saKey)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "example-project",
		"private_key_id": "0123abcd",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   saEmail,
		"client_id":      "104857600000000000001",
		"token_uri":      "https://oauth2.googleapis.com/token",
	})
	return b, saKey
}

func TestE2EServiceAccount(t *testing.T) {
	idp := providertest.New()
	defer idp.Close()
	keyJSON, key := serviceAccountKeyFile(t)
	idp.AddApp(providertest.App{ServiceAccountEmail: saEmail, ServiceAccountKey: &key.PublicKey, DelegatedScopes: []string{google.ScopeMail}})

	mb, err := google.ServiceAccount(context.Background(), google.Config{ServiceAccountKey: keyJSON, Mailbox: "helpdesk@example.com", BaseURL: idp.URL(), HTTPClient: idp.Client()})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := mb.Tokens.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if user, err := idp.Verify(tok.AccessToken); err != nil || user != "helpdesk@example.com" {
		t.Errorf("Verify = %q, %v", user, err)
	}
	if n := idp.Requests("jwt-bearer"); n != 1 {
		t.Errorf("jwt-bearer requests = %d, want 1 (the token is cached)", n)
	}

	// The admin allowed only the mail scope: asking for imap_admin too is
	// refused with unauthorized_client, and Diagnose says what to fix.
	_, err = google.ServiceAccount(context.Background(), google.Config{ServiceAccountKey: keyJSON, Mailbox: "helpdesk@example.com", BaseURL: idp.URL(), HTTPClient: idp.Client(), Scopes: []string{google.ScopeMail, google.ScopeIMAPAdmin}})
	var te *oauth.TokenError
	if !errors.As(err, &te) || te.Code() != "unauthorized_client" {
		t.Fatalf("err = %v, want unauthorized_client", err)
	}
	d := provider.Diagnose(err)
	if d == nil || d.Kind != provider.Misconfigured || !strings.Contains(d.Fix, "elegation") {
		t.Errorf("diagnosis %+v", d)
	}

	// Once the admin allows it, the same call works.
	idp.AddApp(providertest.App{ServiceAccountEmail: saEmail, ServiceAccountKey: &key.PublicKey,
		DelegatedScopes: []string{google.ScopeMail, google.ScopeIMAPAdmin}})
	if _, err := google.ServiceAccount(context.Background(), google.Config{ServiceAccountKey: keyJSON, Mailbox: "helpdesk@example.com", BaseURL: idp.URL(), HTTPClient: idp.Client(), Scopes: []string{google.ScopeMail, google.ScopeIMAPAdmin}}); err != nil {
		t.Fatal(err)
	}
}

func TestE2EServiceAccountWrongKey(t *testing.T) {
	idp := providertest.New()
	defer idp.Close()
	keyJSON, _ := serviceAccountKeyFile(t)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	idp.AddApp(providertest.App{ServiceAccountEmail: saEmail, ServiceAccountKey: &other.PublicKey, DelegatedScopes: []string{google.ScopeMail}})
	_, err = google.ServiceAccount(context.Background(), google.Config{ServiceAccountKey: keyJSON, Mailbox: "helpdesk@example.com", BaseURL: idp.URL(), HTTPClient: idp.Client()})
	var te *oauth.TokenError
	if !errors.As(err, &te) || te.Code() != "invalid_grant" {
		t.Fatalf("err = %v, want invalid_grant", err)
	}
}

const (
	webClient = "web-123.apps.googleusercontent.com"
	webSecret = "GOCSPX-web-secret"
)

func webClientFile(redirect string) []byte {
	b, _ := json.Marshal(map[string]any{"web": map[string]any{
		"client_id": webClient, "client_secret": webSecret, "project_id": "p",
		"auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": "https://oauth2.googleapis.com/token",
		"redirect_uris": []string{redirect},
	}})
	return b
}

// TestE2EDelegatedAuthorizeThenRefresh authorizes through the handlers
// with a real browser-like client, then lets the access token expire and
// checks the refresh (Google does not rotate refresh tokens; the saving of
// a rotated one is covered in TestDelegatedRefreshesAndSavesRotation and
// provider's TestE2ERefreshWithRotation) and a revoked grant.
func TestE2EDelegatedAuthorizeThenRefresh(t *testing.T) {
	idp := providertest.New()
	defer idp.Close()
	mux := http.NewServeMux()
	app := httptest.NewServer(mux)
	defer app.Close()
	idp.AddApp(providertest.App{ClientID: webClient, Secret: webSecret, RedirectURIs: []string{app.URL + "/oauth2callback"}})
	idp.SignIn("bob@example.com")

	store := tokenstore.NewMemory()
	cfg := google.Config{ClientJSON: webClientFile(app.URL + "/oauth2callback"), Mailbox: "bob@example.com",
		BaseURL: idp.URL(), HTTPClient: idp.Client(), Clock: idp}
	flow, err := google.NewAuthCodeFlow(cfg, store, app.URL+"/oauth2callback")
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/authorize", flow.StartHandler())
	mux.Handle("/oauth2callback", flow.CallbackHandler())

	jar, _ := cookiejar.New(nil)
	browser := *idp.Client()
	browser.Jar = jar
	resp, err := browser.Get(app.URL + "/authorize")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Mailbox authorized") {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	first, err := store.Load(context.Background(), cfg.Key())
	if err != nil || first.Token.RefreshToken == "" {
		t.Fatalf("grant %+v, %v (access_type=offline and prompt=consent must bring a refresh token)", first, err)
	}

	mb, err := google.Delegated(context.Background(), cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	if n := idp.Requests("refresh_token"); n != 0 {
		t.Errorf("a fresh grant was refreshed (%d requests)", n)
	}
	idp.Advance(2 * time.Hour) // the access token expires
	tok, err := mb.Tokens.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if user, err := idp.Verify(tok.AccessToken); err != nil || user != "bob@example.com" {
		t.Errorf("Verify = %q, %v", user, err)
	}
	second, err := store.Load(context.Background(), cfg.Key())
	if err != nil {
		t.Fatal(err)
	}
	if idp.Requests("refresh_token") != 1 || second.Token.RefreshToken != first.Token.RefreshToken ||
		second.Token.AccessToken == first.Token.AccessToken || second.Version <= first.Version {
		t.Errorf("refresh not saved as expected: requests %d, versions %d -> %d", idp.Requests("refresh_token"), first.Version, second.Version)
	}

	// The user revokes access: the next refresh fails with invalid_grant,
	// and Diagnose asks for a new authorization.
	idp.RevokeGrant(first.Token.RefreshToken)
	idp.Advance(2 * time.Hour)
	_, err = mb.Tokens.Token(context.Background())
	var te *oauth.TokenError
	if !errors.As(err, &te) || te.Code() != "invalid_grant" {
		t.Fatalf("err = %v, want invalid_grant after revocation", err)
	}
	if d := provider.Diagnose(err); d == nil || d.Kind != provider.Reauthorize {
		t.Errorf("diagnosis %+v", d)
	}
}

func TestE2EAuthorizeLoopback(t *testing.T) {
	idp := providertest.New()
	defer idp.Close()
	idp.AddApp(providertest.App{ClientID: "desk.apps.googleusercontent.com", Secret: "GOCSPX-d", RedirectURIs: []string{"http://127.0.0.1"}})
	idp.SignIn("carol@example.com")
	store := tokenstore.NewMemory()
	cfg := google.Config{
		ClientJSON: []byte(`{"installed":{"client_id":"desk.apps.googleusercontent.com","client_secret":"GOCSPX-d","redirect_uris":["http://localhost"]}}`),
		Mailbox:    "carol@example.com", BaseURL: idp.URL(), HTTPClient: idp.Client(),
	}
	rec, err := google.AuthorizeLoopback(context.Background(), cfg, store, func(authURL string) error {
		resp, err := idp.Client().Get(authURL) // follows the redirect to 127.0.0.1
		if err != nil {
			return err
		}
		return resp.Body.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Token.RefreshToken == "" || rec.Account != "carol@example.com" {
		t.Errorf("record %+v", rec)
	}
	mb, err := google.Delegated(context.Background(), cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := mb.Tokens.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if user, err := idp.Verify(tok.AccessToken); err != nil || user != "carol@example.com" {
		t.Errorf("Verify = %q, %v", user, err)
	}
}
