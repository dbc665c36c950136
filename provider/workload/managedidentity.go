package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailoauth/mailoauth/internal/fetch"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/retry"
)

// IMDSEndpoint is the token endpoint of Azure's instance metadata service,
// reachable from VMs, VM scale sets and AKS nodes only
// (https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token).
const IMDSEndpoint = "http://169.254.169.254/metadata/identity/oauth2/token"

// Protocol details of the two endpoints.
const (
	imdsAPIVersion       = "2018-02-01"
	appServiceAPIVersion = "2019-08-01"
	// App Service and Azure Functions set these when an identity is enabled
	// (https://learn.microsoft.com/en-us/azure/app-service/overview-managed-identity#rest-endpoint-reference).
	envIdentityEndpoint = "IDENTITY_ENDPOINT"
	envIdentityHeader   = "IDENTITY_HEADER"
	// Other hosts' variables, as MSAL tells the hosts apart
	// (https://github.com/AzureAD/microsoft-authentication-library-for-go/blob/main/apps/managedidentity/managedidentity.go):
	// Service Fabric adds a server thumbprint, Azure Arc an IMDS_ENDPOINT,
	// Cloud Shell sets only MSI_ENDPOINT.
	envServiceFabricThumbprint = "IDENTITY_SERVER_THUMBPRINT"
	envArcIMDSEndpoint         = "IMDS_ENDPOINT"
	envCloudShellEndpoint      = "MSI_ENDPOINT"
	appServiceHeader           = "X-IDENTITY-HEADER"
	// defaultScopeSuffix is dropped from an audience given as a v2.0 scope.
	defaultScopeSuffix = "/.default"
)

// The two kinds of managed identity endpoint, as Error.Source names them.
const (
	sourceIMDS       = "managed identity (IMDS)"
	sourceAppService = "managed identity (App Service)"
)

// ManagedIdentity is a Source of an Azure managed identity's tokens, from
// the platform's local endpoint: App Service's and Azure Functions' (when
// IDENTITY_ENDPOINT and IDENTITY_HEADER are set), else the instance
// metadata service of a VM, VM scale set or AKS node (IMDSEndpoint).
//
// Token's audience is the resource the token is for:
// https://outlook.office365.com for Exchange Online's IMAP and SMTP,
// https://graph.microsoft.com for Microsoft Graph, or AzureADTokenExchange
// for a token that an app registration trusts as a federated credential
// (a user-assigned identity only, named by its object ID as the subject).
// A trailing "/.default" is dropped. Each call asks the endpoint, which
// keeps its own cache; wrap it with Refresher and auth.NewSource to cache
// access tokens. Throttling, 5xx and the metadata service's 404 and 410
// ("updating") are retried with backoff, as Microsoft advises.
//
// Azure Arc, Service Fabric and Cloud Shell speak other protocols and are
// refused with a *provider.ConfigError naming them.
//
// The metadata address is refused in a test binary (go test): set
// Endpoint to a local double (providertest's IMDSEndpoint), or to
// IMDSEndpoint itself to mean it, so that a test never reaches a real one
// by accident.
type ManagedIdentity struct {
	// At most one of ClientID, ObjectID and ResourceID names a
	// user-assigned identity; all empty means the system-assigned
	// identity (or, on the metadata service, the only user-assigned one).
	ClientID   string // the identity's client (application) ID
	ObjectID   string // its object (principal) ID
	ResourceID string // its Azure resource ID: /subscriptions/.../userAssignedIdentities/NAME

	// Endpoint is a metadata-service token URL to use instead of the one
	// the environment points to. Plain http only to a loopback or
	// link-local address.
	Endpoint string
	// HTTPClient sends the requests; nil: a client without proxy (the
	// metadata service must not be reached through one).
	HTTPClient *http.Client
	// Clock spaces retries; nil: retry.System.
	Clock retry.Clock
	// Logger gets a debug line per retry; nil: none.
	Logger *slog.Logger
	// Getenv looks up IDENTITY_ENDPOINT and IDENTITY_HEADER; nil: os.Getenv.
	Getenv func(string) string
}

// miAnswer is both endpoints' success JSON. expires_in and expires_on are
// strings on the metadata service and App Service; numbers are accepted too.
type miAnswer struct {
	AccessToken string     `json:"access_token"`
	ExpiresIn   flexNumber `json:"expires_in"`
	ExpiresOn   flexNumber `json:"expires_on"`
	Resource    string     `json:"resource"`
	TokenType   string     `json:"token_type"`
}

// flexNumber is an integer sent as a JSON string or number; zero when
// absent or not an integer (App Service's 2017-09-01 API sent a date).
type flexNumber int64

func (n *flexNumber) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		*n = 0
		return nil
	}
	*n = flexNumber(v)
	return nil
}

// request is one managed-identity token request.
type request struct {
	source   string
	endpoint *url.URL
	header   func() (name, value string, err error)
	retry    func(status int) bool
	secret   func() string
}

// Token asks the endpoint for a token for audience.
func (m *ManagedIdentity) Token(ctx context.Context, audience string) (*oauth2.Token, error) {
	if m == nil {
		return nil, &provider.ConfigError{Package: "workload", Field: "ManagedIdentity", Reason: "no managed identity settings"}
	}
	resource := strings.TrimSuffix(strings.TrimSpace(audience), defaultScopeSuffix)
	if resource == "" {
		return nil, &provider.ConfigError{Package: "workload", Field: "audience",
			Reason: "a managed identity's token is for a resource: give one, such as https://outlook.office365.com"}
	}
	req, err := m.request(resource)
	if err != nil {
		return nil, err
	}
	build := func(ctx context.Context) (*http.Request, error) {
		name, value, err := req.header()
		if err != nil {
			return nil, err
		}
		r, err := http.NewRequestWithContext(ctx, http.MethodGet, req.endpoint.String(), nil)
		if err != nil {
			return nil, fmt.Errorf("workload: %s token request: %w", req.source, err)
		}
		r.Header.Set(name, value)
		r.Header.Set("Accept", "application/json")
		return r, nil
	}
	client := m.HTTPClient
	if client == nil {
		client = &http.Client{Transport: noProxy()}
	}
	endpoint := fetch.Redacted(req.endpoint)
	clock := retry.Or(m.Clock)
	ans, err := fetch.Do(ctx, client, build, fetch.Policy{Clock: clock, Logger: m.Logger, Retry: req.retry, Service: req.source})
	if err != nil {
		var cfg *provider.ConfigError
		if errors.As(err, &cfg) {
			return nil, err
		}
		return nil, unreachable(req.source, endpoint, err)
	}
	if ans.Status != http.StatusOK {
		return nil, answerError(req.source, endpoint, ans, req.secret())
	}
	var a miAnswer
	if ans.TooLarge || json.Unmarshal(ans.Body, &a) != nil || a.AccessToken == "" {
		return nil, &Error{Source: req.source, Reason: ReasonBadAnswer, Endpoint: endpoint, Status: ans.Status,
			Err: fmt.Errorf("no access_token in the answer")}
	}
	var expiry time.Time
	switch {
	case a.ExpiresOn > 0:
		expiry = time.Unix(int64(a.ExpiresOn), 0)
	case a.ExpiresIn > 0:
		expiry = clock.Now().Add(time.Duration(a.ExpiresIn) * time.Second)
	}
	tok := newToken(a.AccessToken, expiry)
	if tok.Expiry.IsZero() {
		return nil, &Error{Source: req.source, Reason: ReasonBadAnswer, Endpoint: endpoint, Status: ans.Status,
			Err: fmt.Errorf("the answer does not say when the token expires")}
	}
	return tok, nil
}

// noProxy is a transport that never uses a proxy (Microsoft does not
// support reaching the metadata service through one) and keeps no
// connection open: a token is asked for about once an hour.
func noProxy() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DisableKeepAlives = true
	return t
}

