package provider

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/auth"
)

// entraBody is an Entra error answer in its real format.
func entraBody(code int, errName, text string) string {
	b, _ := json.Marshal(map[string]any{
		"error":             errName,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\r\nCorrelation ID: 11111111-2222-3333-4444-555555555555\r\nTimestamp: 2026-11-02 10:11:12Z", code, text),
		"error_codes":       []int{code},
		"timestamp":         "2026-11-02 10:11:12Z",
		"trace_id":          "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
		"correlation_id":    "11111111-2222-3333-4444-555555555555",
		"error_uri":         fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", code),
	})
	return string(b)
}

// replyErr is a transport's or the OAuth client's error as Diagnose sees
// it: a Replier around its cause.
type replyErr struct {
	r   Reply
	err error
}

func (e *replyErr) Error() string {
	if e.err != nil {
		return "reply: " + e.r.Text + ": " + e.err.Error()
	}
	return "reply: " + e.r.Text
}
func (e *replyErr) Reply() Reply  { return e.r }
func (e *replyErr) Unwrap() error { return e.err }

// tokenErr is body answered with status, wrapped the way the OAuth client
// and a provider package wrap it: a Replier around the RetrieveError.
func tokenErr(status int, body string) error {
	resp := &http.Response{StatusCode: status, Status: http.StatusText(status), Header: http.Header{"Content-Type": {"application/json"}}}
	re := &oauth2.RetrieveError{Response: resp, Body: []byte(body)}
	var ej struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
		ErrorURI         string `json:"error_uri"`
	}
	if json.Unmarshal([]byte(body), &ej) == nil {
		re.ErrorCode, re.ErrorDescription, re.ErrorURI = ej.Error, ej.ErrorDescription, ej.ErrorURI
	}
	r := Reply{Layer: LayerOAuth, Code: status, Response: re.ErrorCode, Text: re.ErrorDescription}
	if status != http.StatusTooManyRequests && status < 500 && re.ErrorCode == "" {
		r = Reply{Layer: LayerOAuth, Code: status, Unusable: true}
	}
	return fmt.Errorf("smtpx: token: %w", fmt.Errorf("entra: token for mailbox@contoso.com: %w", &replyErr{r: r, err: re}))
}

// unavailable is an HTTP 429 or 5xx answer with a Retry-After.
func unavailable(status int, wait time.Duration, re *oauth2.RetrieveError) error {
	r := Reply{Layer: LayerOAuth, Code: status, Wait: wait}
	if re != nil {
		r.Response, r.Text = re.ErrorCode, re.ErrorDescription
	}
	var cause error
	if re != nil {
		cause = re
	}
	return &replyErr{r: r, err: cause}
}

// callbackErr is the identity provider's error on an authorization
// callback.
func callbackErr(code, description string) error {
	return &replyErr{r: Reply{Layer: LayerOAuth, Response: code, Text: description, Endpoint: EndpointCallback}}
}

// atEndpoint marks the OAuth answers in err as answers of endpoint, as the
// OAuth client marks its errors.
func atEndpoint(endpoint string, err error) error {
	walk(err, func(e error) {
		if re, ok := e.(*replyErr); ok && re.r.Layer == LayerOAuth {
			re.r.Endpoint = endpoint
		}
	})
	return err
}

// smtpErr is an SMTP reply as smtpx carries it.
func smtpErr(code int, enhanced, text string) error {
	return &replyErr{r: Reply{Layer: LayerSMTP, Code: code, Enhanced: enhanced, Text: text}}
}

// imapErr is an IMAP status response as imapx carries it.
func imapErr(status, code, text string) error {
	return &replyErr{r: Reply{Layer: LayerIMAP, Status: status, Response: code, Text: text}}
}

// smtpReply parses reply (lines separated by \n, each "NNN-text" or "NNN
// text") as go-smtp does, enhanced code taken from the first line and
// dropped from the others, and returns it wrapped twice, as smtpx wraps
// it.
func smtpReply(t *testing.T, reply string) error {
	t.Helper()
	lines := strings.Split(reply, "\n")
	code, err := strconv.Atoi(lines[0][:3])
	if err != nil {
		t.Fatalf("reply %q has no code", reply)
	}
	for i, l := range lines {
		lines[i] = l[min(4, len(l)):]
	}
	msg := strings.Join(lines, "\n")
	enhanced, text := splitEnhanced(msg)
	if enhanced != "" {
		text = strings.ReplaceAll(text, "\n"+enhanced+" ", "\n")
	}
	return fmt.Errorf("smtpx: send: %w", fmt.Errorf("smtpx: MAIL FROM: %w", smtpErr(code, enhanced, text)))
}

// imapReply parses resp ("NO [CODE arg] text", "* BYE text") as a status
// response and returns it wrapped twice, as imapx wraps it.
func imapReply(t *testing.T, resp string) error {
	t.Helper()
	status, rest, _ := strings.Cut(strings.TrimPrefix(resp, "* "), " ")
	var code string
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			t.Fatalf("response %q has an unclosed code", resp)
		}
		code, _, _ = strings.Cut(rest[1:end], " ")
		rest = strings.TrimSpace(rest[end+1:])
	}
	return fmt.Errorf("imapx: login: %w", fmt.Errorf("imapx: AUTHENTICATE: %w", imapErr(strings.ToUpper(status), code, rest)))
}

func challenge(raw string) error {
	return fmt.Errorf("smtpx: auth: %w", fmt.Errorf("XOAUTH2: %w", auth.ParseChallenge([]byte(raw))))
}

type diagCase struct {
	name string
	err  func(t *testing.T) error
	// the entry expected
	provider string
	layer    Layer
	code     string // entry code
	match    string // entry match
	retried  bool   // entry Retried
	// the diagnosis expected
	kind    Kind
	diagCod string // Diagnosis.Code when it differs from the entry's code
	fixHas  string // the concrete step the Fix must name
}

func entra(code int, errName, text string, kind Kind, fixHas string) diagCase {
	return diagCase{
		name:     "AADSTS" + strconv.Itoa(code),
		err:      func(*testing.T) error { return tokenErr(400, entraBody(code, errName, text)) },
		provider: ProviderEntra, layer: LayerOAuth, code: "AADSTS" + strconv.Itoa(code),
		kind: kind, fixHas: fixHas,
	}
}

func oauthCase(name string, status int, body, provider, code, match string, kind Kind, fixHas string) diagCase {
	return diagCase{
		name:     name,
		err:      func(*testing.T) error { return tokenErr(status, body) },
		provider: provider, layer: LayerOAuth, code: code, match: match, kind: kind, fixHas: fixHas,
	}
}

func smtpCase(reply, provider, code, match string, kind Kind, fixHas string) diagCase {
	return diagCase{
		name:     reply,
		err:      func(t *testing.T) error { return smtpReply(t, reply) },
		provider: provider, layer: LayerSMTP, code: code, match: match, kind: kind, fixHas: fixHas,
	}
}

func imapCase(resp, provider, code, match string, kind Kind, fixHas string) diagCase {
	return diagCase{
		name:     resp,
		err:      func(t *testing.T) error { return imapReply(t, resp) },
		provider: provider, layer: LayerIMAP, code: code, match: match, kind: kind, fixHas: fixHas,
	}
}

