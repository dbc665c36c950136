package workload

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/retry"
)

// The variables the Azure Workload Identity webhook sets in a pod labelled
// azure.workload.identity/use: "true"
// (https://azure.github.io/azure-workload-identity/docs/installation/mutating-admission-webhook.html).
const (
	envClientID      = "AZURE_CLIENT_ID"
	envTenantID      = "AZURE_TENANT_ID"
	envAuthorityHost = "AZURE_AUTHORITY_HOST"
	envTokenFile     = "AZURE_FEDERATED_TOKEN_FILE"
)

// maxTokenFile bounds what is read of a token file: service-account
// tokens are about a kilobyte.
const maxTokenFile = 64 << 10

// TokenFile is a Source that reads a federated token from a file: the
// service-account token Kubernetes projects into a pod, which Azure
// Workload Identity names in AZURE_FEDERATED_TOKEN_FILE.
//
// The file is read again on every Token call, never once at start-up: the
// kubelet renews a projected token when it is older than 80 % of its
// lifetime or 24 hours
// (expirationSeconds of ServiceAccountTokenProjection,
// https://kubernetes.io/docs/reference/kubernetes-api/config-and-storage-resources/volume/),
// so a token read once expires under a long-running program and Entra then
// refuses it (AADSTS700024). A read costs a small file once per Entra token
// request (about once an hour behind auth.Source); unlike a cache of a few
// minutes it never sends the old token after the file was renewed. The
// kubelet swaps the file's content in one step, so a read never sees half a
// token. A token whose exp claim has passed is an Error with
// ReasonExpired.
type TokenFile struct {
	// Path is the file; empty: the path in AZURE_FEDERATED_TOKEN_FILE,
	// looked up on each call.
	Path string
	// Clock tells the time for the expiry check; nil: retry.System.
	Clock retry.Clock
	// Getenv looks up variables; nil: os.Getenv.
	Getenv func(string) string
}

// Token reads the file. audience is ignored: the pod's projected volume
// fixes the token's audience (api://AzureADTokenExchange for Entra).
func (f *TokenFile) Token(ctx context.Context, _ string) (*oauth2.Token, error) {
	if f == nil {
		return nil, &provider.ConfigError{Package: "workload", Field: "TokenFile", Reason: "no token file"}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	path := f.Path
	if path == "" {
		path = lookup(f.Getenv)(envTokenFile)
		if path == "" {
			return nil, &provider.ConfigError{Package: "workload", Field: "TokenFile.Path",
				Reason: envTokenFile + " is not set: label the pod azure.workload.identity/use: \"true\" and give it a service account annotated with the client ID, or give the token file's path"}
		}
	}
	v, err := readTokenFile(path)
	if err != nil {
		return nil, &Error{Source: "token file", Reason: ReasonTokenFile, Endpoint: path, Err: err}
	}
	tok := jwtToken(v)
	if !tok.Expiry.IsZero() {
		if now := retry.Or(f.Clock).Now(); !now.Before(tok.Expiry) {
			return nil, &Error{Source: "token file", Reason: ReasonExpired, Endpoint: path,
				Err: fmt.Errorf("its token expired at %s", tok.Expiry.UTC().Format("2006-01-02 15:04:05Z"))}
		}
	}
	return tok, nil
}

// readTokenFile reads and trims a token file; the error never quotes the
// content.
func readTokenFile(path string) (string, error) {
	file, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer file.Close()
	b, err := io.ReadAll(io.LimitReader(file, maxTokenFile+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxTokenFile {
		return "", fmt.Errorf("the file is larger than %d bytes: not a token", maxTokenFile)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", errEmpty
	}
	return v, nil
}

// AzureEnvironment is what the Azure Workload Identity webhook puts into a
// pod's environment: the app registration (or user-assigned managed
// identity) the pod signs in as, its tenant, the authority host of its
// cloud, and the projected service-account token.
type AzureEnvironment struct {
	ClientID string // AZURE_CLIENT_ID
	TenantID string // AZURE_TENANT_ID
	// AuthorityHost is AZURE_AUTHORITY_HOST without a trailing slash, e.g.
	// "https://login.microsoftonline.com"; empty when it is not set (the
	// caller's cloud decides).
	AuthorityHost string
	// TokenFile reads AZURE_FEDERATED_TOKEN_FILE's file on each call.
	TokenFile *TokenFile
}

// ReadAzureEnvironment reads the Azure Workload Identity variables with
// getenv (nil: os.Getenv), as azidentity does. A missing client ID,
// tenant ID or token file, and an authority host that is not an https URL,
// are a *provider.ConfigError naming the variable. Nothing is read from
// the token file yet.
func ReadAzureEnvironment(getenv func(string) string) (*AzureEnvironment, error) {
	get := lookup(getenv)
	env := &AzureEnvironment{
		ClientID:      strings.TrimSpace(get(envClientID)),
		TenantID:      strings.TrimSpace(get(envTenantID)),
		AuthorityHost: strings.TrimRight(strings.TrimSpace(get(envAuthorityHost)), "/"),
	}
	path := strings.TrimSpace(get(envTokenFile))
	for _, v := range []struct{ name, value string }{{envClientID, env.ClientID}, {envTenantID, env.TenantID}, {envTokenFile, path}} {
		if v.value == "" {
			return nil, &provider.ConfigError{Package: "workload", Field: v.name,
				Reason: v.name + " is not set: Azure Workload Identity sets it in pods labelled azure.workload.identity/use: \"true\""}
		}
	}
	if env.AuthorityHost != "" {
		if u, err := url.Parse(env.AuthorityHost); err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, &provider.ConfigError{Package: "workload", Field: envAuthorityHost,
				Reason: envAuthorityHost + " is not an https URL"}
		}
	}
	env.TokenFile = &TokenFile{Path: path, Getenv: getenv}
	return env, nil
}
