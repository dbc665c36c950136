package workload_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/provider/workload"
)

const (
	clientID    = "3f1c0d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
	helpdesk    = "helpdesk@example.com"
	exchange    = "https://outlook.office365.com"
	graph       = "https://graph.microsoft.com"
	aksIssuer   = "https://eastus.oic.prod-aks.azure.com/tenant/cluster/"
	podSubject  = "system:serviceaccount:mail:sender"
	repoSubject = "repo:contoso/mailer:environment:production"
)

func newIdP(t *testing.T) *providertest.Server {
	t.Helper()
	idp := providertest.New()
	t.Cleanup(idp.Close)
	return idp
}

// trustingApp registers the app registration that trusts creds, with the Exchange and Graph
// permissions on the helpdesk mailbox.
func trustingApp(idp *providertest.Server, creds ...providertest.FederatedCredential) {
	idp.AddApp(providertest.App{ClientID: clientID, Roles: []string{"SMTP.SendAsApp", "IMAP.AccessAsApp", "Mail.Send"},
		Mailboxes: []string{helpdesk}, FederatedCredentials: creds})
}

// exchangeAssertion is what entra does with a Source: a new federated token as the client assertion
// of each client credentials request.
func exchangeAssertion(ctx context.Context, idp *providertest.Server, src workload.Source, resource string) (*oauth2.Token, error) {
	a, err := src.Token(ctx, workload.AzureADTokenExchange)
	if err != nil {
		return nil, err
	}
	cfg := clientcredentials.Config{ClientID: clientID, Scopes: []string{resource + "/.default"},
		TokenURL:  idp.URL() + "/" + providertest.DefaultTenant + "/oauth2/v2.0/token",
		AuthStyle: oauth2.AuthStyleInParams,
		EndpointParams: url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion": {a.AccessToken}}}
	tok, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, idp.Client()))
	if err != nil {
		return nil, err
	}
	// x/oauth2 dates the expiry by the real clock; the test runs on the server's.
	secs, _ := tok.Extra("expires_in").(float64)
	tok.Expiry = idp.Now().Add(time.Duration(secs) * time.Second)
	return tok, nil
}

// env is a Getenv over a map that a test may change while sources read it.
type env struct {
	mu   sync.Mutex
	vars map[string]string
}

func newEnv(kv ...string) *env {
	e := &env{vars: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		e.vars[kv[i]] = kv[i+1]
	}
	return e
}

func (e *env) get(k string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.vars[k]
}

func (e *env) set(k, v string) {
	e.mu.Lock()
	e.vars[k] = v
	e.mu.Unlock()
}

// writeAtomically replaces a file's content in one step, as the kubelet swaps a projected token.
func writeAtomically(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// noSecret fails when any form of err (or a log) shows one of the secrets.
func noSecret(t *testing.T, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("secret %.12s... appears in %q", s, text)
		}
	}
}

func errorTexts(err error) string {
	return fmt.Sprintf("%v | %+v | %#v", err, err, err)
}

// wantError asserts a *workload.Error with reason and returns it.
func wantError(t *testing.T, err error, reason workload.Reason) *workload.Error {
	t.Helper()
	var we *workload.Error
	if !errors.As(err, &we) {
		t.Fatalf("err = %v (%T), want a *workload.Error", err, err)
	}
	if we.Reason != reason {
		t.Fatalf("Reason = %q, want %q; %v", we.Reason, reason, err)
	}
	if got := we.DiagnosisCode(); got != "workload: "+string(reason) {
		t.Errorf("DiagnosisCode = %q", got)
	}
	return we
}

// logs is a slog.Logger writing into a buffer.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logs) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// failFirst answers the first n requests with status, then lets next answer.
type failFirst struct {
	mu     sync.Mutex
	n      int
	status int
	next   http.RoundTripper
}

func (f *failFirst) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	fail := f.n > 0
	f.n--
	f.mu.Unlock()
	if fail {
		return &http.Response{StatusCode: f.status, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
	}
	return f.next.RoundTrip(r)
}

func readCloser(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }
