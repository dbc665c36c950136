package iam_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mailoauth/mailoauth/internal/gowords"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/google/iam"
)

// TestTextsSpeakTheOperatorsLanguage: the package's errors name the
// service account, the caller's credentials and Google's roles, never a Go
// field or function.
func TestTextsSpeakTheOperatorsLanguage(t *testing.T) {
	names := gowords.Names([]any{iam.Signer{}}, "SignJWT", "DelegationAssertion", "CloudPlatformScope", "BaseURL")
	ctx := context.Background()
	idp := idpWithAccounts(t)
	for name, call := range map[string]func() error{
		"no account": func() error {
			_, err := (&iam.Signer{Caller: caller(idp, deployer)}).SignJWT(ctx, map[string]any{})
			return err
		},
		"no caller": func() error {
			_, err := (&iam.Signer{ServiceAccount: mailer}).SignJWT(ctx, map[string]any{})
			return err
		},
		"remote http": func() error {
			_, err := (&iam.Signer{ServiceAccount: mailer, Caller: caller(idp, deployer), BaseURL: "http://iam.example.com"}).SignJWT(ctx, map[string]any{})
			return err
		},
		"no user": func() error {
			_, err := signer(idp, caller(idp, deployer)).DelegationAssertion(ctx, "", []string{gmail}, idp.URL()+"/token")
			return err
		},
		"denied": func() error {
			_, err := signer(idp, caller(idp, "intern@example.com")).SignJWT(ctx, map[string]any{})
			return err
		},
		"scope": func() error {
			_, err := signer(idp, caller(idp, deployer, "openid")).SignJWT(ctx, map[string]any{})
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
