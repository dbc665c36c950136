package google_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mailoauth/mailoauth/internal/gowords"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/google"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// TestTextsSpeakTheOperatorsLanguage: what the package tells an operator
// (a configuration error's reason, a missing grant) names settings as the
// operator knows them (the OAuth client file, the service account's key
// file), never a Go field or function.
func TestTextsSpeakTheOperatorsLanguage(t *testing.T) {
	names := gowords.Names([]any{google.Config{}, google.ServiceAccountKey{}},
		"ServiceAccount", "Delegated", "NewAuthCodeFlow", "NewLoopbackFlow", "AuthorizeLoopback", "ParseServiceAccountKey", "Config")
	ctx := context.Background()
	client := []byte(`{"installed":{"client_id":"cid.apps.googleusercontent.com","client_secret":"GOCSPX-x"}}`)
	for name, call := range map[string]func() error{
		"client file not JSON": func() error {
			_, err := google.Delegated(ctx, google.Config{ClientJSON: []byte("x"), Mailbox: "a@b.c"}, tokenstore.NewMemory())
			return err
		},
		"key file as client file": func() error {
			_, err := google.Delegated(ctx, google.Config{ClientJSON: []byte(`{"type":"service_account"}`), Mailbox: "a@b.c"}, tokenstore.NewMemory())
			return err
		},
		"no client": func() error {
			_, err := google.Delegated(ctx, google.Config{Mailbox: "a@b.c"}, tokenstore.NewMemory())
			return err
		},
		"bad mailbox": func() error {
			_, err := google.Delegated(ctx, google.Config{ClientJSON: client, Mailbox: "bob"}, tokenstore.NewMemory())
			return err
		},
		"no store": func() error {
			_, err := google.Delegated(ctx, google.Config{ClientJSON: client, Mailbox: "a@b.c"}, nil)
			return err
		},
		"no store for the flow": func() error {
			_, err := google.NewLoopbackFlow(google.Config{ClientJSON: client, Mailbox: "a@b.c"}, nil)
			return err
		},
		"relative redirect": func() error {
			_, err := google.NewAuthCodeFlow(google.Config{ClientJSON: client, Mailbox: "a@b.c"}, tokenstore.NewMemory(), "/cb")
			return err
		},
		"client file as key file": func() error {
			_, err := google.ServiceAccount(ctx, google.Config{ServiceAccountKey: client, Mailbox: "a@b.c"})
			return err
		},
		"empty key file": func() error {
			_, err := google.ServiceAccount(ctx, google.Config{ServiceAccountKey: []byte(`{}`), Mailbox: "a@b.c"})
			return err
		},
		"no grant": func() error {
			_, err := google.Delegated(ctx, google.Config{ClientJSON: client, Mailbox: "a@b.c"}, tokenstore.NewMemory())
			return err
		},
	} {
		err := call()
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		text := err.Error()
		var ce *provider.ConfigError
		if errors.As(err, &ce) {
			text = ce.Reason
		}
		if found := gowords.Find(text, names); len(found) > 0 {
			t.Errorf("%s names Go identifiers %q:\n%s", name, found, text)
		}
	}
}
