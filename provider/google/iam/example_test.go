package iam_test

import (
	"context"
	"fmt"
	"net/url"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/provider/google/iam"
	"github.com/mailoauth/mailoauth/provider/providertest"
)

// Domain-wide delegation without a key file: Google signs the assertion for the service account,
// and the JWT-bearer grant exchanges it for the Workspace user's token. A local double stands for
// Google here; in production Caller is Application Default Credentials
// (google.FindDefaultCredentials(ctx, iam.CloudPlatformScope) of golang.org/x/oauth2/google) or
// workload identity federation's credentials, and BaseURL and HTTPClient stay empty.
func ExampleSigner_DelegationAssertion() {
	idp := providertest.New()
	defer idp.Close()
	idp.AddApp(providertest.App{ServiceAccountEmail: "mailer@project.iam.gserviceaccount.com",
		DelegatedScopes: []string{"https://mail.google.com/"}})
	idp.AllowSignJWT("deployer@project.iam.gserviceaccount.com", "mailer@project.iam.gserviceaccount.com")
	callerToken := idp.IssueToken(providertest.TokenSpec{Email: "deployer@project.iam.gserviceaccount.com",
		Scopes: []string{iam.CloudPlatformScope}})

	signer := &iam.Signer{
		ServiceAccount: "mailer@project.iam.gserviceaccount.com",
		Caller:         oauth2.StaticTokenSource(&oauth2.Token{AccessToken: callerToken}),
		BaseURL:        idp.URL(),
		HTTPClient:     idp.Client(),
	}
	tokenURL := idp.URL() + "/token" // https://oauth2.googleapis.com/token in production
	assertion, err := signer.DelegationAssertion(context.Background(), "helpdesk@example.com",
		[]string{"https://mail.google.com/"}, tokenURL)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := idp.Client().PostForm(tokenURL, url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {assertion}})
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("token endpoint:", resp.Status)

	signer.ServiceAccount = "other@project.iam.gserviceaccount.com"
	_, err = signer.SignJWT(context.Background(), map[string]any{"sub": "helpdesk@example.com"})
	fmt.Println(err.(*iam.Error).Reason)
	// Output:
	// token endpoint: 200 OK
	// permission denied
}
