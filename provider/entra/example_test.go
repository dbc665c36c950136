package entra_test

import (
	"context"
	"fmt"
	"time"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/authorize"
	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// App-only access: the app sends as a mailbox with its own credential. The
// example signs in at a local test identity provider; in production leave
// Cloud and HTTPClient unset.
func ExampleClientCredentials() {
	idp := providertest.New()
	defer idp.Close()
	idp.AddApp(providertest.App{
		ClientID: "6a1c2f0e-8d7b-4a3e-9f10-2b3c4d5e6f70",
		Secret:   "secret-value-from-the-portal",
		Roles:    []string{"SMTP.SendAsApp"},
	})

	ctx := context.Background()
	mb, err := entra.ClientCredentials(ctx, entra.Config{
		TenantID:     providertest.DefaultTenant,
		ClientID:     "6a1c2f0e-8d7b-4a3e-9f10-2b3c4d5e6f70",
		ClientSecret: "secret-value-from-the-portal",
		Mailbox:      "notifications@contoso.com",
		Cloud:        entra.Global.WithAuthorityHost(idp.URL()),
		HTTPClient:   idp.Client(),
	})
	if err != nil {
		fmt.Println(provider.Diagnose(err)) // what to fix in the tenant
		return
	}
	fmt.Println("SMTP:", mb.SMTP.Addr(), mb.SMTP.Security)
	fmt.Println("IMAP:", mb.IMAP.Addr(), mb.IMAP.Security)
	fmt.Println("login:", mb.Address, "with", mb.Mechanism)
	fmt.Printf("limits: %d connections, %d messages a minute\n", mb.Limits.MaxConns, mb.Limits.MessagesPerMinute)

	tok, err := mb.Tokens.Token(ctx) // cached; refreshed before it expires
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("token accepted:", idp.VerifySASL("notifications@contoso.com", tok.AccessToken) == nil)
	// Output:
	// SMTP: smtp.office365.com:587 starttls
	// IMAP: outlook.office365.com:993 tls
	// login: notifications@contoso.com with XOAUTH2
	// limits: 3 connections, 30 messages a minute
	// token accepted: true
}

// Delegated access: an admin authorizes the mailbox once (here with the
// device code flow), and the program then uses the stored grant, whose
// refresh token is rotated and saved as it is used.
func ExampleDelegated() {
	idp := providertest.New()
	defer idp.Close()
	idp.AddApp(providertest.App{ClientID: "3b9d7e61-0c2a-4f5e-8d1b-6a7c8e9f0a1b", Public: true})
	idp.SignIn("helpdesk@contoso.com")
	idp.SetDeviceInterval(time.Millisecond)

	cfg := entra.Config{
		TenantID:   "organizations",
		ClientID:   "3b9d7e61-0c2a-4f5e-8d1b-6a7c8e9f0a1b", // a public client: no secret
		Mailbox:    "helpdesk@contoso.com",
		Cloud:      entra.Global.WithAuthorityHost(idp.URL()),
		HTTPClient: idp.Client(),
	}
	store := tokenstore.NewMemory() // use tokenstore.NewFile or sqlstore in a real program
	ctx := context.Background()

	// Once, on a console:
	_, err := entra.AuthorizeDevice(ctx, cfg, store, func(p authorize.DevicePrompt) error {
		fmt.Println("an admin enters the code shown in the prompt's Message")
		return idp.ApproveDevice(p.UserCode) // the admin approving, in this example
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	// Every time the program starts:
	// (And once a day, from the program's scheduler, so that a quiet
	// mailbox does not lose its grant: entra.KeepAlive(ctx, cfg, store).)
	mb, err := entra.Delegated(ctx, cfg, store)
	if err != nil {
		fmt.Println(provider.Diagnose(err))
		return
	}
	tok, err := mb.Tokens.Token(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("grant stored under", cfg.Key())
	fmt.Println("token accepted:", idp.VerifySASL(mb.Address, tok.AccessToken) == nil)
	// Output:
	// an admin enters the code shown in the prompt's Message
	// grant stored under entra:organizations:3b9d7e61-0c2a-4f5e-8d1b-6a7c8e9f0a1b:helpdesk@contoso.com
	// token accepted: true
}
