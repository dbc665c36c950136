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
package providertest
