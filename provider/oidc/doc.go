// Package oidc gives a provider.Mailbox for mail servers that accept the
// tokens of any standards-following OAuth 2.0 authorization server or
// OpenID provider (Keycloak, Authentik, Zitadel, Okta, node oidc-provider,
// ...) — Dovecot, Stalwart or Postfix with Dovecot SASL checking them.
//
// The server is found from its issuer URL by discovery (OpenID Connect
// Discovery 1.0 and RFC 8414, read once per Mailbox or flow; an issuer
// that names another issuer is refused) or described by Metadata. The
// client authenticates as the server's metadata allows, the same way at
// every endpoint: client_secret_basic, client_secret_post,
// private_key_jwt (RS256, PS256, ES256) or none for a public client.
// Scopes, resource indicators (RFC 8707) and extra parameters go with
// every request.
//
// Two kinds of access, as in provider/entra:
//
//   - ClientCredentials: the client itself holds the right to the
//     mailbox (RFC 6749 section 4.4).
//   - Delegated: a user authorized the client once for the mailbox with
//     NewDeviceFlow (RFC 8628) on a console, or
//     NewAuthCodeFlow (authorization code with PKCE, the callback's iss
//     checked as RFC 9207 asks) in a web app; the refresh token lives in
//     a tokenstore.Store, rotated safely, refreshed once at a time.
//
// App-only sending:
//
//	mb, err := oidc.ClientCredentials(ctx, oidc.Config{
//		Issuer:       "https://sso.example.com/realms/mail",
//		ClientID:     "helpdesk",
//		ClientSecret: os.Getenv("MAILOAUTH_CLIENT_SECRET"),
//		Scopes:       []string{"mail"},
//		Mailbox:      "helpdesk@example.com",
//		SMTP:         provider.Server{Host: "mail.example.com", Port: 587},
//	})
//	if err != nil {
//		log.Fatal(provider.Diagnose(err)) // says what to fix
//	}
//	sender := smtpx.NewSender(mb, nil)
//
// No secret, key or token is ever logged or put into an error.
package oidc
