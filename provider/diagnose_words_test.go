package provider

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/internal/gowords"
)

// TestCatalogueSpeaksTheOperatorsLanguage fails when a Summary or Fix
// names a Go identifier: an operator at a command line or on a web page
// reads "the app registration's secret value", never "ClientSecret"; an
// example program adds its own flag or variable name. Product words
// (PowerShell cmdlets and parameters, portal pages, Exchange permission
// names such as SMTP.SendAsApp, OAuth parameters such as client_secret)
// are the operator's and stay.
func TestCatalogueSpeaksTheOperatorsLanguage(t *testing.T) {
	names, err := gowords.Module()
	if err != nil {
		t.Fatal(err)
	}
	// The standard library's and x/oauth2's configuration fields, which a
	// fix might otherwise name: RootCAs, ServerName, MinVersion, ClientID.
	for n := range gowords.Names([]any{tls.Config{}, http.Client{}, http.Transport{}, oauth2.Config{}, oauth2.Token{}}) {
		if strings.ToLower(n[1:]) != n[1:] { // compound only: Certificates and Time are words too
			names[n] = true
		}
	}
	for _, e := range Catalogue() {
		for field, text := range map[string]string{"Summary": e.Summary, "Fix": e.Fix} {
			if found := gowords.Find(text, names); len(found) > 0 {
				t.Errorf("%s/%s %q %q: %s names Go identifiers %q:\n%s", e.Provider, e.Layer, e.Code, e.Match, field, found, text)
			}
		}
	}
}

// TestGoWordsTellsCodeFromProducts pins the detector itself, so that the
// catalogue test can fail and does not flag what an operator reads.
func TestGoWordsTellsCodeFromProducts(t *testing.T) {
	names := map[string]bool{"ClientSecret": true, "SecretExpiresAt": true, "MaxConns": true, "smtpx": true, "tokenstore": true,
		"RootCAs": true, "AuthorityHost": true}
	for _, s := range []string{
		"Put its Value into ClientSecret.",
		"Put its expiry into SecretExpiresAt.",
		"In tests set TLSConfig.RootCAs.",
		"Check Cloud.AuthorityHost.",
		"Cache tokens with auth.NewSource.",
		"Keep tls.Config.MinVersion at tls.VersionTLS12.",
		"Retry once (smtpx does).",
		"Set SenderOptions.MaxConns = 3.",
	} {
		if len(gowords.Find(s, names)) == 0 {
			t.Errorf("goWords(%q) found nothing", s)
		}
	}
	for _, s := range []string{
		"Run Set-TransportConfig -SmtpClientAuthenticationDisabled $false.",
		"Get-CASMailbox -Identity <mailbox> | fl ImapEnabled.",
		"Office 365 Exchange Online → Application permissions → SMTP.SendAsApp, IMAP.AccessAsUser.All.",
		"Request https://outlook.office.com/SMTP.Send and offline_access.",
		"Send client_secret or client_assertion; sign in at https://myaccount.microsoft.com → Password.",
		"Update-MgUser -UserId <upn> -AccountEnabled:$true, or Add-RecipientPermission -AccessRights SendAs.",
		"Check any HTTP proxy in between (HTTPS_PROXY), e.g. the store's key.",
		"Use login.microsoftonline.us and https://oauth2.googleapis.com/token.",
	} {
		if found := gowords.Find(s, names); len(found) > 0 {
			t.Errorf("goWords(%q) = %q, want nothing", s, found)
		}
	}
}
