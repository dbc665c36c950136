package workload_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/mailoauth/mailoauth/auth"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/provider/workload"
)

// A pod's projected service-account token is the client assertion of an app registration that
// trusts the cluster's issuer and the pod's service account. The file is read for every token
// request, so the kubelet's renewals are picked up. Here a local identity provider stands for
// Entra ID and the cluster.
func ExampleTokenFile() {
	idp := providertest.New()
	defer idp.Close()
	const issuer = "https://oidc.prod-aks.azure.com/tenant/cluster/"
	idp.AddApp(providertest.App{ClientID: "mailer-app", Roles: []string{"SMTP.SendAsApp"},
		FederatedCredentials: []providertest.FederatedCredential{{Issuer: issuer, Subject: "system:serviceaccount:mail:sender"}}})
	dir, _ := os.MkdirTemp("", "projected")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "azure-identity-token")
	_ = os.WriteFile(path, []byte(idp.NewIssuer(issuer).Token("system:serviceaccount:mail:sender", workload.AzureADTokenExchange, 0)), 0o600)

	// In the pod: src := &workload.TokenFile{} reads AZURE_FEDERATED_TOKEN_FILE.
	src := &workload.TokenFile{Path: path}
	ctx := context.Background()
	assertion, err := src.Token(ctx, workload.AzureADTokenExchange)
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg := clientcredentials.Config{ClientID: "mailer-app", AuthStyle: oauth2.AuthStyleInParams,
		TokenURL: idp.URL() + "/" + providertest.DefaultTenant + "/oauth2/v2.0/token",
		Scopes:   []string{"https://outlook.office365.com/.default"},
		EndpointParams: url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion": {assertion.AccessToken}}}
	tok, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, idp.Client()))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("send as helpdesk:", idp.VerifySASL("helpdesk@example.com", tok.AccessToken))
	// Output: send as helpdesk: <nil>
}

// A managed identity's tokens for Exchange Online are the access tokens of a Mailbox: Refresher
// makes the identity the base of auth.Source, which caches each token until shortly before it
// expires. The metadata service here is a local double; on an Azure VM leave Endpoint empty.
func ExampleManagedIdentity() {
	idp := providertest.New()
	defer idp.Close()
	id := idp.AddManagedIdentity(providertest.ManagedIdentity{
		ResourceID: "/subscriptions/0000/resourceGroups/mail/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mailer",
		Roles:      []string{"SMTP.SendAsApp"}, Mailboxes: []string{"helpdesk@example.com"}})

	mi := &workload.ManagedIdentity{ClientID: id.ClientID, Endpoint: idp.IMDSEndpoint()}
	tokens := auth.NewSource(workload.Refresher(mi, "https://outlook.office365.com"), nil)
	tok, err := tokens.Token(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("helpdesk:", idp.VerifySASL("helpdesk@example.com", tok.AccessToken))
	fmt.Println("ceo refused:", idp.VerifySASL("ceo@example.com", tok.AccessToken) != nil)

	_, err = (&workload.ManagedIdentity{ClientID: "00000000-0000-0000-0000-000000000000", Endpoint: idp.IMDSEndpoint()}).
		Token(context.Background(), "https://outlook.office365.com")
	fmt.Println(err.(*workload.Error).Reason)
	// Output:
	// helpdesk: <nil>
	// ceo refused: true
	// identity not found
}

// In a GitHub Actions job with the permission id-token: write, each Token call asks the runner for
// a new OIDC token with Entra's audience. The runner here is a local double.
func ExampleGitHubActions() {
	idp := providertest.New()
	defer idp.Close()
	requestURL, requestToken := idp.NewIssuer(providertest.GitHubIssuer).GitHubActions("repo:contoso/mailer:environment:production")

	// In the job: gh := &workload.GitHubActions{} reads ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN.
	gh := &workload.GitHubActions{RequestURL: requestURL, RequestToken: requestToken, HTTPClient: idp.Client()}
	tok, err := gh.Token(context.Background(), workload.AzureADTokenExchange)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("lives", tok.Expiry.Sub(idp.Now()).Round(time.Minute))
	fmt.Println("request token in its printout:", strings.Contains(fmt.Sprint(gh), requestToken))
	// Output:
	// lives 5m0s
	// request token in its printout: false
}
