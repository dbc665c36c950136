package providertest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/mailoauth/mailoauth/provider/providertest"
)

// An app registration trusts a Kubernetes cluster's service account: the cluster's token is the
// client assertion, no secret is registered. A token of another service account gets Entra's
// AADSTS700213.
func ExampleServer_NewIssuer() {
	idp := providertest.New()
	defer idp.Close()
	const issuer = "https://oidc.prod-aks.azure.com/tenant/cluster/"
	idp.AddApp(providertest.App{ClientID: "app", Roles: []string{"SMTP.SendAsApp"},
		FederatedCredentials: []providertest.FederatedCredential{{Issuer: issuer, Subject: "system:serviceaccount:mail:sender"}}})
	cluster := idp.NewIssuer(issuer)

	token := func(subject string) error {
		cfg := clientcredentials.Config{ClientID: "app", AuthStyle: oauth2.AuthStyleInParams,
			TokenURL: idp.URL() + "/" + providertest.DefaultTenant + "/oauth2/v2.0/token",
			Scopes:   []string{"https://outlook.office365.com/.default"},
			EndpointParams: url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
				"client_assertion": {cluster.Token(subject, providertest.TokenExchangeAudience, 0)}}}
		_, err := cfg.Token(context.WithValue(context.Background(), oauth2.HTTPClient, idp.Client()))
		return err
	}
	fmt.Println(token("system:serviceaccount:mail:sender"))
	err := token("system:serviceaccount:default:default")
	fmt.Println(err.(*oauth2.RetrieveError).ErrorCode, err.(*oauth2.RetrieveError).ErrorDescription[:13])
	// Output:
	// <nil>
	// invalid_client AADSTS700213:
}

// A managed identity's token from the local instance metadata service opens the mailboxes the
// identity was granted, and no other.
func ExampleServer_AddManagedIdentity() {
	idp := providertest.New()
	defer idp.Close()
	idp.AddManagedIdentity(providertest.ManagedIdentity{Roles: []string{"IMAP.AccessAsApp"},
		Mailboxes: []string{"helpdesk@example.com"}})

	q := url.Values{"api-version": {"2018-02-01"}, "resource": {"https://outlook.office365.com"}}
	req, _ := http.NewRequest(http.MethodGet, idp.IMDSEndpoint()+"?"+q.Encode(), nil)
	req.Header.Set("Metadata", "true")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var answer struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   string `json:"expires_in"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&answer)
	fmt.Println("expires_in:", answer.ExpiresIn)
	fmt.Println("helpdesk:", idp.VerifySASL("helpdesk@example.com", answer.AccessToken))
	fmt.Println("ceo refused:", idp.VerifySASL("ceo@example.com", answer.AccessToken) != nil)
	// Output:
	// expires_in: 3600
	// helpdesk: <nil>
	// ceo refused: true
}
