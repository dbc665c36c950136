package smtpx_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/smtpx"
	"github.com/mailoauth/mailoauth/smtpx/smtpxtest"
)

// recordingSource fetches a new token at each call (clientcredentials'
// own TokenSource caches, which auth.Source does not want) and registers it
// for the secret check.
type recordingSource struct {
	ctx context.Context
	cc  *clientcredentials.Config
}

func (r recordingSource) Refresh(context.Context, *oauth2.Token) (*oauth2.Token, error) {
	t, err := r.cc.Token(r.ctx)
	if err == nil {
		registerSecret(t.AccessToken)
		if t.RefreshToken != "" {
			registerSecret(t.RefreshToken)
		}
	}
	return t, err
}

// idpMailbox wires providertest (client credentials, as Exchange app-only
// sending does), auth.Source and an smtpxtest server verifying with
// providertest's VerifySASL.
func idpMailbox(t *testing.T, opts ...*smtpxtest.Options) (*providertest.Server, *smtpxtest.Server, *provider.Mailbox) {
	const secret = "app-secret-value-0123456789~abc"
	registerSecret(secret)
	idp := providertest.New()
	t.Cleanup(idp.Close)
	idp.AddApp(providertest.App{ClientID: "11111111-2222-3333-4444-555555555555", Secret: secret,
		Roles: []string{"SMTP.SendAsApp"}, Mailboxes: []string{testAddress}})
	cc := clientcredentials.Config{
		ClientID: "11111111-2222-3333-4444-555555555555", ClientSecret: secret,
		TokenURL: idp.URL() + "/" + providertest.DefaultTenant + "/oauth2/v2.0/token",
		Scopes:   []string{"https://outlook.office365.com/.default"},
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, idp.Client())
	src := auth.NewSource(recordingSource{ctx, &cc}, nil)
	srv := smtpxtest.New(withVerify(idp.VerifySASL, opts))
	t.Cleanup(srv.Close)
	return idp, srv, srv.Mailbox(testAddress, src)
}

func TestWithIdPFirstTokenRefusedCostsExactlyOneTokenRequest(t *testing.T) {
	idp, srv, mb := idpMailbox(t)
	srv.RejectAuth(1)
	debug := newOutput()
	c, err := smtpx.Dial(context.Background(), mb, &smtpx.Options{TLSConfig: srv.TLSConfig(), Debug: debug})
	if err != nil {
		t.Fatal(recordErr(err))
	}
	defer c.Close()
	if n := idp.Requests("client_credentials"); n != 2 {
		t.Fatalf("%d token requests, want exactly one more than the first", n)
	}
	if err := c.Send(context.Background(), "", []string{"a@example.net"}, bytes.NewReader(message("idp"))); err != nil {
		t.Fatal(recordErr(err))
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages", n)
	}
}

func TestWithIdPRevokedTokensGiveDiagnosableError(t *testing.T) {
	_, srv, mb := idpMailbox(t, &smtpxtest.Options{NoErrorChallenge: true})
	srv.RejectAuth(2)
	_, err := smtpx.Dial(context.Background(), mb, &smtpx.Options{TLSConfig: srv.TLSConfig()})
	recordErr(err)
	var se *smtpx.Error
	if !errors.As(err, &se) || se.Code != 535 || se.EnhancedCode[2] != 3 {
		t.Fatalf("err = %v, want the 535 5.7.3", err)
	}
	// Dial annotated the error: errors.As finds the diagnosis in it.
	var d *provider.Diagnosis
	if !errors.As(err, &d) || d.Kind != provider.Misconfigured {
		t.Fatalf("no Misconfigured diagnosis in %v", err)
	}
}