// afterRetry is c's failure once a token fresh from the identity provider
// was refused too: the transport marks its reply Retried. The entry
// expected is c's variant for that refusal, with kind and a Fix naming
// fixHas.
func afterRetry(c diagCase, kind Kind, fixHas string) diagCase {
	build := c.err
	c.name = "after a fresh token: " + c.name
	c.err = func(t *testing.T) error { return retried(build(t)) }
	c.retried, c.kind, c.fixHas = true, kind, fixHas
	return c
}

// retried marks the server's reply in err as the answer to a fresh token
// (Reply.Retried), as smtpx and imapx do after their one retry. A SASL
// challenge alone gets the IMAP refusal that follows it in a transport's
// error, a NO without a response code.
func retried(err error) error {
	marked := false
	walk(err, func(e error) {
		if re, ok := e.(*replyErr); ok {
			re.r.Retried, marked = true, true
		}
	})
	if !marked {
		err = &replyErr{r: Reply{Layer: LayerIMAP, Status: "NO", Text: "Authentication failed.", Retried: true}, err: err}
	}
	return err
}

func errCase(name string, err error, layer Layer, code string, kind Kind, fixHas string) diagCase {
	return diagCase{
		name:     name,
		err:      func(*testing.T) error { return err },
		provider: ProviderGeneric, layer: layer, code: code, kind: kind, fixHas: fixHas,
	}
}

const (
	appsPath   = "App registrations → <app>"
	setCAS     = "Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false"
	addMbxPerm = "Add-MailboxPermission -Identity <mailbox> -User <service principal id> -AccessRights FullAccess"
	sendAs     = "Add-RecipientPermission -Identity <from address> -Trustee <mailbox or service principal> -AccessRights SendAs"
	signIns    = "Monitoring & health → Sign-in logs"
	reauth     = "Run the authorization again"
)

// The refusals of a token that a transport answers by refreshing the
// token and trying once more; afterRetry gives each its second refusal.
// Exchange's are Misconfigured from the first: its reply is the same for
// every cause, and the library refreshes a token long before it expires.
var (
	refreshFirst = "Refresh the token and retry once"
	exchange535  = smtpCase("535 5.7.3 Authentication unsuccessful [SN4PR0601CA0005.namprd06.prod.outlook.com]",
		ProviderExchange, "535 5.7.3", "", Misconfigured, addMbxPerm)
	exchangeIMAP = imapCase("NO AUTHENTICATE failed.",
		ProviderExchange, "NO", "AUTHENTICATE failed", Misconfigured, "Get-CASMailbox -Identity <mailbox> | fl ImapEnabled")
	gmail578 = smtpCase("535-5.7.8 Username and Password not accepted. For more information, go to\n535 5.7.8  https://support.google.com/mail/?p=BadCredentials d9-20020a05600c - gsmtp",
		ProviderGoogle, "535 5.7.8", "Username and Password not accepted", StaleToken, "https://mail.google.com/")
	gmail571 = smtpCase("535-5.7.1 Username and Password not accepted. Learn more at\n535 5.7.1 https://support.google.com/mail/?p=BadCredentials",
		ProviderGoogle, "535 5.7.1", "Username and Password not accepted", StaleToken, "https://mail.google.com/")
	gmailIMAP = imapCase("NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)",
		ProviderGoogle, "NO [AUTHENTICATIONFAILED]", "Invalid credentials", StaleToken, "https://mail.google.com/")
	generic578   = smtpCase("535 5.7.8 Authentication failed.", ProviderGeneric, "5.7.8", "", StaleToken, refreshFirst)
	generic535   = smtpCase("535 Authentication credentials invalid", ProviderGeneric, "535", "", StaleToken, refreshFirst)
	genericIMAP  = imapCase("NO [AUTHENTICATIONFAILED] Authentication failed.", ProviderGeneric, "[AUTHENTICATIONFAILED]", "", StaleToken, refreshFirst)
	challenge401 = diagCase{name: "google XOAUTH2 challenge", err: func(*testing.T) error {
		return challenge(`{"status":"401","schemes":"bearer mac","scope":"https://mail.google.com/"}` + "\n")
	}, provider: ProviderGeneric, layer: LayerSASL, code: "401", kind: StaleToken, fixHas: refreshFirst}
	challengeInvalidToken = diagCase{name: "OAUTHBEARER challenge", err: func(*testing.T) error {
		return challenge(`{"status":"invalid_token","openid-configuration":"https://auth.example/.well-known/openid-configuration"}`)
	}, provider: ProviderGeneric, layer: LayerSASL, code: "invalid_token", kind: StaleToken, fixHas: refreshFirst}
	challengeNotJSON = diagCase{name: "challenge that is not JSON", err: func(*testing.T) error {
		return challenge("nope")
	}, provider: ProviderGeneric, layer: LayerSASL, code: codeChallenge, kind: StaleToken, fixHas: refreshFirst}
)

