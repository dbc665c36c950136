package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/mailoauth/mailoauth/internal/loopback"
	"github.com/mailoauth/mailoauth/provider"
)

// Where an issuer publishes its metadata: appended to the issuer URL
// (OpenID Connect Discovery 1.0 section 4), or inserted between its host
// and its path (RFC 8414 section 3.1).
const (
	openIDConfigurationPath = "/.well-known/openid-configuration"
	oauthServerPath         = "/.well-known/oauth-authorization-server"
)

// maxMetadata is the largest metadata document read, in bytes.
const maxMetadata = 1 << 20

// Metadata is what an authorization server says of itself (RFC 8414
// section 2; OpenID Connect Discovery 1.0 section 3): its issuer, its
// endpoints and what they accept. Discover reads it; a program may also
// fill it in by hand for a server without discovery.
type Metadata struct {
	// Issuer is the server's issuer identifier, the iss of its answers.
	Issuer string `json:"issuer"`
	// AuthorizationEndpoint is where a browser signs in (the authorization
	// code flow).
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	// TokenEndpoint takes every grant. Required.
	TokenEndpoint string `json:"token_endpoint"`
	// DeviceAuthorizationEndpoint starts the device flow (RFC 8628
	// section 4).
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint"`
	// TokenEndpointAuthMethods are the client authentication methods the
	// server accepts; empty means client_secret_basic only (RFC 8414
	// section 2).
	TokenEndpointAuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	// TokenEndpointAuthSigningAlgs are the algorithms it accepts for a
	// client assertion (private_key_jwt).
	TokenEndpointAuthSigningAlgs []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	// ScopesSupported lists scopes the server knows; a delegated flow asks
	// for offline_access when it is among them.
	ScopesSupported []string `json:"scopes_supported"`
	// IssParameterSupported: the server adds iss to every authorization
	// response (RFC 9207 section 3), so a callback without it is refused.
	IssParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
}

// Discover reads the metadata of the authorization server whose issuer
// identifier is issuer: from issuer + /.well-known/openid-configuration,
// and when that is not found, from the RFC 8414 location. The issuer the
// document names must be issuer exactly, or it is refused (RFC 8414
// section 3.3, OpenID Connect Discovery section 4.3): a document that
// names another server could send tokens and secrets there.
//
// httpClient carries the requests; nil: http.DefaultClient. The result is
// the caller's to keep: set it as Config.Metadata to share one discovery
// among many mailboxes.
func Discover(ctx context.Context, issuer string, httpClient *http.Client) (*Metadata, error) {
	if err := checkServerURL("Issuer", "issuer URL", issuer); err != nil {
		return nil, err
	}
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	var last error
	for _, where := range discoveryURLs(issuer) {
		md, err := fetchMetadata(ctx, httpClient, where)
		if err == nil {
			if err := md.check(issuer); err != nil {
				return nil, err
			}
			return md, nil
		}
		var de *DiscoveryError
		if !errors.As(err, &de) || de.StatusCode < 400 || de.StatusCode >= 500 {
			return nil, err // a network failure, a failing server or a broken document: no second guess
		}
		last = err
	}
	return nil, last
}

// discoveryURLs are the places issuer's metadata may be, in the order
// tried.
func discoveryURLs(issuer string) []string {
	u, _ := url.Parse(issuer) // checked by checkServerURL
	path := strings.TrimSuffix(u.Path, "/")
	oidc := *u
	oidc.Path = path + openIDConfigurationPath
	rfc := *u
	rfc.Path = oauthServerPath + path
	if rfc.Path == oidc.Path {
		return []string{oidc.String()}
	}
	return []string{oidc.String(), rfc.String()}
}

// DiscoveryError is an answer to a metadata request that is not a
// metadata document: a 404, a 5xx, an HTML page. Diagnose explains it
// (a 5xx or 429 as Transient).
type DiscoveryError struct {
	URL        string
	StatusCode int
	Reason     string
}

func (e *DiscoveryError) Error() string {
	return fmt.Sprintf("oidc: discovery: %s answered HTTP %d: %s", e.URL, e.StatusCode, e.Reason)
}

// Reply returns the answer for provider.Diagnose.
func (e *DiscoveryError) Reply() provider.Reply {
	return provider.Reply{Layer: provider.LayerOAuth, Code: e.StatusCode, Unusable: true}
}

func fetchMetadata(ctx context.Context, hc *http.Client, where string) (*Metadata, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, where, nil)
	if err != nil {
		return nil, fmt.Errorf("oidc: discovery: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("oidc: discovery at %s: %w", where, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadata+1))
	if err != nil {
		return nil, fmt.Errorf("oidc: discovery at %s: %w", where, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &DiscoveryError{URL: where, StatusCode: resp.StatusCode, Reason: "no metadata document here"}
	}
	if len(body) > maxMetadata {
		return nil, &DiscoveryError{URL: where, StatusCode: resp.StatusCode, Reason: fmt.Sprintf("the document is larger than %d bytes", maxMetadata)}
	}
	var md Metadata
	if err := json.Unmarshal(body, &md); err != nil {
		return nil, &DiscoveryError{URL: where, StatusCode: resp.StatusCode, Reason: "the document is not a JSON object of metadata"}
	}
	return &md, nil
}

// check refuses metadata that names another issuer than the one asked
// for, lacks a token endpoint, or would send a secret in clear.
func (md *Metadata) check(issuer string) error {
	if md.Issuer != issuer {
		return &provider.ConfigError{Package: "oidc", Field: "Issuer", Reason: fmt.Sprintf(
			"the identity provider at %s names itself %q, not %q: the issuer URL must be the issuer exactly as the identity provider names it (the \"issuer\" of its discovery document), no more and no less, or its answers are not trusted",
			truncate(issuer, 120), truncate(md.Issuer, 120), truncate(issuer, 120))}
	}
	return md.checkEndpoints()
}

// checkEndpoints checks the endpoints md names.
func (md *Metadata) checkEndpoints() error {
	if md.TokenEndpoint == "" {
		return &provider.ConfigError{Package: "oidc", Field: "Metadata.TokenEndpoint", Reason: "the identity provider names no token endpoint (token_endpoint): give its token URL"}
	}
	for _, ep := range []struct{ field, name, url string }{
		{"Metadata.TokenEndpoint", "token endpoint", md.TokenEndpoint},
		{"Metadata.AuthorizationEndpoint", "authorization endpoint", md.AuthorizationEndpoint},
		{"Metadata.DeviceAuthorizationEndpoint", "device authorization endpoint", md.DeviceAuthorizationEndpoint},
	} {
		if ep.url == "" {
			continue
		}
		if err := checkServerURL(ep.field, ep.name, ep.url); err != nil {
			return err
		}
	}
	return nil
}

// checkServerURL accepts an absolute https URL without query or fragment,
// or plain http to a loopback address: a secret or token never travels in
// clear over a network.
func checkServerURL(field, name, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return &provider.ConfigError{Package: "oidc", Field: field, Reason: fmt.Sprintf("the %s %q is not an https URL without query or fragment", name, truncate(s, 120))}
	}
	if u.Scheme == "http" && !loopback.Host(u.Hostname()) {
		return &provider.ConfigError{Package: "oidc", Field: field, Reason: fmt.Sprintf("the %s %q uses plain http, which is allowed only to a loopback address: secrets and tokens would travel in clear", name, truncate(s, 120))}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
