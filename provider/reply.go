package provider

import "time"

// Reply is a server's answer as an error carries it, reduced to what
// Diagnose matches on. The errors of the transports (smtpx.Error,
// imapx.Error) and of the OAuth client (oauth.TokenError and its kin)
// implement Replier, so that Diagnose reads SMTP, IMAP and OAuth answers
// without importing a protocol library.
type Reply struct {
	// Layer says which catalogue entries the reply is matched against:
	// LayerSMTP, LayerIMAP, LayerOAuth or LayerGraph.
	Layer Layer
	// Code is the SMTP reply code, or the HTTP status of an OAuth or
	// Graph answer; zero when there is none.
	Code int
	// Enhanced is the SMTP enhanced status code of RFC 3463 ("5.7.139");
	// empty when the reply has none.
	Enhanced string
	// Status is the IMAP status: NO, BAD or BYE.
	Status string
	// Response is the IMAP response code ("AUTHENTICATIONFAILED"), the
	// OAuth error code ("invalid_grant"), or Microsoft Graph's error code
	// ("ErrorAccessDenied").
	Response string
	// Text is the reply's text, or the OAuth error_description. Whoever
	// builds a Reply scrubs secrets from it first.
	Text string
	// Wait is how long the server asked the client to wait (Retry-After,
	// "Suggested Backoff Time"); zero when it did not say.
	Wait time.Duration
	// Unusable marks an OAuth answer that is not one: not JSON, no access
	// token, an error without a code.
	Unusable bool
	// Endpoint names the endpoint of an OAuth answer: EndpointToken,
	// EndpointDeviceAuthorization or EndpointCallback; empty when not
	// known.
	Endpoint string
	// Retried reports that the server refused a token fresh from the
	// identity provider too, after the stale one was replaced: the cause
	// is the grant or the configuration, not a stale token.
	Retried bool
}

// The endpoints of an authorization server whose answers Diagnose tells
// apart (Reply.Endpoint, Entry.Endpoint), named as an operator reads them
// in a diagnosis.
const (
	// EndpointToken is the token endpoint (RFC 6749 section 3.2): every
	// grant, a device code's polls included.
	EndpointToken = "token endpoint"
	// EndpointDeviceAuthorization is the device authorization endpoint
	// (RFC 8628 section 3.1), where a device code is asked for.
	EndpointDeviceAuthorization = "device authorization endpoint"
	// EndpointCallback is the authorization endpoint's answer that a
	// browser brings back to the redirect URL (RFC 6749 section 4.1.2).
	EndpointCallback = "authorization callback"
)

// LayerGraph: an answer of the Microsoft Graph API (graphx): Code is the
// HTTP status, Response Graph's error code ("ErrorAccessDenied",
// "ApplicationThrottled"), Text its message. Graph's answers are not a
// token endpoint's, so they have a layer of their own: read as LayerOAuth,
// a 429 would be taken for the identity provider throttling token requests.
const LayerGraph Layer = "graph"

// A Replier is an error that carries a server's Reply.
type Replier interface {
	Reply() Reply
}
