package oidc_test

import (
	"context"
	"fmt"
	"time"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/authorize"
	"github.com/mailoauth/mailoauth/provider/oidc"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// App-only access at any standards server, found by its issuer URL. The
// example discovers a local test identity provider; in production leave
// HTTPClient unset and name the real issuer and mail servers.
func ExampleClientCredentials() {
	idp := providertest.New()
	defer idp.Close()
	idp.AddApp(providertest.App{ClientID: "helpdesk", Secret: "s3cret-value", Roles: []string{"SMTP.SendAsApp"}})

	ctx := context.Background()
	mb, err := oidc.ClientCredentials(ctx, oidc.Config{
		Issuer:       idp.URL() + "/" + providertest.DefaultTenant + "/v2.0",
		ClientID:     "helpdesk",
		ClientSecret: "s3cret-value",
		Scopes:       []string{"https://outlook.office365.com/.default"},
		Mailbox:      "helpdesk@example.com",
		SMTP:         provider.Server{Host: "mail.example.com", Port: 587, Security: provider.StartTLS},
		HTTPClient:   idp.Client(),
	})
	if err != nil {
		fmt.Println(provider.Diagnose(err)) // what to fix
		return
	}
	tok, err := mb.Tokens.Token(ctx) // cached; refreshed before it expires
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("SMTP:", mb.SMTP.Addr(), mb.SMTP.Security)
	fmt.Println("login:", mb.Address, "with", mb.SASLMechanism())
	fmt.Println("token accepted:", idp.VerifySASL("helpdesk@example.com", tok.AccessToken) == nil)
	// Output:
	// SMTP: mail.example.com:587 starttls
	// login: helpdesk@example.com with XOAUTH2
	// token accepted: true
}

// Delegated access: a user authorizes the mailbox once on a console with
// the device flow, and the program then uses the stored grant, whose
// rotated refresh tokens are saved before use.
func ExampleDelegated() {
	idp := providertest.New()
	defer idp.Close()
	idp.AddApp(providertest.App{ClientID: "helpdesk", Public: true})
	idp.SignIn("alice@example.com")
	idp.SetDeviceInterval(time.Second) // polls every second; real servers ask for 5

	ctx := context.Background()
	cfg := oidc.Config{
		Issuer:     idp.URL() + "/" + providertest.DefaultTenant + "/v2.0",
		ClientID:   "helpdesk", // a public client: no secret
		Scopes:     []string{"offline_access", "https://outlook.office.com/IMAP.AccessAsUser.All"},
		Mailbox:    "alice@example.com",
		IMAP:       provider.Server{Host: "mail.example.com", Port: 993, Security: provider.ImplicitTLS},
		HTTPClient: idp.Client(),
	}
	store := tokenstore.NewMemory() // tokenstore.NewFile or sqlstore in production
	flow, err := oidc.NewDeviceFlow(ctx, cfg, store)
	if err != nil {
		fmt.Println(provider.Diagnose(err))
		return
	}
	_, err = flow.Authorize(ctx, func(p authorize.DevicePrompt) error {
		fmt.Println("the user is shown a code to enter:", p.UserCode != "")
		return idp.ApproveDevice(p.UserCode) // the user signs in elsewhere
	})
	if err != nil {
		fmt.Println(provider.Diagnose(err))
		return
	}
	mb, err := oidc.Delegated(ctx, cfg, store)
	if err != nil {
		fmt.Println(provider.Diagnose(err))
		return
	}
	tok, _ := mb.Tokens.Token(ctx)
	fmt.Println("token accepted:", idp.VerifySASL("alice@example.com", tok.AccessToken) == nil)
	// Output:
	// the user is shown a code to enter: true
	// token accepted: true
}
