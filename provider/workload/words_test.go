package workload_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mailoauth/mailoauth/internal/gowords"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/workload"
)

// TestTextsSpeakTheOperatorsLanguage: what the package tells an operator
// (a configuration error's reason, an endpoint's refusal) names settings as
// the operator knows them (the identity's client ID, the variables the
// platform sets), never a Go field or function.
func TestTextsSpeakTheOperatorsLanguage(t *testing.T) {
	names := gowords.Names([]any{workload.ManagedIdentity{}, workload.GitHubActions{}, workload.TokenFile{}, workload.AzureEnvironment{}},
		"IMDSEndpoint", "Refresher", "ReadAzureEnvironment", "Func", "Source", "AzureADTokenExchange")
	ctx := context.Background()
	idp := newIdP(t)
	for name, call := range map[string]func() error{
		"test binary": func() error {
			_, err := (&workload.ManagedIdentity{Getenv: newEnv().get}).Token(ctx, exchange)
			return err
		},
		"two selectors": func() error {
			_, err := (&workload.ManagedIdentity{ClientID: "a", ResourceID: "b"}).Token(ctx, exchange)
			return err
		},
		"no resource": func() error {
			_, err := (&workload.ManagedIdentity{}).Token(ctx, "")
			return err
		},
		"remote http": func() error {
			_, err := (&workload.ManagedIdentity{Endpoint: "http://imds.example.com/x"}).Token(ctx, exchange)
			return err
		},
		"Azure Arc": func() error {
			_, err := (&workload.ManagedIdentity{Getenv: newEnv("IDENTITY_ENDPOINT", "http://localhost:40342/x", "IMDS_ENDPOINT", "x").get}).Token(ctx, exchange)
			return err
		},
		"identity not found": func() error {
			_, err := (&workload.ManagedIdentity{Endpoint: idp.IMDSEndpoint(), Clock: idp}).Token(ctx, exchange)
			return err
		},
		"no GitHub permission": func() error {
			_, err := (&workload.GitHubActions{Getenv: newEnv().get}).Token(ctx, "")
			return err
		},
		"no token file": func() error {
			_, err := (&workload.TokenFile{Getenv: newEnv().get}).Token(ctx, "")
			return err
		},
		"missing token file": func() error {
			_, err := (&workload.TokenFile{Path: t.TempDir() + "/none"}).Token(ctx, "")
			return err
		},
		"no pod variables": func() error {
			_, err := workload.ReadAzureEnvironment(newEnv().get)
			return err
		},
		"no function": func() error {
			_, err := workload.Func(nil).Token(ctx, "")
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
