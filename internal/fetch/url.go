package fetch

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// CheckURL parses an endpoint URL and refuses what a token must not travel
// over: a scheme other than https, except plain http to a loopback or
// link-local host (the instance metadata address, App Service's local
// endpoint, a test server), and URLs with user information. The error
// shows the URL without its query.
func CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("the endpoint is not an absolute URL")
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s: user information is not allowed in the URL", Redacted(u))
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return u, nil
	case "http":
		if local(u.Hostname()) {
			return u, nil
		}
		return nil, fmt.Errorf("%s: %w", Redacted(u), ErrInsecure)
	}
	return nil, fmt.Errorf("%s: scheme %q is not https", Redacted(u), cut(u.Scheme))
}

// local reports whether host is loopback ("localhost" included) or
// link-local, where plain HTTP does not leave the machine.
func local(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsLinkLocalUnicast())
}

// cut shortens s for an error message.
func cut(s string) string {
	const max = 120
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
