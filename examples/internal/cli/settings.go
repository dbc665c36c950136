package cli

// sharedSettings holds the meaning of every flag that more than one
// example takes, so that one flag name means one setting everywhere: the
// flag's usage in -h starts with this text, and what a program adds after
// it only narrows it down.
var sharedSettings = map[string]string{
	"mailbox":            "the mailbox's address: the login name, and the sender of what the program sends",
	"tenant":             "Entra: the directory (tenant) ID or a verified domain of the app registration",
	"client-id":          "the application (client) ID of the app registration (Google: the OAuth client ID)",
	"secret-file":        "file holding the client secret's value, instead of $" + EnvClientSecret,
	"secret-expires":     "the client secret's expiry date, e.g. 2027-03-01: a warning is logged 30, 7 and 1 days before",
	"cert-file":          "certificate credential instead of a secret: PEM with the certificate and its private key, or .pfx/.p12 (its password in $" + EnvCertPassword + ")",
	"cloud":              "Entra: the Microsoft cloud: global, usgov, usgovdod or china",
	"authority-host":     "Entra: login host instead of the cloud's, e.g. https://login.microsoftonline.com",
	"ca-file":            "PEM file of certificate authorities to trust besides the system's, for the identity provider and the mail servers",
	"smtp-host":          "SMTP server's host name instead of the provider's",
	"smtp-port":          "SMTP server's port instead of the provider's",
	"smtp-security":      "SMTP connection security instead of the provider's: starttls, tls (implicit TLS) or plaintext (loopback only)",
	"imap-host":          "IMAP server's host name instead of the provider's",
	"imap-port":          "IMAP server's port instead of the provider's",
	"imap-security":      "IMAP connection security instead of the provider's: tls (implicit TLS), starttls or plaintext (loopback only)",
	"grant":              "app (the app's own access: client credentials or a service account) or delegated (a grant saved in -store)",
	"store":              "folder of the saved grants (created 0700, files 0600), encrypted when $" + EnvStoreKey + " or -store-key-file gives a key",
	"store-key-file":     "file holding the key of the grant folder, instead of $" + EnvStoreKey,
	"verbose":            "print debug logs and the mail dialogue (tokens redacted) on stderr",
	"to":                 "recipients of the message, separated by commas",
	"subject":            "subject of the message",
	"body":               "text of the message",
	"provider":           "identity provider: entra, google or oidc (any standards-following server, found from -issuer)",
	"issuer":             "the authorization server's issuer URL, as its discovery document names it (Keycloak: https://<host>/realms/<realm>)",
	"auth-method":        "how the client authenticates: client_secret_basic, client_secret_post, private_key_jwt or none; default: from the server's metadata and the credential given",
	"key-file":           "PEM private key (RSA or P-256) that signs a client assertion for every request (private_key_jwt), instead of a secret",
	"key-id":             "the kid of -key-file's key in the client's registered JWK set",
	"scope":              "scopes the tokens are asked for, separated by spaces or commas (the mail server's: Dovecot's oauth2 scope setting)",
	"resource":           "resource indicators (RFC 8707) of the mail servers, separated by commas; sent with every request",
	"google-key-file":    "Google: the service account's JSON key file (domain-wide delegation)",
	"google-client-json": "Google: the OAuth client file downloaded from the Cloud console (it holds the secret: keep it private)",
	"google-base-url":    "Google: base URL of the OAuth endpoints (base + /token) instead of Google's",
}

// SharedSetting returns the meaning of the flag name when several
// examples take it: the text its usage starts with.
func SharedSetting(name string) (what string, ok bool) {
	what, ok = sharedSettings[name]
	return what, ok
}
