package entra_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mailoauth/mailoauth/provider/entra"
	"github.com/mailoauth/mailoauth/provider/providertest"
)

const (
	inspectMailbox = "helpdesk@contoso.com"
	otherTenant    = "0c9f4a1e-8d2b-4b7a-9e61-3f5a7c2d1b90"
)

func TestInspectReadsTheClaimsThatMatter(t *testing.T) {
	srv := providertest.New()
	defer srv.Close()
	tok := srv.IssueToken(providertest.TokenSpec{
		UPN:       inspectMailbox,
		AppID:     "3f1c0d2e-4b5a-4c6d-8e7f-9a0b1c2d3e4f",
		Scopes:    []string{"SMTP.Send", "IMAP.AccessAsUser.All"},
		ExpiresIn: time.Hour,
	})
	c, err := entra.Inspect(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Opaque || c.Audience != "https://outlook.office.com" || c.Tenant != providertest.DefaultTenant ||
		c.AppID != "3f1c0d2e-4b5a-4c6d-8e7f-9a0b1c2d3e4f" || c.UPN != inspectMailbox || !c.Delegated() ||
		strings.Join(c.Scopes, " ") != "SMTP.Send IMAP.AccessAsUser.All" || len(c.Roles) != 0 {
		t.Fatalf("claims %+v", c)
	}
	if want := srv.Now().Add(time.Hour); c.ExpiresAt.Sub(want).Abs() > 2*time.Second {
		t.Errorf("ExpiresAt %v, want about %v", c.ExpiresAt, want)
	}
	if !strings.Contains(c.Issuer, providertest.DefaultTenant) {
		t.Errorf("Issuer %q", c.Issuer)
	}
	if p := c.Check(0, inspectMailbox, providertest.DefaultTenant, srv.Now()); p != nil {
		t.Errorf("a good delegated token has problems: %q", p)
	}
	if !c.Allows(entra.SMTP) || !c.Allows(entra.IMAP) || !c.ForExchange() {
		t.Errorf("Allows/ForExchange wrong for %v", c)
	}
	if s := c.String(); !strings.Contains(s, "delegated ("+inspectMailbox+")") || !strings.Contains(s, "SMTP.Send") {
		t.Errorf("String() = %q", s)
	}
}

// TestInspectProblems checks that each defect of a token is named, and
// that a token without that defect is not blamed for it.
func TestInspectProblems(t *testing.T) {
	srv := providertest.New()
	defer srv.Close()
	now := srv.Now()
	tests := []struct {
		name    string
		spec    providertest.TokenSpec
		mailbox string
		tenant  string
		count   int      // problems expected
		want    []string // substrings the problems must contain
	}{
		{"good app-only token", providertest.TokenSpec{Roles: []string{"SMTP.SendAsApp", "IMAP.AccessAsApp"}},
			inspectMailbox, providertest.DefaultTenant, 0, nil},
		{"good delegated token, tenant given as a domain", providertest.TokenSpec{UPN: inspectMailbox, Scopes: []string{"SMTP.Send"}},
			"HelpDesk@Contoso.com", "contoso.com", 0, nil},
		{"Graph audience", providertest.TokenSpec{Audience: "https://graph.microsoft.com", UPN: inspectMailbox, Scopes: []string{"SMTP.Send"}},
			inspectMailbox, "", 1, []string{"Microsoft Graph (aud https://graph.microsoft.com)"}},
		{"Graph app ID audience", providertest.TokenSpec{Audience: "00000003-0000-0000-c000-000000000000", Roles: []string{"SMTP.SendAsApp"}},
			"", "", 1, []string{"Microsoft Graph"}},
		{"another audience", providertest.TokenSpec{Audience: "api://helpdesk", Roles: []string{"SMTP.SendAsApp"}},
			"", "", 1, []string{"audience api://helpdesk is not Exchange Online"}},
		{"app-only without mail roles", providertest.TokenSpec{Roles: []string{"Mail.Send"}},
			inspectMailbox, "", 1, []string{"neither SMTP.SendAsApp nor IMAP.AccessAsApp"}},
		{"app-only without any roles", providertest.TokenSpec{},
			inspectMailbox, "", 1, []string{"neither SMTP.SendAsApp nor IMAP.AccessAsApp", "Application permissions"}},
		{"delegated without mail scopes", providertest.TokenSpec{UPN: inspectMailbox, Scopes: []string{"User.Read", "offline_access"}},
			inspectMailbox, "", 1, []string{"neither SMTP.Send nor IMAP.AccessAsUser.All"}},
		{"other tenant", providertest.TokenSpec{Tenant: otherTenant, Roles: []string{"SMTP.SendAsApp"}},
			inspectMailbox, providertest.DefaultTenant, 1, []string{"issued by tenant " + otherTenant + ", not " + providertest.DefaultTenant}},
		{"upn differs from the mailbox", providertest.TokenSpec{UPN: "alice@contoso.com", Scopes: []string{"IMAP.AccessAsUser.All"}},
			inspectMailbox, "", 1, []string{"belongs to alice@contoso.com but the SASL user name is " + inspectMailbox, "Add-MailboxPermission"}},
		{"expired", providertest.TokenSpec{Roles: []string{"SMTP.SendAsApp"}, ExpiresIn: -5 * time.Minute},
			inspectMailbox, "", 1, []string{"expired at", "ago: get a fresh one"}},
		{"everything wrong at once", providertest.TokenSpec{Audience: "https://graph.microsoft.com", Tenant: otherTenant, UPN: "alice@contoso.com", Scopes: []string{"Mail.Read"}, ExpiresIn: -time.Hour},
			inspectMailbox, providertest.DefaultTenant, 5, []string{"Microsoft Graph", "neither SMTP.Send nor", "issued by tenant", "expired at", "belongs to alice@contoso.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := entra.Inspect(srv.IssueToken(tt.spec))
			if err != nil {
				t.Fatal(err)
			}
			got := c.Problems(tt.mailbox, tt.tenant, now)
			if len(got) != tt.count {
				t.Fatalf("problems %q, want %d matching %q", got, tt.count, tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(strings.Join(got, "\n"), w) {
					t.Errorf("problem %d %q missing from %q", i, w, got)
				}
			}
		})
	}
}

// TestInspectAcceptsEveryExchangeAudience: tokens of every cloud, and with
// Exchange's application ID as audience, are fine.
func TestInspectAcceptsEveryExchangeAudience(t *testing.T) {
	srv := providertest.New()
	defer srv.Close()
	for _, aud := range []string{
		"https://outlook.office.com", "https://outlook.office365.com", "https://outlook.office365.com/",
		"https://outlook.office365.us", "https://outlook-dod.office365.us", "https://partner.outlook.cn",
		"00000002-0000-0ff1-ce00-000000000000",
	} {
		c, err := entra.Inspect(srv.IssueToken(providertest.TokenSpec{Audience: aud, Roles: []string{"IMAP.AccessAsApp"}}))
		if err != nil {
			t.Fatal(err)
		}
		if p := c.Problems("", "", srv.Now()); p != nil || !c.ForExchange() {
			t.Errorf("aud %s: problems %q", aud, p)
		}
	}
}

// TestInspectCheckRequiresEachProtocol: Problems accepts a token for either
// protocol; Check names the missing one.
func TestInspectCheckRequiresEachProtocol(t *testing.T) {
	srv := providertest.New()
	defer srv.Close()
	app, _ := entra.Inspect(srv.IssueToken(providertest.TokenSpec{Roles: []string{"SMTP.SendAsApp"}}))
	user, _ := entra.Inspect(srv.IssueToken(providertest.TokenSpec{UPN: inspectMailbox, Scopes: []string{"IMAP.AccessAsUser.All"}}))
	now := srv.Now()
	if p := app.Problems(inspectMailbox, "", now); p != nil {
		t.Errorf("SMTP-only app token blamed: %q", p)
	}
	if p := app.Check(entra.SMTP, inspectMailbox, "", now); p != nil {
		t.Errorf("SMTP check of an SMTP app token: %q", p)
	}
	if p := app.Check(entra.IMAP, inspectMailbox, "", now); len(p) != 1 || !strings.Contains(p[0], "lacks IMAP.AccessAsApp") {
		t.Errorf("IMAP check of an SMTP app token: %q", p)
	}
	if p := user.Check(0, inspectMailbox, "", now); len(p) != 1 || !strings.Contains(p[0], "lacks SMTP.Send") {
		t.Errorf("full check of an IMAP-only delegated token: %q", p)
	}
	if app.Allows(entra.IMAP) || !app.Allows(entra.SMTP) || user.Allows(entra.SMTP) || !user.Allows(entra.IMAP) {
		t.Error("Allows is wrong")
	}
}

func TestInspectOpaqueAndMalformedTokens(t *testing.T) {
	for _, tok := range []string{
		"EwBwA8l6BAAUkj1oO5M3Ri8qLU3fkRZ2YWw9ZMQAAfmZ8gXrFh2vQpiT0vVcVmA", // personal-account ticket
		"eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d",                                // JWE: five parts
	} {
		c, err := entra.Inspect(tok)
		if err != nil {
			t.Fatalf("opaque token: %v", err)
		}
		if !c.Opaque || c.Problems(inspectMailbox, providertest.DefaultTenant, time.Now()) != nil || c.Allows(entra.SMTP) {
			t.Errorf("opaque token: %+v", c)
		}
		if !strings.Contains(c.String(), "cannot inspect") {
			t.Errorf("String() = %q", c.String())
		}
	}
	const secretish = "eyJhbGciOiJSUzI1NiJ9.not*base64.c2ln"
	_, err := entra.Inspect(secretish)
	if err == nil {
		t.Fatal("a corrupt JWT inspected without error")
	}
	if strings.Contains(err.Error(), "not*base64") {
		t.Errorf("the error shows the token: %v", err)
	}
	if _, err := entra.Inspect("  "); err == nil {
		t.Error("an empty token inspected without error")
	}
}