func diagCases(t *testing.T) []diagCase {
	cases := []diagCase{
		// Entra ID, every AADSTS code of the facts sheet, in its real body format.
		entra(7000215, "invalid_client", "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '3f1c'.", Misconfigured, "copy the secret's Value column (not its Secret ID)"),
		entra(7000222, "invalid_client", "The provided client secret keys for app '3f1c' are expired. Visit the Azure portal to create new keys for your app.", Misconfigured, "Certificates & secrets, give its Value to the program as its client secret"),
		entra(7000218, "invalid_client", "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.", Misconfigured, "Allow public client flows to Yes"),
		entra(700025, "invalid_client", "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.", Misconfigured, "Allow public client flows to No"),
		entra(700027, "invalid_client", "Client assertion failed signature validation.", Misconfigured, "Certificates → Upload certificate"),
		entra(700024, "invalid_client", "Client assertion is not within its valid time range. Current time: 2026-11-02T10:00:00Z, assertion valid from 2026-11-02T11:00:00Z, expiry time of assertion 2026-11-02T11:10:00Z.", Misconfigured, "timedatectl set-ntp true"),
		entra(700016, "unauthorized_client", "Application with identifier '3f1c' was not found in the directory 'contoso'.", Misconfigured, appsPath+" → Overview"),
		entra(700011, "unauthorized_client", "Application with identifier '3f1c' was not found in the organization's tenant.", Misconfigured, appsPath+" → Overview"),
		entra(90002, "invalid_request", "Tenant 'contoso.onmicrosoft.con' not found.", Misconfigured, "Directory (tenant) ID"),
		entra(90038, "invalid_request", "Tenant is in a different national cloud.", Misconfigured, "login.microsoftonline.us"),
		entra(50194, "invalid_request", "Application is not configured as a multi-tenant application.", Misconfigured, "Supported account types"),
		entra(50011, "invalid_request", "The redirect URI specified in the request does not match the redirect URIs configured for the application.", Misconfigured, "Web → Redirect URIs"),
		entra(65001, "invalid_grant", "The user or administrator has not consented to use the application.", Reauthorize, "Grant admin consent for <tenant>"),
		entra(650052, "invalid_request", "The app needs access to a service that your organization has not subscribed to or enabled.", Misconfigured, "Billing → Licenses"),
		entra(650056, "invalid_request", "Misconfigured application.", Misconfigured, "API permissions → Add a permission"),
		entra(650057, "invalid_client", "Invalid resource. The client has requested access to a resource which is not listed in the requested permissions.", Misconfigured, "APIs my organization uses"),
		entra(500011, "invalid_resource", "The resource principal named https://outlook.office365.com was not found in the tenant.", Misconfigured, "https://outlook.office365.com/.default"),
		entra(70011, "invalid_scope", "The provided value for the input parameter 'scope' is not valid.", Misconfigured, "https://outlook.office.com/SMTP.Send"),
		entra(700022, "invalid_scope", "The provided value for the input parameter scope is not valid because it contains more than one resource.", Misconfigured, "separate one"),
		entra(1002012, "invalid_scope", "The provided value for scope SMTP.SendAsApp is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.", Misconfigured, "https://outlook.office365.com/.default"),
		entra(70008, "invalid_grant", "The provided authorization code or refresh token has expired due to inactivity.", Reauthorize, reauth),
		entra(700082, "invalid_grant", "The refresh token has expired due to inactivity.", Reauthorize, "keep the grant alive"),
		entra(700084, "invalid_grant", "The refresh token was issued to a single page app (SPA), and therefore has a fixed, limited lifetime of 1 day.", Reauthorize, "Authentication → Web"),
		entra(50173, "invalid_grant", "The provided grant has expired due to it being revoked, a fresh auth token is needed.", Reauthorize, reauth),
		entra(70043, "invalid_grant", "The refresh token has expired or is invalid due to sign-in frequency checks by conditional access.", Reauthorize, "Sign-in frequency"),
		entra(70000, "invalid_grant", "Provided grant is invalid or malformed.", Reauthorize, "Risky users"),
		entra(54005, "invalid_grant", "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.", Reauthorize, "redeem each code once"),
		entra(501481, "invalid_grant", "The Code_Verifier does not match the code_challenge supplied in the authorization request.", Misconfigured, "code_verifier"),
		entra(50076, "invalid_grant", "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication.", Reauthorize, "device code or the authorization-code page"),
		entra(50079, "interaction_required", "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication.", Reauthorize, "https://aka.ms/mfasetup"),
		entra(50074, "interaction_required", "Strong Authentication is required.", Reauthorize, "MFA prompt"),
		entra(50078, "interaction_required", "Presented multi-factor authentication has expired due to policies configured by your administrator.", Reauthorize, "MFA prompt"),
		entra(53003, "invalid_grant", "Access has been blocked by Conditional Access policies.", Misconfigured, signIns),
		entra(530035, "invalid_grant", "Access has been blocked by security defaults.", Misconfigured, "Manage security defaults"),
		entra(50126, "invalid_grant", "Error validating credentials due to invalid username or password.", Misconfigured, "device-code flow"),
		entra(50053, "invalid_grant", "Your account is locked because you've tried to sign in too many times with an incorrect user ID or password.", Misconfigured, "Risky sign-ins"),
		entra(50057, "invalid_grant", "The user account is disabled.", Misconfigured, "Update-MgUser -UserId <upn> -AccountEnabled:$true"),
		entra(50034, "invalid_grant", "The user account does not exist in the contoso.com directory.", Misconfigured, "the program's tenant ID"),
		entra(50020, "invalid_grant", "User account from identity provider 'live.com' does not exist in tenant 'Contoso' and cannot access the application.", Misconfigured, "Invite external user"),
		entra(9002313, "invalid_request", "Invalid request. Request is malformed or invalid.", Misconfigured, "not a placeholder"),
		entra(900144, "invalid_request", "The request body must contain the following parameter: 'grant_type'.", Misconfigured, "client ID, tenant ID, the scope"),
		entra(90014, "invalid_request", "The required field 'scope' is missing from the credential.", Misconfigured, "the scope"),
		entra(70003, "unsupported_grant_type", "The app requested an unsupported grant type 'password2'.", Misconfigured, "/{tenant}/oauth2/v2.0/token"),
		entra(70016, "authorization_pending", "OAuth 2.0 device flow error. Authorization is pending. Continue polling.", Transient, "https://microsoft.com/devicelogin"),
		entra(70018, "bad_verification_code", "Invalid verification code was entered.", Misconfigured, "not the user_code"),
		entra(70019, "expired_token", "Verification code expired.", Reauthorize, "device-code authorization again"),
		entra(50196, "temporarily_unavailable", "The server terminated an operation because it encountered a client request loop.", Transient, "instead of requesting one per message"),
		entra(90055, "temporarily_unavailable", "The tenant is throttled.", Transient, "Retry-After"),

		// Entra's suberror decides when the AADSTS number is not in the catalogue.
		oauthCase("suberror basic_action", 400, `{"error":"interaction_required","error_description":"AADSTS50158: External security challenge not satisfied.","error_codes":[50158],"suberror":"basic_action"}`,
			ProviderEntra, "basic_action", "", Reauthorize, "device code or the authorization-code page"),
		oauthCase("suberror additional_action", 400, `{"error":"interaction_required","error_description":"AADSTS50072: User needs to enroll.","error_codes":[50072],"suberror":"additional_action"}`,
			ProviderEntra, "additional_action", "", Reauthorize, "device code or the authorization-code page"),
		oauthCase("suberror user_password_expired", 400, `{"error":"invalid_grant","error_description":"AADSTS50055: The password is expired.","error_codes":[50055],"suberror":"user_password_expired"}`,
			ProviderEntra, "user_password_expired", "", Reauthorize, "https://myaccount.microsoft.com"),
		oauthCase("suberror bad_token", 400, `{"error":"invalid_grant","error_description":"AADSTS9002341: The token is bad.","error_codes":[9002341],"suberror":"bad_token"}`,
			ProviderEntra, "bad_token", "", Reauthorize, reauth),

		// Exchange Online SMTP, the exact replies of the facts sheet.
		smtpCase("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.",
			ProviderExchange, "535 5.7.139", "SmtpClientAuthentication is disabled for the Tenant", Misconfigured, "Set-TransportConfig -SmtpClientAuthenticationDisabled $false"),
		smtpCase("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information.",
			ProviderExchange, "535 5.7.139", "SmtpClientAuthentication is disabled for the Mailbox", Misconfigured, setCAS),
		smtpCase("535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator.",
			ProviderExchange, "535 5.7.139", "security defaults", Misconfigured, "Manage security defaults"),
		smtpCase("535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator.",
			ProviderExchange, "535 5.7.139", "did not meet the criteria to be authenticated", Misconfigured, signIns),
		smtpCase("535 5.7.139 Authentication unsuccessful, basic authentication is disabled.",
			ProviderExchange, "535 5.7.139", "basic authentication is disabled", Misconfigured, "Authenticate with XOAUTH2"),
		smtpCase("535 5.7.139 Authentication unsuccessful [BN0PR04CA0001.namprd04.prod.outlook.com 2026-11-02T10:11:12.000Z]",
			ProviderExchange, "535 5.7.139", "", Misconfigured, "Get-CASMailbox -Identity <mailbox> | fl SmtpClientAuthenticationDisabled"),
		exchange535,
		afterRetry(exchange535, Misconfigured, addMbxPerm),
		smtpCase("530 5.7.57 Client not authenticated to send mail. [DM6PR06CA0001.namprd06.prod.outlook.com]",
			ProviderExchange, "5.7.57", "", Misconfigured, setCAS),
		smtpCase("550 5.7.60 SMTP; Client does not have permissions to send as this sender",
			ProviderExchange, "5.7.60", "", Misconfigured, sendAs),
		smtpCase("554 5.2.252 SendAsDenied; notify@contoso.com not allowed to send as ceo@contoso.com; STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message [BeginDiagnosticData]Cannot submit message.",
			ProviderExchange, "554 5.2.252", "SendAsDenied", Misconfigured, sendAs),
		smtpCase("432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded",
			ProviderExchange, "432 4.3.2", "", Transient, "at most 3 concurrent connections per mailbox"),
		smtpCase("554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException",
			ProviderExchange, "554 5.2.0", "SubmissionQuotaExceeded", Transient, "24 hours"),
		smtpCase("554 5.2.2 mailbox full; STOREDRV.Submission.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded",
			ProviderExchange, "554 5.2.2", "QuotaExceeded", Misconfigured, "Set-Mailbox -Identity <mailbox> -ProhibitSendQuota"),
		smtpCase("550 5.1.8 Bad outbound sender",
			ProviderExchange, "550 5.1.8", "", Misconfigured, "Review → Restricted entities"),
		smtpCase("421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support TLS 1.2. Visit https://aka.ms/smtp_auth_tls.",
			ProviderExchange, "421 4.7.66", "", Misconfigured, "TLS 1.2 or later"),
		smtpCase("550 5.7.30 Basic authentication is not supported for Client Submission.",
			ProviderExchange, "550 5.7.30", "", Misconfigured, "Authenticate with XOAUTH2"),
		{name: "451 4.7.500 server busy", err: func(t *testing.T) error {
			return smtpReply(t, "451 4.7.500 Server busy. Please try again later from [203.0.113.7]. (AS761)")
		}, provider: ProviderExchange, layer: LayerSMTP, code: "4.7.500-699", kind: Transient, diagCod: "451 4.7.500", fixHas: "30 messages a minute"},
		{name: "451 4.7.650 server busy", err: func(t *testing.T) error {
			return smtpReply(t, "451 4.7.650 The mail server [203.0.113.7] has been temporarily rate limited due to IP reputation.")
		}, provider: ProviderExchange, layer: LayerSMTP, code: "4.7.500-699", kind: Transient, diagCod: "451 4.7.650", fixHas: "Back off"},
		smtpCase("501 5.5.127 Authentication token expires too soon",
			ProviderExchange, "501 5.5.127", "", StaleToken, "refresh margin"),

		// Exchange Online IMAP.
		exchangeIMAP,
		afterRetry(exchangeIMAP, Misconfigured, "Get-CASMailbox -Identity <mailbox> | fl ImapEnabled"),
		imapCase("NO AUTHENTICATE failed. Provided authentication mechanism is not supported.",
			ProviderExchange, "NO", "authentication mechanism is not supported", Misconfigured, "Authenticate with XOAUTH2"),
		imapCase("BAD User is authenticated but not connected.",
			ProviderExchange, "BAD", "User is authenticated but not connected", Misconfigured, "Set-CASMailbox -Identity <mailbox> -ImapEnabled $true"),
		imapCase("BAD Request is throttled. Suggested Backoff Time: 299961 milliseconds",
			ProviderExchange, "BAD", "Request is throttled", Transient, "Suggested Backoff Time"),
		imapCase("* BYE Session invalidated - AccessTokenExpired",
			ProviderExchange, "BYE", "AccessTokenExpired", StaleToken, "fresh token"),

		// Google token endpoint.
		oauthCase("google invalid_grant expired or revoked", 400, `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`,
			ProviderGoogle, "invalid_grant", "Token has been expired or revoked", Reauthorize, "Audience → Publish app"),
		oauthCase("google invalid_rapt", 400, `{"error":"invalid_grant","error_description":"reauth related error (invalid_rapt)","error_uri":"https://support.google.com/a/answer/9368756","error_subtype":"invalid_rapt"}`,
			ProviderGoogle, "invalid_rapt", "", Reauthorize, "Google Cloud session control"),
		oauthCase("google invalid JWT signature", 400, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`,
			ProviderGoogle, "invalid_grant", "Invalid JWT Signature", Misconfigured, "Keys → Add key"),
		oauthCase("google JWT time", 400, `{"error":"invalid_grant","error_description":"Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."}`,
			ProviderGoogle, "invalid_grant", "Token must be a short-lived token", Misconfigured, "timedatectl set-ntp true"),
		oauthCase("google domain-wide delegation", 401, `{"error":"unauthorized_client","error_description":"Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."}`,
			ProviderGoogle, "unauthorized_client", "Client is unauthorized to retrieve access tokens using this method", Misconfigured, "Manage Domain Wide Delegation"),
		oauthCase("google client not found", 401, `{"error":"invalid_client","error_description":"The OAuth client was not found."}`,
			ProviderGoogle, "invalid_client", "The OAuth client was not found", Misconfigured, "APIs & Services → Credentials"),
		oauthCase("google deleted client", 401, `{"error":"deleted_client","error_description":"The OAuth client was deleted."}`,
			ProviderGoogle, "deleted_client", "", Misconfigured, "Restore deleted credentials"),
		oauthCase("google admin policy", 400, `{"error":"admin_policy_enforced","error_description":"Your administrator has blocked this app."}`,
			ProviderGoogle, "admin_policy_enforced", "", Misconfigured, "Manage Third-Party App Access"),
		oauthCase("google org_internal", 403, `{"error":"org_internal","error_description":"This client is restricted to users within its organization."}`,
			ProviderGoogle, "org_internal", "", Misconfigured, "User type to External"),
		oauthCase("google device quota", 403, `{"error_code":"rate_limit_exceeded"}`,
			ProviderGoogle, "rate_limit_exceeded", "", Transient, "loopback authorization"),

		// Gmail SMTP and IMAP.
		gmail578,
		afterRetry(gmail578, Misconfigured, "scope https://mail.google.com/"),
		gmail571,
		afterRetry(gmail571, Misconfigured, "scope https://mail.google.com/"),
		smtpCase("534-5.7.9 Application-specific password required. Learn more at\n534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor - gsmtp",
			ProviderGoogle, "534 5.7.9", "Application-specific password required", Misconfigured, "service account with domain-wide delegation"),
		smtpCase("454-4.7.0 Too many login attempts, please try again later.\n454 4.7.0 https://support.google.com/mail/?p=LoginTooFrequent - gsmtp",
			ProviderGoogle, "454 4.7.0", "Too many login attempts", Transient, "Reuse authenticated connections"),
		smtpCase("550 5.4.5 Daily user sending limit exceeded.",
			ProviderGoogle, "550 5.4.5", "Daily user sending limit exceeded", Transient, "2,000 messages a day"),
		gmailIMAP,
		afterRetry(gmailIMAP, Misconfigured, "scope https://mail.google.com/"),
		imapCase("NO [ALERT] Too many simultaneous connections. (Failure)",
			ProviderGoogle, "[ALERT]", "Too many simultaneous connections", Transient, "one IMAP connection per mailbox"),
		imapCase("NO [WEBALERT https://accounts.google.com/signin/continue?sarp=1&scc=1&plt=AKgnsbs] Web login required.",
			ProviderGoogle, "[WEBALERT]", "", Reauthorize, "https://mail.google.com"),
		imapCase("NO [ALERT] Please log in via your web browser: https://support.google.com/mail/accounts/answer/78754 (Failure)",
			ProviderGoogle, "[ALERT]", "Please log in via your web browser", Reauthorize, "https://mail.google.com"),

		// Generic OAuth answers, from token endpoints and callbacks.
		oauthCase("generic invalid_grant", 400, `{"error":"invalid_grant","error_description":"Token is not active"}`,
			ProviderGeneric, "invalid_grant", "", Reauthorize, reauth),
		oauthCase("entra unknown code falls back to error", 401, entraBody(7999999, "invalid_client", "Something new."),
			ProviderGeneric, "invalid_client", "", Misconfigured, "create a new secret"),
		{name: "invalid_client at the device authorization endpoint", err: func(*testing.T) error {
			return atEndpoint(EndpointDeviceAuthorization, tokenErr(401, `{"error":"invalid_client","error_description":"client authentication failed"}`))
		}, provider: ProviderGeneric, layer: LayerOAuth, code: "invalid_client", kind: Misconfigured, fixHas: "the secret itself need not change"},
		{name: "invalid_client at the token endpoint", err: func(*testing.T) error {
			return atEndpoint(EndpointToken, tokenErr(401, `{"error":"invalid_client","error_description":"client authentication failed"}`))
		}, provider: ProviderGeneric, layer: LayerOAuth, code: "invalid_client", kind: Misconfigured, fixHas: "private_key_jwt"},
		oauthCase("invalid_target", 400, `{"error":"invalid_target","error_description":"resource indicator is missing, or unknown"}`,
			ProviderGeneric, "invalid_target", "", Misconfigured, "resource indicator"),
		oauthCase("generic unauthorized_client", 400, `{"error":"unauthorized_client","error_description":"Client not allowed for direct access grants"}`,
			ProviderGeneric, "unauthorized_client", "", Misconfigured, "Authentication"),
		oauthCase("generic invalid_request", 400, `{"error":"invalid_request","error_description":"Missing parameter: code_verifier"}`,
			ProviderGeneric, "invalid_request", "", Misconfigured, "parameter at fault"),
		oauthCase("generic invalid_scope", 400, `{"error":"invalid_scope","error_description":"Invalid scopes: mail"}`,
			ProviderGeneric, "invalid_scope", "", Misconfigured, "https://mail.google.com/"),
		oauthCase("generic unsupported_grant_type", 400, `{"error":"unsupported_grant_type"}`,
			ProviderGeneric, "unsupported_grant_type", "", Misconfigured, "token URL"),
		oauthCase("generic invalid_resource", 400, `{"error":"invalid_resource"}`,
			ProviderGeneric, "invalid_resource", "", Misconfigured, "https://outlook.office365.com/.default"),
		oauthCase("generic interaction_required", 400, `{"error":"interaction_required"}`,
			ProviderGeneric, "interaction_required", "", Reauthorize, "device code"),
		{name: "callback login_required", err: func(*testing.T) error {
			return fmt.Errorf("authcode: %w", callbackErr("login_required", "The user must sign in."))
		}, provider: ProviderGeneric, layer: LayerOAuth, code: "login_required", kind: Reauthorize, fixHas: "device code"},
		{name: "callback consent_required", err: func(*testing.T) error {
			return callbackErr("consent_required", "consent needed")
		}, provider: ProviderGeneric, layer: LayerOAuth, code: "consent_required", kind: Reauthorize, fixHas: "Grant admin consent"},
		{name: "callback access_denied with an unknown AADSTS", err: func(*testing.T) error {
			return fmt.Errorf("authcode: %w", callbackErr("access_denied", "AADSTS65004: User declined to consent to access the app."))
		}, provider: ProviderGeneric, layer: LayerOAuth, code: "access_denied", kind: Reauthorize, fixHas: "accept the requested permissions"},
		{name: "callback with a known AADSTS", err: func(*testing.T) error {
			return callbackErr("invalid_request", "AADSTS50011: The redirect URI 'https://helpdesk.example/cb' specified in the request does not match.")
		}, provider: ProviderEntra, layer: LayerOAuth, code: "AADSTS50011", kind: Misconfigured, fixHas: "Redirect URIs"},
		oauthCase("temporarily_unavailable on 503", 503, `{"error":"temporarily_unavailable","error_description":"Service is busy"}`,
			ProviderGeneric, "temporarily_unavailable", "", Transient, "Retry-After"),
		oauthCase("server_error on 500", 500, `{"error":"server_error"}`,
			ProviderGeneric, "server_error", "", Transient, "backoff"),
		oauthCase("google authorization_pending 428", 428, `{"error":"authorization_pending","error_description":"Precondition Required"}`,
			ProviderGeneric, "authorization_pending", "", Transient, "polling"),
		oauthCase("slow_down", 403, `{"error":"slow_down"}`,
			ProviderGeneric, "slow_down", "", Transient, "5 seconds"),
		oauthCase("expired_token", 400, `{"error":"expired_token"}`,
			ProviderGeneric, "expired_token", "", Reauthorize, "device-code authorization again"),
		oauthCase("authorization_declined", 400, `{"error":"authorization_declined"}`,
			ProviderGeneric, "authorization_declined", "", Reauthorize, "device-code authorization again"),
		oauthCase("bad_verification_code", 400, `{"error":"bad_verification_code"}`,
			ProviderGeneric, "bad_verification_code", "", Misconfigured, "not the user_code"),
		{name: "HTTP 429 with Retry-After", err: func(*testing.T) error {
			re := &oauth2.RetrieveError{Response: &http.Response{StatusCode: 429}, Body: []byte("Too Many Requests")}
			return fmt.Errorf("entra: %w", unavailable(429, 30*time.Second, re))
		}, provider: ProviderGeneric, layer: LayerOAuth, code: codeHTTP429, kind: Transient, diagCod: "HTTP 429", fixHas: "Retry-After"},
		{name: "HTTP 502 HTML", err: func(*testing.T) error { return tokenErr(502, `<html><body>Bad Gateway</body></html>`) },
			provider: ProviderGeneric, layer: LayerOAuth, code: codeHTTP5xx, kind: Transient, diagCod: "HTTP 502", fixHas: "backoff"},
		oauthCase("not a token endpoint", 404, `<html>Not Found</html>`,
			ProviderGeneric, codeUnusableAnswer, "", Misconfigured, "the login host of the tenant's cloud"),

		// Generic SMTP and IMAP (Dovecot, Postfix, RFC codes).
		generic578,
		afterRetry(generic578, Misconfigured, "audience"),
		generic535,
		afterRetry(generic535, Misconfigured, "audience"),
		smtpCase("454 4.7.0 Temporary authentication failure", ProviderGeneric, "454 4.7.0", "Temporary authentication failure", Transient, "Dovecot auth"),
		smtpCase("534 5.7.9 Authentication mechanism is too weak", ProviderGeneric, "5.7.9", "", Misconfigured, "XOAUTH2 or OAUTHBEARER"),
		smtpCase("504 5.5.4 Unrecognized authentication type", ProviderGeneric, "504", "", Misconfigured, "after AUTH in its EHLO answer"),
		smtpCase("452 4.5.3 Too many recipients", ProviderGeneric, "4xx", "", Transient, "connection and rate limits"),
		genericIMAP,
		afterRetry(genericIMAP, Misconfigured, "audience"),
		imapCase("NO [UNAVAILABLE] Temporary authentication failure. [mail:2026-11-02 10:11:12]", ProviderGeneric, "[UNAVAILABLE]", "", Transient, "Dovecot auth"),
		imapCase("NO [AUTHORIZATIONFAILED] Authorization failed", ProviderGeneric, "[AUTHORIZATIONFAILED]", "", Misconfigured, "user name"),

		// SASL error challenges, parsed by auth.
		challenge401,
		afterRetry(challenge401, Misconfigured, "scope field"),
		challengeInvalidToken,
		afterRetry(challengeInvalidToken, Misconfigured, "audience"),
		{name: "insufficient_scope challenge", err: func(*testing.T) error {
			return challenge(`{"status":"insufficient_scope","scope":"mail"}`)
		}, provider: ProviderGeneric, layer: LayerSASL, code: "insufficient_scope", kind: Misconfigured, fixHas: "scope field"},
		challengeNotJSON,
		afterRetry(challengeNotJSON, Misconfigured, "audience"),

		// TLS, from real handshakes.
		{name: "TLS version refused", err: func(t *testing.T) error { return tlsHandshake(t, tlsVersionRefused) },
			provider: ProviderGeneric, layer: LayerTLS, code: codeTLSVersion, kind: Misconfigured, fixHas: "TLS 1.2 or later"},
		{name: "untrusted certificate", err: func(t *testing.T) error { return tlsHandshake(t, tlsUntrusted) },
			provider: ProviderGeneric, layer: LayerTLS, code: codeCertificate, kind: Misconfigured, fixHas: "host name on its certificate"},
		{name: "plaintext server on a TLS port", err: func(t *testing.T) error { return tlsHandshake(t, tlsPlaintextPeer) },
			provider: ProviderGeneric, layer: LayerTLS, code: codeNotTLS, kind: Misconfigured, fixHas: "STARTTLS on ports 587 and 143"},

		// Network.
		errCase("deadline", netErr(&url.Error{Op: "Post", URL: "https://login.example/token", Err: context.DeadlineExceeded}),
			LayerNetwork, codeTimeout, Transient, "firewalls"),
		errCase("unexpected EOF", fmt.Errorf("imapx: FETCH: %w", io.ErrUnexpectedEOF), LayerNetwork, codeEOF, Transient, "new connection"),
		errCase("EOF during a token request", netErr(&url.Error{Op: "Post", URL: "https://login.example/token", Err: io.EOF}),
			LayerNetwork, codeEOF, Transient, "new connection"),
		errCase("connection reset", netErr(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}),
			LayerNetwork, codeReset, Transient, "new connection"),
		{name: "connection refused", err: dialClosedPort, provider: ProviderGeneric, layer: LayerNetwork, code: codeRefused, kind: Transient, fixHas: "host name and port"},
		errCase("DNS", fmt.Errorf("smtpx: dial: %w", &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "smtp.office365.con", IsNotFound: true}}),
			LayerNetwork, codeDNS, Transient, "server's host name"),
		errCase("other network error", &net.OpError{Op: "write", Net: "tcp", Err: errors.New("broken link")}, LayerNetwork, codeNetwork, Transient, "firewalls"),

		// The local token store and the program's configuration.
		errCase("encrypted grant read without the key", fromStore(codeStoreNoKey), LayerStore, codeStoreNoKey, Misconfigured, "store key the grant was saved with"),
		errCase("encrypted grant read with another key", fromStore(codeStoreWrongKey), LayerStore, codeStoreWrongKey, Misconfigured, "record was altered"),
		errCase("corrupt grant", fromStore(codeStoreCorrupt), LayerStore, codeStoreCorrupt, Reauthorize, "authorize the mailbox again"),
		errCase("configuration error", fmt.Errorf("entra: %w", &ConfigError{Package: "entra", Field: "ClientID", Reason: "the client ID is empty"}),
			LayerConfig, codeConfig, Misconfigured, "Correct the setting"),
	}
	return cases
}

// TestDiagnoseCatalogue checks, for every entry of the catalogue, that the
// error it describes, built and wrapped the way our layers build and wrap
// it, is diagnosed with that entry: its Kind, its Code and a Fix that names
// the concrete step.
func TestDiagnoseCatalogue(t *testing.T) {
	covered := map[*Entry]bool{}
	for _, tc := range diagCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err(t)
			d, e := diagnose(err)
			if d == nil || e == nil {
				t.Fatalf("Diagnose(%v) = nil", err)
			}
			if e.Provider != tc.provider || e.Layer != tc.layer || e.Code != tc.code || e.Match != tc.match || e.Retried != tc.retried {
				t.Fatalf("entry = %s/%s %q %q retried %v, want %s/%s %q %q retried %v\nerror: %v",
					e.Provider, e.Layer, e.Code, e.Match, e.Retried, tc.provider, tc.layer, tc.code, tc.match, tc.retried, err)
			}
			covered[e] = true
			if d.Kind != tc.kind {
				t.Errorf("Kind = %v, want %v", d.Kind, tc.kind)
			}
			wantCode := tc.code
			if tc.diagCod != "" {
				wantCode = tc.diagCod
			}
			if d.Code != wantCode {
				t.Errorf("Code = %q, want %q", d.Code, wantCode)
			}
			if !strings.Contains(d.Fix, tc.fixHas) {
				t.Errorf("Fix = %q, want it to name %q", d.Fix, tc.fixHas)
			}
			if again := Diagnose(err); again == nil || *again != *d {
				t.Errorf("Diagnose is not deterministic: %+v then %+v", d, again)
			}
		})
	}
	for _, entries := range catalogueIndex.byLayer {
		for _, e := range entries {
			if !covered[e] {
				t.Errorf("no test case reaches catalogue entry %s/%s %q %q retried %v", e.Provider, e.Layer, e.Code, e.Match, e.Retried)
			}
		}
	}
}

// TestFreshTokenRefusedIsNeverStale replays every failure the catalogue
// calls StaleToken as the refusal of a token fresh from the identity
// provider: the transport has refreshed and retried already, so "refresh
// the token and retry once" is never the answer again.
func TestFreshTokenRefusedIsNeverStale(t *testing.T) {
	n := 0
	for _, tc := range diagCases(t) {
		if tc.kind != StaleToken {
			continue
		}
		n++
		err := retried(tc.err(t))
		if d := Diagnose(err); d != nil && d.Kind == StaleToken {
			t.Errorf("%s, refused to a fresh token too: %v", tc.name, d)
		}
	}
	if n < 10 {
		t.Fatalf("only %d StaleToken cases", n)
	}
}

func TestCatalogueIsWellFormed(t *testing.T) {
	all := Catalogue()
	n := 0
	for _, l := range catalogueIndex.byLayer {
		n += len(l)
	}
	if len(all) != n {
		t.Fatalf("Catalogue has %d entries, the index %d", len(all), n)
	}
	oneSentence := regexp.MustCompile(`[.!?]\s+[A-Z]`)
	type entryKey struct {
		provider, layer, code, match, endpoint string
		retried                                bool
	}
	seen := map[entryKey]*Entry{}
	for i, e := range all {
		key := entryKey{e.Provider, string(e.Layer), e.Code, e.Match, e.Endpoint, e.Retried}
		if e.Endpoint != "" && (e.Layer != LayerOAuth || endpointWords[e.Endpoint] == "") {
			t.Errorf("%v: Endpoint %q is not an OAuth endpoint", key, e.Endpoint)
		}
		if seen[key] != nil {
			t.Errorf("duplicate entry %v", key)
		}
		seen[key] = &all[i]
		if e.Kind < Transient || e.Kind > Misconfigured {
			t.Errorf("%v: bad Kind %d", key, e.Kind)
		}
		if !strings.HasSuffix(e.Summary, ".") || oneSentence.MatchString(e.Summary) {
			t.Errorf("%v: Summary is not one sentence: %q", key, e.Summary)
		}
		if len(e.Fix) < 20 || !strings.HasSuffix(e.Fix, ".") {
			t.Errorf("%v: Fix too thin: %q", key, e.Fix)
		}
		switch e.Provider {
		case ProviderEntra, ProviderExchange, ProviderGoogle, ProviderGeneric:
		default:
			t.Errorf("%v: unknown provider", key)
		}
		if (e.Layer == LayerNetwork || e.Code == codeHTTP429 || e.Code == codeHTTP5xx) && e.Kind != Transient {
			t.Errorf("%v: a network or HTTP 429/5xx failure must be Transient, is %v", key, e.Kind)
		}
	}
	// A refusal of a fresh token is a variant of the first refusal, and
	// never a stale token.
	for key, e := range seen {
		if !e.Retried {
			continue
		}
		first := key
		first.retried = false
		if seen[first] == nil {
			t.Errorf("%v: a Retried entry without an entry for the first refusal", key)
		}
		if e.Kind == StaleToken {
			t.Errorf("%v: a fresh token refused too is no stale token", key)
		}
	}
	// The copy is the caller's.
	all[0].Fix = "changed"
	if Catalogue()[0].Fix == "changed" {
		t.Error("Catalogue returned the table itself")
	}
}

// TestUnavailableIsNeverReauthorize answers every code the catalogue
// classes Reauthorize or Misconfigured with HTTP 5xx and 429: the endpoint's
// failure wins, and the result is Transient.
func TestUnavailableIsNeverReauthorize(t *testing.T) {
	for _, e := range catalogueIndex.byLayer[LayerOAuth] {
		if e.Kind == Transient {
			continue
		}
		body := fmt.Sprintf(`{"error":%q,"error_description":%q}`, e.Code, e.Match)
		if strings.HasPrefix(e.Code, "AADSTS") {
			n, _ := strconv.Atoi(strings.TrimPrefix(e.Code, "AADSTS"))
			body = entraBody(n, "invalid_grant", "x")
		}
		for _, status := range []int{500, 502, 503, 504, 429} {
			d := Diagnose(tokenErr(status, body))
			if d == nil || d.Kind != Transient {
				t.Errorf("%s answered with HTTP %d: %+v, want Transient", e.Code, status, d)
			}
		}
	}
	// An Entra throttling code keeps its own, more specific, entry.
	d := Diagnose(tokenErr(429, entraBody(90055, "temporarily_unavailable", "The tenant is throttled.")))
	if d == nil || d.Code != "AADSTS90055" || d.Kind != Transient {
		t.Errorf("429 with AADSTS90055: %+v", d)
	}
	// And a retry delay the server gives is in the summary.
	d = Diagnose(unavailable(503, 2*time.Minute, &oauth2.RetrieveError{Response: &http.Response{StatusCode: 503}, Body: []byte("busy")}))
	if d == nil || d.Code != "HTTP 503" || !strings.Contains(d.Summary, "retry after 2m0s") {
		t.Errorf("503 with Retry-After: %+v", d)
	}
}

func TestDiagnosePrecedence(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode string
		wantKind Kind
	}{
		{"AADSTS code beats the OAuth error", tokenErr(401, entraBody(7000222, "invalid_client", "expired")), "AADSTS7000222", Misconfigured},
		{"AADSTS code beats the suberror", tokenErr(400, `{"error":"invalid_grant","error_description":"AADSTS65001: no consent","error_codes":[65001],"suberror":"consent_required"}`), "AADSTS65001", Reauthorize},
		{"first known of several error_codes", tokenErr(400, `{"error":"invalid_grant","error_codes":[1234567,50076]}`), "AADSTS50076", Reauthorize},
		{"AADSTS in a description without error_codes", tokenErr(400, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`), "AADSTS7000215", Misconfigured},
		{"SMTP reply beats the challenge before it", errors.Join(
			auth.ParseChallenge([]byte(`{"status":"401","schemes":"Bearer"}`)),
			fmt.Errorf("535: %w", smtpErr(535, "5.7.139", "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox.")),
		), "535 5.7.139", Misconfigured},
		{"a policy refusal after a fresh token keeps its entry", retried(smtpErr(535, "5.7.139", "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox.")),
			"535 5.7.139", Misconfigured},
		{"a fresh token refused reaches the challenge beside the reply", retried(fmt.Errorf("imapx: %w", errors.Join(
			imapErr("NO", "", "Authentication failed."), auth.ParseChallenge([]byte(`{"status":"invalid_token"}`))))),
			"invalid_token", Misconfigured},
		{"a BYE beats the EOF it caused", errors.Join(io.ErrUnexpectedEOF, imapErr("BYE", "", "Session invalidated - AccessTokenExpired")), "BYE", StaleToken},
		{"a certificate error beats the network error around it", netErr(&url.Error{Op: "Post", URL: "https://x", Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}), codeCertificate, Misconfigured},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Diagnose(tt.err)
			if d == nil || d.Code != tt.wantCode || d.Kind != tt.wantKind {
				t.Fatalf("Diagnose = %+v, want %s %v", d, tt.wantCode, tt.wantKind)
			}
		})
	}
}

