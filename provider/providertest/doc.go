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
//	RFC 7662 introspection: /introspect
//
// Grants: client_credentials (client secret, or a client assertion checked against the App's
// certificate: thumbprint, signature, iss = sub = client ID, aud = the token endpoint, time window,
// jti never reused), authorization_code (PKCE S256, redirect URI, single use), refresh_token (Entra
// rotates by default; with SetReuseDetection a rotated-away token revokes its whole family),
// device_code (pending, slow_down, declined, expired by the server clock) and Google's JWT bearer
// grant for service accounts with domain-wide delegation.
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
//   - Microsoft publishes no AADSTS number for slow_down and authorization_declined; they carry 70016
//     and 70000 here. A reused client-assertion jti answers AADSTS700024 (as reported for replays), a
//     wrong assertion audience AADSTS50013.
package providertest
