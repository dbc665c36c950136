package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestTypesHoldingTokensRedactThemselves: the SASL clients and the token
// cache show no token through fmt's verbs or slog's handlers, neither as
// text nor inside the encoded client response.
func TestTypesHoldingTokensRedactThemselves(t *testing.T) {
	const token = "ya29.A0-secret-access-token"
	forms := []string{token, base64.StdEncoding.EncodeToString([]byte("auth=Bearer " + token)), strings.Trim(fmt.Sprint([]byte(token)), "[]")}

	xo := NewClient(XOAUTH2, "alice@example.com", token)
	ob := NewOAuthBearerClient("alice@example.com", token, "imap.example.com", 993)
	two := TwoStep(NewClient(XOAUTH2, "alice@example.com", token))
	for _, c := range []interface {
		Start() (string, []byte, error)
	}{xo, ob, two} {
		if _, _, err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	src := NewSource(RefreshFunc(func(context.Context, *oauth2.Token) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: token, RefreshToken: "refresh-" + token, Expiry: time.Now().Add(time.Hour)}, nil
	}), nil)
	if _, err := src.Token(t.Context()); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{"XOAUTH2 client": xo, "OAUTHBEARER client": ob, "TwoStep client": two, "*Source": src} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			checkNoSecret(t, name+" as "+verb, fmt.Sprintf(verb, v), forms)
		}
		var js, txt bytes.Buffer
		slog.New(slog.NewJSONHandler(&js, nil)).Info("value", "v", v)
		slog.New(slog.NewTextHandler(&txt, nil)).Info("value", "v", v)
		checkNoSecret(t, name+" in slog JSON", js.String(), forms)
		checkNoSecret(t, name+" in slog text", txt.String(), forms)
	}
	if s := fmt.Sprint(xo); !strings.Contains(s, "XOAUTH2") || !strings.Contains(s, "alice@example.com") {
		t.Errorf("the XOAUTH2 client hides what is not secret: %s", s)
	}
}

func checkNoSecret(t *testing.T, what, shown string, forms []string) {
	t.Helper()
	for _, f := range forms {
		if strings.Contains(shown, f) {
			t.Errorf("%s shows the token: %s", what, shown)
			return
		}
	}
}
