// Package workload gets the tokens with which a program proves who it is
// from the platform it runs on, so that it stores no secret: a Kubernetes
// service-account token projected into the pod (TokenFile, as Azure
// Workload Identity sets it up), a GitHub Actions OIDC token
// (GitHubActions), an Azure managed identity's token from the instance
// metadata service or App Service (ManagedIdentity), or any function's
// (Func). Each is a Source.
//
//	src := &workload.TokenFile{} // reads AZURE_FEDERATED_TOKEN_FILE on each call
//	tok, err := src.Token(ctx, workload.AzureADTokenExchange)
//	// POST client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
//	//      &client_assertion=tok.AccessToken with the client credentials grant.
//
// Entra ID takes such a token as an app registration's client assertion
// when the app has a federated identity credential with the token's
// issuer, subject and audience (api://AzureADTokenExchange), compared
// exactly and with case; ask for a new one for every token request, since
// they are short-lived. A managed identity's token for a resource such as
// https://outlook.office365.com is an access token itself: Refresher makes
// a Source the base of auth.Source, the module's token cache.
//
// Errors from the platform's endpoints are *Error, classified by Reason
// (identity not found, several identities, unknown resource, throttled,
// unavailable, ...); missing settings are *provider.ConfigError. No error
// or log line holds a token, the GitHub request token or App Service's
// identity header.
package workload
