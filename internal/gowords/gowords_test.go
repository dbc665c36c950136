package gowords

import (
	"fmt"
	"testing"
)

type config struct {
	TenantID, ClientSecret string
	Cloud                  int
	Mailbox                string
	SMTP                   string
}

func TestFind(t *testing.T) {
	names := Names([]any{config{}}, "Delegated", "SecretExpiresAt")
	for text, want := range map[string]string{
		"set ClientSecret and TenantID":                       "[ClientSecret TenantID]",
		"check Cloud.AuthorityHost":                           "[Cloud.AuthorityHost]",
		"Delegated needs a tokenstore.Store":                  "[tokenstore.Store]",
		"use Delegated with the client file":                  "[Delegated]",
		"Mailbox missing: give the mailbox address":           "[]",
		"the token expired. Mailbox checks come next":         "[]",
		"set the cloud to the tenant's cloud":                 "[]",
		"request https://outlook.office.com/SMTP.Send":        "[]",
		"the secret's Value, from Certificates & secrets":     "[]",
		"set Cloud to the tenant's cloud: login.microsoft.us": "[Cloud]",
		"grant SMTP.SendAsApp to the app":                     "[]",
		"ClientSecret holds the secret's ID":                  "[ClientSecret]",
		"set Config.SecretExpiresAt to be warned":             "[Config.SecretExpiresAt]",
	} {
		if got := fmt.Sprint(Find(text, names)); got != want {
			t.Errorf("Find(%q) = %s, want %s", text, got, want)
		}
	}
}

func TestModuleHasTheModulesNames(t *testing.T) {
	names, err := Module()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ClientSecret", "SecretExpiresAt", "NewSource", "smtpx", "tokenstore"} {
		if !names[want] {
			t.Errorf("Module() lacks %s", want)
		}
	}
	// mailgate.Listing has a field IDs: an acronym's plural is a word too
	// ("OAuth 2.0 Client IDs" in Google's console).
	for _, not := range []string{"auth", "provider", "SMTP", "Mailbox", "IDs"} {
		if names[not] {
			t.Errorf("Module() holds %s, a word an operator reads", not)
		}
	}
}