// TestDiagnoseTextScan covers errors whose types were lost (wrapped with %v
// or turned into text): codes in the text still pick catalogue entries, and
// nothing else.
func TestDiagnoseTextScan(t *testing.T) {
	tests := []struct {
		err      error
		wantCode string
		wantKind Kind
	}{
		{errors.New("token: oauth2: \"invalid_client\" \"AADSTS7000215: Invalid client secret provided.\""), "AADSTS7000215", Misconfigured},
		{errors.New("send: 535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."), "535 5.7.139", Misconfigured},
		{errors.New("relay said 432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded"), "432 4.3.2", Transient},
		{errors.New("relay said (451 4.7.612 Server busy)"), "451 4.7.612", Transient},
		{fmt.Errorf("imapx: session ended (* BYE Session invalidated - AccessTokenExpired): %w", io.ErrUnexpectedEOF), "BYE", StaleToken},
		{errors.New("imap: BAD User is authenticated but not connected."), "BAD", Misconfigured},
	}
	for _, tt := range tests {
		d := Diagnose(tt.err)
		if d == nil || d.Code != tt.wantCode || d.Kind != tt.wantKind {
			t.Errorf("Diagnose(%q) = %+v, want %s %v", tt.err, d, tt.wantCode, tt.wantKind)
		}
	}
}