// request resolves the endpoint and the identity parameters.
func (m *ManagedIdentity) request(resource string) (*request, error) {
	named := 0
	for _, v := range []string{m.ClientID, m.ObjectID, m.ResourceID} {
		if v != "" {
			named++
		}
	}
	if named > 1 {
		return nil, &provider.ConfigError{Package: "workload", Field: "ManagedIdentity",
			Reason: "give only one of the identity's client ID, object ID and resource ID"}
	}
	get := lookup(m.Getenv)
	raw, appService := m.Endpoint, false
	if raw == "" {
		if host := unsupportedHost(get); host != "" {
			return nil, &provider.ConfigError{Package: "workload", Field: "ManagedIdentity",
				Reason: host + "'s managed identity endpoint is not supported: use a federated credential, or App Service or a VM's identity"}
		}
		if e, h := get(envIdentityEndpoint), get(envIdentityHeader); e != "" && h != "" {
			raw, appService = e, true
		} else {
			if testing.Testing() {
				return nil, &provider.ConfigError{Package: "workload", Field: "ManagedIdentity.Endpoint",
					Reason: "a test must not reach the instance metadata service: point the managed identity's endpoint at a local double, or name the metadata address itself"}
			}
			raw = IMDSEndpoint
		}
	}
	u, err := fetch.CheckURL(raw)
	if err != nil {
		return nil, &provider.ConfigError{Package: "workload", Field: "ManagedIdentity.Endpoint", Reason: err.Error()}
	}
	q := u.Query()
	q.Set("resource", resource)
	r := &request{endpoint: u, secret: func() string { return "" }}
	if appService {
		r.source = sourceAppService
		q.Set("api-version", appServiceAPIVersion)
		setIdentity(q, m, "client_id", "principal_id", "mi_res_id")
		// The platform rotates the header's value: read it for every request.
		r.header = func() (string, string, error) {
			h := get(envIdentityHeader)
			if h == "" {
				return "", "", &provider.ConfigError{Package: "workload", Field: envIdentityHeader, Reason: envIdentityHeader + " is no longer set"}
			}
			return appServiceHeader, h, nil
		}
		r.secret = func() string { return get(envIdentityHeader) }
		r.retry = func(status int) bool { return status == http.StatusTooManyRequests || status >= 500 }
	} else {
		r.source = sourceIMDS
		q.Set("api-version", imdsAPIVersion)
		setIdentity(q, m, "client_id", "object_id", "msi_res_id")
		r.header = func() (string, string, error) { return "Metadata", "true", nil }
		r.retry = imdsRetry
	}
	u.RawQuery = q.Encode()
	return r, nil
}

// unsupportedHost names the Azure host the variables point to when it is
// one whose endpoint speaks another protocol; "" otherwise.
func unsupportedHost(get func(string) string) string {
	endpoint, header := get(envIdentityEndpoint), get(envIdentityHeader)
	switch {
	case endpoint != "" && header != "" && get(envServiceFabricThumbprint) != "":
		return "Service Fabric"
	case endpoint != "" && header == "" && get(envArcIMDSEndpoint) != "":
		return "Azure Arc"
	case endpoint == "" && get(envCloudShellEndpoint) != "":
		return "Cloud Shell"
	}
	return ""
}

// setIdentity names the user-assigned identity with the endpoint's
// parameter names.
func setIdentity(q url.Values, m *ManagedIdentity, clientID, objectID, resourceID string) {
	switch {
	case m.ClientID != "":
		q.Set(clientID, m.ClientID)
	case m.ObjectID != "":
		q.Set(objectID, m.ObjectID)
	case m.ResourceID != "":
		q.Set(resourceID, m.ResourceID)
	}
}

// imdsRetry is the metadata service's retry advice: 404 and 410 while it
// updates, 429 and 5xx
// (https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token#error-handling).
func imdsRetry(status int) bool {
	return status == http.StatusNotFound || status == http.StatusGone || status == http.StatusTooManyRequests || status >= 500
}
