package tokenstore_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/internal/testclock"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// formatted returns v as fmt's verbs and slog's JSON and text handlers
// show it.
func formatted(v any) map[string]string {
	out := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out[verb] = fmt.Sprintf(verb, v)
	}
	for name, h := range map[string]func(*bytes.Buffer) slog.Handler{
		"slog JSON": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		"slog text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var b bytes.Buffer
		slog.New(h(&b)).Info("value", "v", v)
		out[name] = b.String()
	}
	return out
}

// checkRedacted fails if any form of v shows one of secrets.
func checkRedacted(t *testing.T, name string, v any, secrets ...string) {
	t.Helper()
	for form, s := range formatted(v) {
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				t.Errorf("%s as %s shows a secret: %s", name, form, s)
				break
			}
		}
	}
}

// TestTypesHoldingTokensRedactThemselves: records, keys and what holds them
// show no token or key through fmt or slog, and still show what is not
// secret.
func TestTypesHoldingTokensRedactThemselves(t *testing.T) {
	const access, refresh = "AT-0123456789-secret", "RT-0123456789-secret"
	rec := tokenstore.Record{
		Token:     &oauth2.Token{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer", Expiry: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)},
		Account:   "alice@example.com",
		Scopes:    []string{"offline_access"},
		UpdatedAt: time.Date(2030, 1, 2, 2, 4, 5, 0, time.UTC),
		Version:   7,
	}
	checkRedacted(t, "Record", rec, access, refresh)
	checkRedacted(t, "*Record", &rec, access, refresh)
	for form, s := range formatted(&rec) {
		for _, want := range []string{"alice@example.com", "offline_access", "7", "2030"} {
			if !strings.Contains(s, want) {
				t.Errorf("*Record as %s hides %q, which is not secret: %s", form, want, s)
			}
		}
	}
	var nilRec *tokenstore.Record
	checkRedacted(t, "nil *Record", nilRec, access)
	checkRedacted(t, "Record without token", tokenstore.Record{Account: "a"}, access)

	secret := []byte("0123456789abcdef0123456789ABCDEF")
	key := tokenstore.Key{ID: "k1", Secret: secret}
	forms := []string{string(secret), base64.StdEncoding.EncodeToString(secret), strings.Trim(fmt.Sprint([]byte(secret)), "[]"), fmt.Sprintf("%x", secret)}
	checkRedacted(t, "Key", key, forms...)
	checkRedacted(t, "*Key", &key, forms...)

	mem := tokenstore.NewMemory()
	stored := rec
	stored.Version = 0
	if err := mem.Save(t.Context(), "k", &stored); err != nil {
		t.Fatal(err)
	}
	checkRedacted(t, "*Memory", mem, access, refresh)
	enc, err := tokenstore.NewEncryptedKeys(mem, key)
	if err != nil {
		t.Fatal(err)
	}
	checkRedacted(t, "encrypted Store", enc, forms...)

	// A Refresher holding a grant it could not save.
	clk := testclock.New()
	store := &flakySaves{Store: tokenstore.NewMemory()}
	storeGrant(t, store, clk, -time.Minute)
	store.failNext(1)
	r := tokenstore.NewRefresher(store, "grant", (&idp{clock: clk}).refresh, &tokenstore.RefresherOptions{Clock: clk})
	if _, err := r.Refresh(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	checkRedacted(t, "*Refresher", r, "access-1", "refresh-1")
}