func TestDiagnoseUnknownIsNil(t *testing.T) {
	for _, err := range []error{
		nil,
		errors.New("something else went wrong"),
		errors.New("client version 1.4.7.0 is old"),
		errors.New("AADSTS12345678: a code nobody knows"),
		fmt.Errorf("stopped: %w", context.Canceled),
		netErr(&url.Error{Op: "Post", URL: "https://x", Err: context.Canceled}),
		smtpErr(550, "5.1.1", "User unknown"),
		imapErr("NO", "NONEXISTENT", "Mailbox doesn't exist: Tickets"),
		imapErr("BYE", "", "Logging out"),
		tokenErr(400, `{"error":"weird_new_error","error_description":"?"}`),
		&oauth2.RetrieveError{Body: []byte("{not json")},
	} {
		if d := Diagnose(err); d != nil {
			t.Errorf("Diagnose(%v) = %+v, want nil", err, d)
		}
	}
}

func TestAnnotateRoundTrip(t *testing.T) {
	orig := smtpReply(t, "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.")
	got := Annotate(orig)
	if got.Error() != orig.Error() {
		t.Errorf("message changed:\n%s\n%s", got.Error(), orig.Error())
	}
	var d *Diagnosis
	if !errors.As(got, &d) {
		t.Fatal("errors.As finds no *Diagnosis")
	}
	if d.Kind != Misconfigured || d.Code != "535 5.7.139" || !strings.Contains(d.Fix, "Set-TransportConfig") {
		t.Errorf("attached diagnosis %+v", d)
	}
	var r Replier
	if !errors.As(got, &r) || r.Reply().Code != 535 || r.Reply().Enhanced != "5.7.139" {
		t.Errorf("the SMTP reply is no longer in the chain: %v", r)
	}
	if !errors.Is(got, orig) {
		t.Error("the original error is no longer in the chain")
	}
	if Diagnose(got) != d {
		t.Error("Diagnose does not return the attached diagnosis")
	}
	if again := Annotate(got); again != got {
		t.Error("annotating twice wrapped again")
	}
	unknown := errors.New("unknown")
	if Annotate(unknown) != unknown {
		t.Error("an unknown error was wrapped")
	}
	if Annotate(nil) != nil {
		t.Error("Annotate(nil) != nil")
	}
}

