package google

import (
	"strings"

	"github.com/mailoauth/mailoauth/provider"
)

// Google's OAuth endpoints
// (https://developers.google.com/identity/protocols/oauth2/web-server).
const (
	// AuthURL is the consent page of the authorization code flow.
	AuthURL = "https://accounts.google.com/o/oauth2/v2/auth"
	// TokenURL redeems codes, refresh tokens and service-account assertions.
	TokenURL = "https://oauth2.googleapis.com/token"

	// Paths of the endpoints below a BaseURL (Config.BaseURL, WithBaseURL):
	// Google's own paths, which providertest serves too.
	authPath  = "/o/oauth2/v2/auth"
	tokenPath = "/token"
)

// Scopes.
const (
	// ScopeMail is full IMAP and SMTP access to Gmail, the scope XOAUTH2 needs.
	ScopeMail = "https://mail.google.com/"
	// ScopeIMAPAdmin lets a domain-wide-delegated service account see every
	// label and message over IMAP whatever the user's IMAP settings
	// (WithIMAPAdminScope). Service accounts only.
	ScopeIMAPAdmin = "https://www.googleapis.com/auth/gmail.imap_admin"
)

// Gmail's mail servers.
const (
	SMTPHost            = "smtp.gmail.com"
	SMTPPort            = 587 // STARTTLS
	SMTPImplicitTLSPort = 465
	IMAPHost            = "imap.gmail.com"
	IMAPPort            = 993 // implicit TLS
)

// Sending limits of one Gmail mailbox (https://support.google.com/a/answer/166852).
const (
	// gmailMaxRecipients: Google's documented limit of recipients per message
	// sent through smtp.gmail.com [P].
	gmailMaxRecipients = 100
	// gmailMaxConns: Google publishes no limit of concurrent SMTP sessions
	// per account; it does answer "454 4.7.0 Too many login attempts" to
	// bursts of logins, and caps IMAP at 15 connections per account (shared
	// with the user's own mail clients). A few long-lived pooled sessions
	// send as fast as one mailbox may, so we stay at 3, as for Exchange.
	gmailMaxConns = 3
	// gmailMessagesPerMinute: Google's caps are per rolling day (2,000 for
	// Workspace, 500 for trials and, unpublished, for consumer accounts),
	// and exceeding them blocks sending for up to 24 hours. No per-minute
	// limit is published; 20 a minute takes 100 minutes to reach the
	// Workspace daily cap, which leaves an operator time to notice a runaway
	// sender before the mailbox is blocked, and stays below the bursts that
	// draw "421 4.7.0 Try again later". Raise it with
	// smtpx.SenderOptions.MessagesPerMinute when you know your account.
	gmailMessagesPerMinute = 20
)

// limits returns the sending limits of every Gmail Mailbox.
func limits() provider.Limits {
	return provider.Limits{
		MaxConns:          gmailMaxConns,
		MessagesPerMinute: gmailMessagesPerMinute,
		MaxRecipients:     gmailMaxRecipients,
	}
}

// servers returns Gmail's SMTP and IMAP servers; implicitTLS picks SMTP on 465.
func servers(implicitTLS bool) (smtp, imap provider.Server) {
	smtp = provider.Server{Host: SMTPHost, Port: SMTPPort, Security: provider.StartTLS}
	if implicitTLS {
		smtp = provider.Server{Host: SMTPHost, Port: SMTPImplicitTLSPort, Security: provider.ImplicitTLS}
	}
	return smtp, provider.Server{Host: IMAPHost, Port: IMAPPort, Security: provider.ImplicitTLS}
}

// endpointURLs returns the authorize and token URLs: Google's, or below
// base when it is set (tests point it at providertest).
func endpointURLs(base string) (authURL, tokenURL string) {
	if base == "" {
		return AuthURL, TokenURL
	}
	base = strings.TrimRight(base, "/")
	return base + authPath, base + tokenPath
}
