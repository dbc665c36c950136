// Package providertest is a local OAuth2 identity provider for tests: an HTTPS server on 127.0.0.1
// that speaks the Entra ID v2.0 and Google wire formats, issues JWT access tokens that the SMTP and
// IMAP test servers check with Verify, and can be made to fail in every way the real services do.
//
//	func TestSend(t *testing.T) {
//		idp := providertest.New()
//		defer idp.Close()
//		idp.AddApp(providertest.App{ClientID: "app", Secret: "s3cret", Roles: []string{"SMTP.SendAsApp"},
//			Mailboxes: []string{"helpdesk@example.com"}})
//		cfg := clientcredentials.Config{ClientID: "app", ClientSecret: "s3cret",
//			TokenURL: idp.URL() + "/" + providertest.DefaultTenant + "/oauth2/v2.0/token",
//			Scopes:   []string{"https://outlook.office365.com/.default"}}
//		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, idp.Client())
//		tok, err := cfg.Token(ctx)
//		// ... hand tok to the code under test; the test SMTP server calls
//		// idp.VerifySASL("helpdesk@example.com", tok.AccessToken).
//		idp.FailNext(1, providertest.AADSTS(7000222, "invalid_client", "The provided client secret keys are expired."))
//		// ... the next token request fails as Entra would.
//	}
//
// Routes (paths under URL(); PlainURL serves the same over plain HTTP):
//
//	Entra:  /{tenant}/oauth2/v2.0/authorize  /{tenant}/oauth2/v2.0/token  /{tenant}/oauth2/v2.0/devicecode
//	        /{tenant}/v2.0/adminconsent  /{tenant}/v2.0/.well-known/openid-configuration
//	        /{tenant}/discovery/v2.0/keys  /devicelogin  /error?code=N
//	Google: /o/oauth2/v2/auth  /token  /device/code  /device  /revoke
//	        /v1/projects/-/serviceAccounts/{email}:signJwt (IAM Service Account Credentials API)
//	RFC 7662 introspection: /introspect
//	Azure managed identity (plain HTTP on PlainURL's listener): /metadata/identity/oauth2/token
//	        (instance metadata service, IMDSEndpoint)  /msi/token (App Service, AppServiceEnvironment)
//	GitHub Actions OIDC token endpoint: /github/idtoken (Issuer.GitHubActions)
//
// Grants: client_credentials (client secret, or a client assertion checked against the App's
// certificate: thumbprint, signature, iss = sub = client ID, aud = the token endpoint, time window,
// jti never reused), authorization_code (PKCE S256, redirect URI, single use), refresh_token (Entra
// rotates by default; with SetReuseDetection a rotated-away token revokes its whole family),
// device_code (pending, slow_down, declined, expired by the server clock) and Google's JWT bearer
// grant for service accounts with domain-wide delegation, its assertion signed with the account's
// key or, through signJwt (AllowSignJWT), with its Google-managed key.
//
// Secretless credentials: an App's FederatedCredentials accept a token of an Issuer (NewIssuer: a
// Kubernetes cluster, GitHubIssuer and its Actions endpoint) or of a ManagedIdentity (EntraIssuer)
// as its client assertion, matched exactly on issuer, subject and audience with Entra's AADSTS codes
// when they do not match (700211, 700213, 7002138, 700212, 7000272, 700229, 70025, and 700024 for a
// token out of its time). Managed identities (AddManagedIdentity) get app-only tokens from the two
// metadata endpoints, which Verify, VerifySASL and VerifyGraph check as an app's.
//
// Mistakes a client can make get the error the real service gives, in its format: Entra's JSON with
// error, error_description ("AADSTSnnn: ..." plus trace, correlation and timestamp lines),
// error_codes, timestamp, trace_id, correlation_id and error_uri; Google's {"error",
// "error_description"}. FailNext injects any other answer (AADSTS, TooManyRequests, ServerError,
// Slow, MalformedJSON, OversizedBody).
//
// The server clock (Now, Advance) governs token expiry and every time window. Tokens are signed
// with a fixed test key that is public: they prove nothing outside tests.
//
// Choices where the real services leave room:
//   - Access tokens are JWTs in both formats (Google's real ones are opaque), so Verify and
//     introspection work the same for both. Entra tokens for https:// resources are v1.0 tokens
//     (iss https://sts.windows.net/{tid}/), as Exchange Online receives them.
//   - An app-only token has no user. Verify and introspection name the app's only mailbox as its user
//     when App.Mailboxes has exactly one entry, and no user otherwise; VerifySASL checks the mailbox
//     against App.Mailboxes, so SMTP and IMAP test servers should prefer it.
//   - Google never rotates refresh tokens; SetRotation and SetReuseDetection apply to Entra.
//   - The managed identity endpoints know every identity added, all assigned to one machine; the
//     App Service answers for a missing identity or header, and the IAM message for a project other
//     than "-", are our wording. AADSTS70021 (no match, the older generic form, and Entra's answer
//     while a new federated credential propagates) is never given unasked: inject it with FailNext.
//   - Microsoft publishes no AADSTS number for slow_down and authorization_declined; they carry 70016
//     and 70000 here. A reused client-assertion jti answers AADSTS700024 (as reported for replays), a
//     wrong assertion audience AADSTS50013.
package providertest