func TestDiagnoseThrottledIMAPNamesTheBackoff(t *testing.T) {
	d := Diagnose(imapReply(t, "BAD Request is throttled. Suggested Backoff Time: 299961 milliseconds"))
	if d == nil || !strings.Contains(d.Summary, "wait 5m0s") {
		t.Fatalf("Diagnose = %+v, want the backoff in the summary", d)
	}
}

func TestDiagnoseDeepChainsAndCycles(t *testing.T) {
	var err = smtpErr(432, "4.3.2", "STOREDRV.ClientSubmit; sender thread limit exceeded")
	for i := 0; i < 40; i++ {
		err = fmt.Errorf("layer %d: %w", i, err)
	}
	if d := Diagnose(err); d == nil || d.Code != "432 4.3.2" {
		t.Errorf("40 layers deep: %+v", d)
	}
	c := &cyclic{}
	c.next = c
	if d := Diagnose(c); d != nil {
		t.Errorf("cyclic chain: %+v", d)
	}
}

type cyclic struct{ next error }

// netErr is a failure to reach a token endpoint, as the OAuth client wraps
// it.
func netErr(err error) error {
	return fmt.Errorf("oauth: token endpoint unreachable: %w", err)
}

func (c *cyclic) Error() string { return "cycle" }
func (c *cyclic) Unwrap() error { return c.next }

