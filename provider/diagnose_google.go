package provider

// googleEntries are Google's token-endpoint errors and Gmail's SMTP and
// IMAP replies. Console paths are those of the Google Cloud console
// (console.cloud.google.com) and the Google Admin console
// (admin.google.com).
// What to do when Gmail refuses a login with a token, and when it refused
// a token fresh from Google too: then the age of the token is ruled out.
const (
	fixGmailRefused      = "Refresh the token and retry once (the library does); if a fresh token is refused too, request scope https://mail.google.com/ and log in with the address of the account that authorized (for a service account, the user it acts for)."
	fixGmailFreshRefused = "Have the program request scope https://mail.google.com/ and authorize again, and log in with the address of the account that authorized (for a service account, the user it acts for)."
)

var googleEntries = []Entry{
	// Token endpoint (oauth2.googleapis.com/token).
	{Provider: ProviderGoogle, Layer: LayerOAuth, Code: "invalid_grant", Match: "Token has been expired or revoked", Kind: Reauthorize,
		Summary: "The refresh token expired or was revoked: the user revoked access or changed the password, it was unused for 6 months, more than 100 newer ones were issued, or the app is External in Testing status, where refresh tokens last 7 days.",
		Fix:     "Run the authorization again; if it recurs every 7 days, publish the app: Google Cloud console → Google Auth Platform → Audience → Publish app (In production)."},
	{Provider: ProviderGoogle, Layer: LayerOAuth, Code: "invalid_rapt", Kind: Reauthorize,
		Summary: "Google Cloud session control requires the user to sign in again (reauthentication policy).",
		Fix:     "Run the authorization again; to stop it recurring, a Workspace admin sets Admin console → Security → Access and data control → Google Cloud session control → Reauthentication policy (exempt trusted apps or lengthen the frequency)."},
	{Provider: ProviderGoogle, Layer: LayerOAuth, Code: "invalid_grant", Match: "Invalid JWT Signature", Kind: Misconfigured,
		Summary: "Google refused the service account's signed assertion: the key was deleted or is not the account's.",
		Fix:     "Create a new key under Google Cloud console → IAM & Admin → Service Accounts → <account> → Keys → Add key → Create new key (JSON) and load that file."},
	{Provider: ProviderGoogle, Layer: LayerOAuth, Code: "invalid_grant", Match: "Token must be a short-lived token", Kind: Misconfigured,
		Summary: "The service account's assertion has iat/exp outside Google's window: the host clock is wrong.",
		Fix:     "Synchronise the host clock with NTP (timedatectl set-ntp true, or w32tm /resync on Windows)."},
	{Provider: ProviderGoogle, Layer: LayerOAuth, Code: "unauthorized_client", Match: "Client is unauthorized to retrieve access tokens using this method", Kind: Misconfigured,
		Summary: "The service account is not allowed domain-wide delegation for the scopes asked for.",
		Fix:     "A Workspace admin adds the service account's client ID with scope https://mail.google.com/ under Admin console → Security → Access and data control → API controls → Manage Domain Wide Delegation → Add new."},
	{Provider: ProviderGoogle, Layer: LayerOAuth, Code: "invalid_client", Match: "The OAuth client was not found", Kind: Misconfigured,
		Summary: "Google does not know this OAuth client ID.",
		Fix:     "Copy the client ID and secret again from Google Cloud console → APIs & Services → Credentials → OAuth 2.0 Client IDs (or download the client JSON again)."},
	{Provider: ProviderGoogle, Layer: LayerOAuth, Code: "deleted_client", Kind: Misconfigured,
		Summary: "The OAuth client was deleted.",
		Fix:     "Restore it under Google Cloud console → APIs & Services → Credentials → Restore deleted credentials (within 30 days), or create a new OAuth client and run the authorization again."},
	{Provider: ProviderGoogle, Layer: LayerOAuth, Code: "admin_policy_enforced", Kind: Misconfigured,
		Summary: "The Workspace admin's policy does not allow this app or the Gmail service for this account.",
		Fix:     "A Workspace admin marks the app Trusted under Admin console → Security → Access and data control → API controls → Manage Third-Party App Access (and leaves Gmail unrestricted under Google services)."},
	{Provider: ProviderGoogle, Layer: LayerOAuth, Code: "org_internal", Kind: Misconfigured,
		Summary: "The OAuth consent screen is Internal and the account is outside the project's Workspace organisation.",
		Fix:     "Sign in with an account of the organisation, or set Google Cloud console → Google Auth Platform → Audience → User type to External."},
	{Provider: ProviderGoogle, Layer: LayerOAuth, Code: "rate_limit_exceeded", Kind: Transient,
		Summary: "Google's device-code quota for this client is exhausted.",
		Fix:     "Wait before starting another authorization; Gmail scopes need the loopback authorization flow anyway, not device code."},

	// Gmail SMTP (smtp.gmail.com).
	{Provider: ProviderGoogle, Layer: LayerSMTP, Code: "535 5.7.8", Match: "Username and Password not accepted", Kind: StaleToken,
		Summary: "Gmail refused the login: the access token is expired or invalid, lacks the https://mail.google.com/ scope, or the user name is not the account that authorized.",
		Fix:     fixGmailRefused},
	{Provider: ProviderGoogle, Layer: LayerSMTP, Code: "535 5.7.8", Match: "Username and Password not accepted", Retried: true, Kind: Misconfigured,
		Summary: "Gmail refused a token fresh from Google too: it lacks the https://mail.google.com/ scope, or the user name is not the account that authorized.",
		Fix:     fixGmailFreshRefused},
	{Provider: ProviderGoogle, Layer: LayerSMTP, Code: "535 5.7.1", Match: "Username and Password not accepted", Kind: StaleToken,
		Summary: "Gmail refused the XOAUTH2 login: the access token is expired or invalid, lacks the https://mail.google.com/ scope, or the user name is not the account that authorized.",
		Fix:     fixGmailRefused},
	{Provider: ProviderGoogle, Layer: LayerSMTP, Code: "535 5.7.1", Match: "Username and Password not accepted", Retried: true, Kind: Misconfigured,
		Summary: "Gmail refused the XOAUTH2 login with a token fresh from Google too: it lacks the https://mail.google.com/ scope, or the user name is not the account that authorized.",
		Fix:     fixGmailFreshRefused},
	{Provider: ProviderGoogle, Layer: LayerSMTP, Code: "534 5.7.9", Match: "Application-specific password required", Kind: Misconfigured,
		Summary: "Gmail refused a password login on an account with 2-Step Verification.",
		Fix:     "Authenticate with XOAUTH2 and an OAuth token (from a service account with domain-wide delegation, or from the user's authorization) instead of the account password."},
	{Provider: ProviderGoogle, Layer: LayerSMTP, Code: "454 4.7.0", Match: "Too many login attempts", Kind: Transient,
		Summary: "Gmail is rate-limiting logins for this account.",
		Fix:     "Reuse authenticated connections (send many messages over each) and wait several minutes, not seconds, before logging in again."},
	{Provider: ProviderGoogle, Layer: LayerSMTP, Code: "550 5.4.5", Match: "Daily user sending limit exceeded", Kind: Transient,
		Summary: "The account reached Gmail's daily sending limit.",
		Fix:     "Wait up to 24 hours; keep under 2,000 messages a day per Workspace user (500 for trial accounts) and 100 recipients per message over SMTP, or spread the load over several accounts."},

	// Gmail IMAP (imap.gmail.com).
	{Provider: ProviderGoogle, Layer: LayerIMAP, Code: "NO [AUTHENTICATIONFAILED]", Match: "Invalid credentials", Kind: StaleToken,
		Summary: "Gmail refused the IMAP login: the access token is expired or invalid, lacks the https://mail.google.com/ scope, or the user name is not the account that authorized.",
		Fix:     fixGmailRefused},
	{Provider: ProviderGoogle, Layer: LayerIMAP, Code: "NO [AUTHENTICATIONFAILED]", Match: "Invalid credentials", Retried: true, Kind: Misconfigured,
		Summary: "Gmail refused the IMAP login with a token fresh from Google too: it lacks the https://mail.google.com/ scope, or the user name is not the account that authorized.",
		Fix:     fixGmailFreshRefused},
	{Provider: ProviderGoogle, Layer: LayerIMAP, Code: "[ALERT]", Match: "Too many simultaneous connections", Kind: Transient,
		Summary: "The account already has Gmail's maximum of 15 IMAP connections.",
		Fix:     "Close idle IMAP clients and keep one IMAP connection per mailbox; retry once a connection has closed."},
	{Provider: ProviderGoogle, Layer: LayerIMAP, Code: "[WEBALERT]", Kind: Reauthorize,
		Summary: "Gmail wants the account holder to sign in with a browser before it allows IMAP again.",
		Fix:     "Sign in to https://mail.google.com as this account, complete the verification Google asks for, then retry."},
	{Provider: ProviderGoogle, Layer: LayerIMAP, Code: "[ALERT]", Match: "Please log in via your web browser", Kind: Reauthorize,
		Summary: "Gmail wants the account holder to sign in with a browser before it allows IMAP again.",
		Fix:     "Sign in to https://mail.google.com as this account, complete the verification Google asks for, then retry."},
}
