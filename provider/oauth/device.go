package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"
)

// Device authorization grant (RFC 8628) numbers.
const (
	// defaultDeviceInterval is the polling interval when the server names
	// none (RFC 8628 section 3.2).
	defaultDeviceInterval = 5 * time.Second
	// defaultDeviceExpiry is the device code's lifetime when the server
	// names none (Entra's is 15 minutes).
	defaultDeviceExpiry = 15 * time.Minute
	// deviceSlowDownStep is what slow_down adds to the interval, for that
	// poll and every later one (RFC 8628 section 3.5).
	deviceSlowDownStep = 5 * time.Second
	deviceSlowDown     = "slow_down"
)

// DeviceAuthorization is the answer to a device authorization request
// (RFC 8628 section 3.2).
type DeviceAuthorization struct {
	DeviceCode      string
	UserCode        string
	VerificationURI string // Google spells it verification_url; either is read
	// VerificationURIComplete embeds the user code, for a QR code; empty
	// when the server sends none.
	VerificationURIComplete string
	Message                 string        // Entra's ready sentence; empty elsewhere
	ExpiresIn               time.Duration // 15 minutes when the server named none
	// Expiry is when the device code expires on the wall clock (time.Now,
	// which x/oauth2's polling counts on).
	Expiry time.Time
	// Interval is the time between two polls: 5 seconds when the server
	// named none; DeviceAccessToken adds to it on slow_down.
	Interval time.Duration
}

// DeviceAuth posts a device authorization request for scopes to deviceURL
// through oauth2.Config.DeviceAuth, with the client's credential when it
// has one (RFC 8628 section 3.1), and returns the answer. Errors are typed
// as the grants'; an expires_in or interval that is not a plausible number
// of seconds is a *ResponseError.
func (c *Client) DeviceAuth(ctx context.Context, deviceURL string, scopes []string) (*DeviceAuthorization, error) {
	if c == nil || deviceURL == "" {
		return nil, fmt.Errorf("oauth: device authorization endpoint URL is empty")
	}
	conf := c.config("", scopes)
	conf.Endpoint.DeviceAuthURL = deviceURL
	x := c.newExchange(ctx, DeviceAuthorizationRequest, deviceURL)
	start := time.Now()
	_, xerr := conf.DeviceAuth(x.context())
	a, err := x.outcome(xerr)
	if err != nil {
		return nil, err
	}
	if a.oversized() || !a.ok() || errorCode(a) != "" {
		return nil, x.refusal(a, xerr)
	}
	// The answer is read here, whatever x/oauth2 made of it: its
	// DeviceAuthResponse has no message, counts the expiry with time.Now
	// and refuses a quoted expires_in, which Google's examples show.
	da, reason := readDeviceAuthorization(a.body, start, x.scrubber())
	if reason != "" {
		return nil, x.unusable(a, reason, nil)
	}
	return da, nil
}

func readDeviceAuthorization(body []byte, start time.Time, sc scrubber) (*DeviceAuthorization, string) {
	var dj struct {
		DeviceCode              string          `json:"device_code"`
		UserCode                string          `json:"user_code"`
		VerificationURI         string          `json:"verification_uri"`
		VerificationURL         string          `json:"verification_url"`
		VerificationURIComplete string          `json:"verification_uri_complete"`
		ExpiresIn               json.RawMessage `json:"expires_in"`
		Interval                json.RawMessage `json:"interval"`
		Message                 string          `json:"message"`
	}
	if err := json.Unmarshal(body, &dj); err != nil {
		return nil, "device authorization answer is not a JSON object: " + jsonErrorReason(err)
	}
	if dj.DeviceCode == "" || dj.UserCode == "" || (dj.VerificationURI == "" && dj.VerificationURL == "") {
		return nil, "device authorization answer lacks device_code, user_code or verification_uri"
	}
	expiresIn, err := parseSeconds("expires_in", dj.ExpiresIn, sc)
	if err != nil {
		return nil, err.Error()
	}
	interval, err := parseSeconds("interval", dj.Interval, sc)
	if err != nil {
		return nil, err.Error()
	}
	da := &DeviceAuthorization{
		DeviceCode:              dj.DeviceCode,
		UserCode:                dj.UserCode,
		VerificationURI:         dj.VerificationURI,
		VerificationURIComplete: dj.VerificationURIComplete,
		Message:                 dj.Message,
		ExpiresIn:               time.Duration(expiresIn) * time.Second,
		Interval:                time.Duration(interval) * time.Second,
	}
	if da.VerificationURI == "" {
		da.VerificationURI = dj.VerificationURL
	}
	if da.ExpiresIn == 0 {
		da.ExpiresIn = defaultDeviceExpiry
	}
	if da.Interval == 0 {
		da.Interval = defaultDeviceInterval
	}
	da.Expiry = start.Add(da.ExpiresIn)
	return da, ""
}

// DeviceAccessToken polls the token endpoint with da's device code through
// oauth2.Config.DeviceAccessToken (RFC 8628 section 3.4), with the
// client's credential when it has one. Polling is paced by x/oauth2 on the
// wall clock: it waits da.Interval (in whole seconds) before each poll and
// goes on while the answer is authorization_pending or slow_down, which
// adds 5 seconds to the interval, also in da for the next call. It stops
// at da.Expiry.
//
// It returns the token, or the typed error of the answer that ended the
// polling (expired_token, access_denied, a 503, an unusable answer...); a
// failure to reach the endpoint is a *NetworkError; polling cut short by
// da.Expiry or ctx returns an error wrapping the context's error.
func (c *Client) DeviceAccessToken(ctx context.Context, da *DeviceAuthorization) (*oauth2.Token, error) {
	if c == nil || c.TokenURL == "" {
		return nil, fmt.Errorf("oauth: token endpoint URL is empty")
	}
	if da == nil || da.DeviceCode == "" {
		return nil, fmt.Errorf("oauth: device code polling: no device code")
	}
	x := c.newExchange(ctx, GrantDeviceCode, c.TokenURL)
	xda := &oauth2.DeviceAuthResponse{
		DeviceCode: da.DeviceCode,
		Expiry:     da.Expiry,
		Interval:   int64((da.Interval + time.Second - 1) / time.Second),
	}
	tok, xerr := c.config("", nil).DeviceAccessToken(x.context(), xda)
	x.mu.Lock()
	da.Interval += time.Duration(x.slowDowns) * deviceSlowDownStep
	netErr := x.netErr
	x.mu.Unlock()
	if netErr == nil && (errors.Is(xerr, context.DeadlineExceeded) || errors.Is(xerr, context.Canceled)) {
		// Between two polls x/oauth2 hands back the context's error.
		return nil, fmt.Errorf("oauth: device code polling stopped: %w", xerr)
	}
	return x.token(tok, xerr)
}

// String names the device authorization without its device code, a
// secret.
func (da *DeviceAuthorization) String() string {
	return fmt.Sprintf("oauth.DeviceAuthorization{UserCode: %q, VerificationURI: %q, ExpiresIn: %s}",
		da.UserCode, da.VerificationURI, da.ExpiresIn)
}

// GoString is String, so that %#v hides the device code too.
func (da *DeviceAuthorization) GoString() string { return da.String() }