// TLS handshakes against an in-memory peer.

type tlsScenario int

const (
	tlsVersionRefused tlsScenario = iota
	tlsUntrusted
	tlsPlaintextPeer
)

func tlsHandshake(t *testing.T, s tlsScenario) error {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cert := selfSigned(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc, err := l.Accept()
		if err != nil {
			return
		}
		defer sc.Close()
		switch s {
		case tlsPlaintextPeer:
			io.WriteString(sc, "220 smtp.example ESMTP ready\r\n")
		default:
			cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
			if s == tlsVersionRefused {
				cfg.MaxVersion = tls.VersionTLS11
			}
			tls.Server(sc, cfg).Handshake()
		}
	}()
	cc, err := net.DialTimeout("tcp", l.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cc.SetDeadline(time.Now().Add(10 * time.Second))
	cfg := &tls.Config{ServerName: "smtp.example", MinVersion: tls.VersionTLS12}
	if s == tlsVersionRefused {
		cfg.InsecureSkipVerify = true // the version is what fails
	}
	cli := tls.Client(cc, cfg)
	err = cli.Handshake()
	cc.Close()
	<-done
	if err == nil {
		t.Fatal("handshake succeeded")
	}
	return fmt.Errorf("imapx: dial: TLS: %w", err)
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "smtp.example"},
		DNSNames:     []string{"smtp.example"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func dialClosedPort(t *testing.T) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		t.Skip("port reused before dialling")
	}
	return fmt.Errorf("smtpx: dial %s: %w", addr, err)
}

