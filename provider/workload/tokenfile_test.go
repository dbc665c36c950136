package workload_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/provider/workload"
)

func TestTokenFileRotatedMidRunIsPickedUp(t *testing.T) {
	idp := newIdP(t)
	trustingApp(idp, providertest.FederatedCredential{Issuer: aksIssuer, Subject: podSubject})
	cluster := idp.NewIssuer(aksIssuer)
	path := filepath.Join(t.TempDir(), "azure-identity-token")
	first := cluster.Token(podSubject, providertest.TokenExchangeAudience, time.Hour)
	writeAtomically(t, path, first)

	file := &workload.TokenFile{Path: path, Clock: idp}
	ctx := context.Background()
	tokens := auth.NewSource(auth.RefreshFunc(func(ctx context.Context, _ *oauth2.Token) (*oauth2.Token, error) {
		return exchangeAssertion(ctx, idp, file, exchange)
	}), &auth.SourceOptions{Clock: idp, Margin: -1})
	tok, err := tokens.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := idp.VerifySASL(helpdesk, tok.AccessToken); err != nil {
		t.Fatal(err)
	}

	// Seventy minutes on: the first token and the access token have expired; the kubelet renewed the
	// file at 80 % of the token's life.
	idp.Advance(48 * time.Minute)
	second := cluster.Token(podSubject, providertest.TokenExchangeAudience, time.Hour)
	writeAtomically(t, path, second)
	idp.Advance(22 * time.Minute)
	tok2, err := tokens.Token(ctx)
	if err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if tok2.AccessToken == tok.AccessToken || idp.VerifySASL(helpdesk, tok2.AccessToken) != nil {
		t.Fatal("no new access token after the rotation")
	}
	if n := idp.Requests("client_credentials"); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}
	if got, err := file.Token(ctx, ""); err != nil || got.AccessToken != second || !got.Expiry.Equal(time.Unix(idp.Now().Add(38*time.Minute).Unix(), 0)) {
		t.Errorf("the file reads %v (expiry %v), want the second token", err, got)
	}
}

func TestTokenFileThatWasNotRenewedIsExpired(t *testing.T) {
	idp := newIdP(t)
	path := filepath.Join(t.TempDir(), "token")
	stale := idp.NewIssuer(aksIssuer).Token(podSubject, providertest.TokenExchangeAudience, time.Hour)
	writeAtomically(t, path, stale)
	idp.Advance(time.Hour)
	_, err := (&workload.TokenFile{Path: path, Clock: idp}).Token(context.Background(), "")
	we := wantError(t, err, workload.ReasonExpired)
	if we.Endpoint != path || !strings.Contains(err.Error(), "projected service-account token") {
		t.Errorf("error %v", err)
	}
	noSecret(t, errorTexts(err), stale)
}

func TestTokenFileReadsTheVariableEachTime(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	writeAtomically(t, a, "opaque-a")
	writeAtomically(t, b, "opaque-b")
	e := newEnv("AZURE_FEDERATED_TOKEN_FILE", a)
	file := &workload.TokenFile{Getenv: e.get}
	if tok, err := file.Token(context.Background(), ""); err != nil || tok.AccessToken != "opaque-a" || !tok.Expiry.IsZero() {
		t.Fatalf("%v %v: an opaque token has no expiry", tok, err)
	}
	e.set("AZURE_FEDERATED_TOKEN_FILE", b)
	if tok, err := file.Token(context.Background(), ""); err != nil || tok.AccessToken != "opaque-b" {
		t.Fatalf("%v %v", tok, err)
	}
	e.set("AZURE_FEDERATED_TOKEN_FILE", "")
	_, err := file.Token(context.Background(), "")
	var ce *provider.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(ce.Reason, "AZURE_FEDERATED_TOKEN_FILE") {
		t.Fatalf("err = %v", err)
	}
}

func TestTokenFileErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	writeAtomically(t, empty, "  ")
	huge := filepath.Join(dir, "huge")
	secret := strings.Repeat("s3cretpart", 7000)
	if err := os.WriteFile(huge, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "missing"), empty, huge, dir} {
		_, err := (&workload.TokenFile{Path: path}).Token(context.Background(), "")
		we := wantError(t, err, workload.ReasonTokenFile)
		if we.Endpoint != path || we.Err == nil {
			t.Errorf("%s: %+v", path, we)
		}
		noSecret(t, errorTexts(err), "s3cretpart")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (&workload.TokenFile{Path: empty}).Token(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestReadAzureEnvironment(t *testing.T) {
	full := []string{"AZURE_CLIENT_ID", clientID, "AZURE_TENANT_ID", providertest.DefaultTenant,
		"AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com/", "AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/azure/tokens/azure-identity-token"}
	got, err := workload.ReadAzureEnvironment(newEnv(full...).get)
	if err != nil {
		t.Fatal(err)
	}
	if got.ClientID != clientID || got.TenantID != providertest.DefaultTenant || got.AuthorityHost != "https://login.microsoftonline.com" ||
		got.TokenFile.Path != "/var/run/secrets/azure/tokens/azure-identity-token" {
		t.Fatalf("%+v", got)
	}
	withoutHost := append([]string(nil), full...)
	withoutHost[5] = ""
	if got, err := workload.ReadAzureEnvironment(newEnv(withoutHost...).get); err != nil || got.AuthorityHost != "" {
		t.Errorf("no authority host: %+v %v", got, err)
	}
	for i := 0; i < len(full); i += 2 {
		broken := append([]string(nil), full...)
		want := broken[i]
		if want == "AZURE_AUTHORITY_HOST" {
			broken[i+1] = "http://login.example.com"
		} else {
			broken[i+1] = ""
		}
		_, err := workload.ReadAzureEnvironment(newEnv(broken...).get)
		var ce *provider.ConfigError
		if !errors.As(err, &ce) || ce.Field != want || !strings.Contains(ce.Reason, want) {
			t.Errorf("%s: err = %v", want, err)
		}
		if d := provider.Diagnose(err); d == nil || d.Kind != provider.Misconfigured {
			t.Errorf("%s: diagnosis %v", want, d)
		}
	}
}

func TestFuncSource(t *testing.T) {
	idp := newIdP(t)
	trustingApp(idp, providertest.FederatedCredential{Issuer: aksIssuer, Subject: podSubject})
	cluster := idp.NewIssuer(aksIssuer)
	src := workload.Func(func(context.Context) (string, error) {
		return " " + cluster.Token(podSubject, providertest.TokenExchangeAudience, 10*time.Minute) + "\n", nil
	})
	tok, err := exchangeAssertion(context.Background(), idp, src, graph)
	if err != nil {
		t.Fatal(err)
	}
	if err := idp.VerifyGraph(helpdesk, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	if a, _ := src.Token(context.Background(), ""); !a.Expiry.Equal(time.Unix(idp.Now().Add(10*time.Minute).Unix(), 0)) {
		t.Errorf("expiry %v from the exp claim", a.Expiry)
	}

	boom := errors.New("vault sealed")
	if _, err := workload.Func(func(context.Context) (string, error) { return "", boom }).Token(context.Background(), ""); !errors.Is(err, boom) {
		t.Errorf("err = %v", err)
	}
	_, err = workload.Func(func(context.Context) (string, error) { return " ", nil }).Token(context.Background(), "")
	wantError(t, err, workload.ReasonBadAnswer)
	var nilFunc workload.Func
	if _, err := nilFunc.Token(context.Background(), ""); err == nil {
		t.Error("a nil Func gave a token")
	}
}
