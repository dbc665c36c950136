package providertest_test

import (
	"context"
	"fmt"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/mailoauth/mailoauth/provider/providertest"
)

// An app gets an app-only token for Exchange with its client secret, a test mail server checks it,
// and an injected Entra error makes the next request fail.
func Example() {
	idp := providertest.New()
	defer idp.Close()
	idp.AddApp(providertest.App{ClientID: "app", Secret: "s3cret",
		Roles: []string{"SMTP.SendAsApp"}, Mailboxes: []string{"helpdesk@example.com"}})

	cfg := clientcredentials.Config{ClientID: "app", ClientSecret: "s3cret",
		TokenURL: idp.URL() + "/" + providertest.DefaultTenant + "/oauth2/v2.0/token",
		Scopes:   []string{"https://outlook.office365.com/.default"}}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, idp.Client())
	tok, err := cfg.Token(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("helpdesk:", idp.VerifySASL("helpdesk@example.com", tok.AccessToken))
	fmt.Println("ceo:", idp.VerifySASL("ceo@example.com", tok.AccessToken) != nil)

	idp.FailNext(1, providertest.AADSTS(7000222, "invalid_client", "The provided client secret keys for app 'app' are expired."))
	_, err = cfg.Token(ctx)
	fmt.Println(err.(*oauth2.RetrieveError).ErrorCode, idp.Requests("client_credentials"))
	// Output:
	// helpdesk: <nil>
	// ceo: true
	// invalid_client 2
}