// TestScopeRefusalIsNotAStaleToken: Dovecot answers every refused token
// with an error challenge naming the scope it checks, then a NO
// [AUTHENTICATIONFAILED]. Refused once, that is a stale token; refused to
// a fresh token too, it is the scope or audience asked for: Misconfigured,
// with the scope the server named in the summary.
func TestScopeRefusalIsNotAStaleToken(t *testing.T) {
	refusal := func() error {
		ce := auth.ParseChallenge([]byte(`{"status":"401","schemes":"bearer","scope":"mail"}`))
		return fmt.Errorf("imapx: auth: %w", errors.Join(imapErr("NO", "AUTHENTICATIONFAILED", "Authentication failed."), ce))
	}
	d := Diagnose(refusal())
	if d == nil || d.Kind != StaleToken || strings.Contains(d.Summary, "scope") {
		t.Errorf("first refusal: %v, want a stale token", d)
	}
	d = Diagnose(retried(refusal()))
	if d == nil || d.Kind != Misconfigured || !strings.Contains(d.Summary, `the mail server asks for the scope "mail"`) ||
		!strings.Contains(d.Fix, "request the scope the mail server checks") || !strings.Contains(d.Fix, "resource indicator") {
		t.Errorf("fresh token refused too: %v, want misconfigured naming the scope, with a fix about the scope and resource requested", d)
	}
	// A scope a hostile server sends is quoted, short, one line.
	long := strings.Repeat("x", 500) + "\r\nFix: nothing"
	ce := auth.ParseChallenge([]byte(`{"status":"401","scope":` + strconv.Quote(long) + `}`))
	d = Diagnose(retried(fmt.Errorf("smtpx: %w", errors.Join(smtpErr(535, "5.7.8", "Authentication failed"), ce))))
	if d == nil || strings.Contains(d.Summary, "\n") || len(d.Summary) > 400 {
		t.Errorf("hostile scope: %q", d.Summary)
	}
}
